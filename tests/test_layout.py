"""synckit/layout.py: the prompt data files are read one way and refused with a message that names the
problem, and the file names are the handout's (written out here by hand, not computed)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from configs.ambiguous_image_config import load_ambiguous_image_config
from synckit.layout import (AMBIGUOUS_APP, APPS, PROMPT_FIELDS, RUNS, WIDE_APP, PromptFileError, anagram_name, crop_name, data_file,
                            eval_score, expected_images, gif_name, image_name, prompt_key, read_prompts,
                            side_by_side_name)

REPO = Path(__file__).resolve().parent.parent
WIDE_ENTRY = {"prompt": "a city", "eval_pos": [0, 512]}
PAIR_ENTRY = {"canonical_prompt": "a duck", "instance_prompt": "a rabbit"}


def error_of(app, path) -> str:
    with pytest.raises(PromptFileError) as raised:
        read_prompts(app, path)
    assert isinstance(raised.value, ValueError)  # callers that catch ValueError keep working
    return str(raised.value)


def written(tmp_path, content) -> Path:
    path = tmp_path / "prompts.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --------------------------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("app, content, problem", [
    (WIDE_APP, "{not json", "is not valid JSON"),
    (WIDE_APP, b'{"x": "\xff"}', "is not valid JSON"),  # not UTF-8
    (WIDE_APP, {}, "must be a non-empty JSON object"),
    (AMBIGUOUS_APP, [PAIR_ENTRY], "must be a non-empty JSON object"),
    (WIDE_APP, {"x": "a city"}, "entry 'x' is not a JSON object"),
    (WIDE_APP, {"x": {"eval_pos": [0]}}, """entry 'x' has no "prompt\""""),
    (WIDE_APP, {"x": {"prompt": "   ", "eval_pos": [0]}}, """entry 'x' has an empty or non-text "prompt\""""),
    (WIDE_APP, {"x": {"prompt": 3, "eval_pos": [0]}}, """entry 'x' has an empty or non-text "prompt\""""),
    (WIDE_APP, {"x": {"prompt": "a city"}}, """entry 'x' has an "eval_pos" that is not"""),
    (WIDE_APP, {"x": {"prompt": "a city", "eval_pos": []}}, """entry 'x' has an "eval_pos" that is not"""),
    (WIDE_APP, {"x": {"prompt": "a city", "eval_pos": ["243"]}}, """entry 'x' has an "eval_pos" that is not"""),
    (WIDE_APP, {"x": {"prompt": "a city", "eval_pos": [24.5]}}, """entry 'x' has an "eval_pos" that is not"""),
    (WIDE_APP, {"x": {"prompt": "a city", "eval_pos": [True]}}, """entry 'x' has an "eval_pos" that is not"""),
    (WIDE_APP, {"x": {"prompt": "a city", "eval_pos": 243}}, """entry 'x' has an "eval_pos" that is not"""),
    (WIDE_APP, {"good": WIDE_ENTRY, "bad": {"prompt": ""}}, "entry 'bad'"),  # the first bad entry, by name
    (AMBIGUOUS_APP, {"x": {"canonical_prompt": "a duck"}}, """entry 'x' has no "instance_prompt\""""),
    (AMBIGUOUS_APP, {"x": {**PAIR_ENTRY, "canonical_prompt": ""}}, """entry 'x' has an empty or non-text "canonical_prompt\""""),
    (WIDE_APP, {"x": PAIR_ENTRY}, "entry 'x' has ambiguous_image's fields (is this ambiguous_image_prompts.json?)"),
    (AMBIGUOUS_APP, {"x": WIDE_ENTRY}, "entry 'x' has wide_image's fields (is this wide_image_prompts.json?)"),
])
def test_a_bad_data_file_is_refused_naming_the_file_and_the_problem(tmp_path, app, content, problem):
    path = written(tmp_path, content)
    message = error_of(app, path)
    assert str(path) in message and problem in message and "\n" not in message
    assert f"data/{app}_prompts.json" in message  # what to compare with, or to go back to


def test_a_missing_data_file_says_which_and_what_to_do(tmp_path):
    message = error_of(WIDE_APP, tmp_path / "nowhere.json")
    assert f"{tmp_path / 'nowhere.json'} does not exist" in message
    assert "--prompts_file" in message and "data/wide_image_prompts.json" in message


def test_a_wrong_entry_says_what_an_entry_looks_like(tmp_path):
    message = error_of(WIDE_APP, written(tmp_path, {"x": {"prompt": "a city"}}))
    assert '{"prompt": text, "eval_pos": [x offsets in px]}' in message
    message = error_of(AMBIGUOUS_APP, written(tmp_path, {"x": {"prompt": "a city"}}))
    assert '{"canonical_prompt": text, "instance_prompt": text}' in message


def test_an_unknown_app_is_refused():
    with pytest.raises(PromptFileError, match="unknown app 'wide_images'; use one of wide_image, ambiguous_image"):
        read_prompts("wide_images")


def test_good_files_read_in_file_order_with_extra_fields_kept(tmp_path):
    entries = {"b": {**WIDE_ENTRY, "note": "ignored"}, "a": {"prompt": "a town", "eval_pos": [7]}}
    assert list(read_prompts(WIDE_APP, written(tmp_path, entries)).items()) == list(entries.items())
    assert read_prompts(AMBIGUOUS_APP, str(written(tmp_path, {"p": PAIR_ENTRY}))) == {"p": PAIR_ENTRY}


def test_the_data_file_of_each_app():
    assert data_file(WIDE_APP) == REPO / "data" / "wide_image_prompts.json"
    assert data_file(AMBIGUOUS_APP, Path("/course/data")) == Path("/course/data/ambiguous_image_prompts.json")
    assert data_file(WIDE_APP, toy=True) == REPO / "data" / "toy_wide_image_prompts.json"
    assert data_file(AMBIGUOUS_APP, Path("/course/data"), toy=True) == Path("/course/data/toy_ambiguous_image_prompts.json")


def test_a_broken_toy_file_is_compared_with_the_toy_file(tmp_path):
    (tmp_path / "toy_wide_image_prompts.json").write_text("{not json")
    message = error_of(WIDE_APP, tmp_path / "toy_wide_image_prompts.json")
    assert "data/toy_wide_image_prompts.json" in message


# --------------------------------------------------------------------------------------------
# the course's data files and the names the handout asks for
# --------------------------------------------------------------------------------------------

def test_the_course_data_files_read_and_are_the_files_in_data():
    wide, pairs = read_prompts(WIDE_APP), read_prompts(AMBIGUOUS_APP)
    assert wide == json.loads((REPO / "data" / "wide_image_prompts.json").read_text())
    assert pairs == json.loads((REPO / "data" / "ambiguous_image_prompts.json").read_text())
    assert len(wide) == len(pairs) == 10


def test_a_wide_prompt_gives_its_panorama_and_one_crop_per_eval_pos():
    beach = "A_beach_scene_at_sunrise_with_golden_sands"
    entry = read_prompts(WIDE_APP)[beach]
    assert expected_images(WIDE_APP, {beach: entry}) == [
        "A_beach_scene_at_sunrise_with_golden_sands.png",
        "A_beach_scene_at_sunrise_with_golden_sands_243.png",
        "A_beach_scene_at_sunrise_with_golden_sands_991.png",
        "A_beach_scene_at_sunrise_with_golden_sands_1005.png",
        "A_beach_scene_at_sunrise_with_golden_sands_1199.png",
        "A_beach_scene_at_sunrise_with_golden_sands_1669.png",
        "A_beach_scene_at_sunrise_with_golden_sands_2220.png",
        "A_beach_scene_at_sunrise_with_golden_sands_2292.png",
        "A_beach_scene_at_sunrise_with_golden_sands_2300.png",
    ]
    assert len(expected_images(WIDE_APP, read_prompts(WIDE_APP))) == 10 * 9


def test_an_anagram_gives_one_image_per_view_canonical_first():
    name = "an_oil_painting_of_a_snowy_mountain_village-an_oil_painting_of_a_horse"
    entry = read_prompts(AMBIGUOUS_APP)[name]
    assert expected_images(AMBIGUOUS_APP, {name: entry}) == [
        "an_oil_painting_of_a_snowy_mountain_village.png", "an_oil_painting_of_a_horse.png",
    ]
    assert anagram_name(["an oil painting of a snowy mountain village", "an oil painting of a horse"]) == name
    assert side_by_side_name(name) == f"{name}_side_by_side.png" and gif_name(name) == f"{name}.gif"
    assert len(expected_images(AMBIGUOUS_APP, read_prompts(AMBIGUOUS_APP))) == 10 * 2


@pytest.mark.parametrize("app", APPS)
def test_the_toy_files_have_the_course_files_form(app):
    # the same fields, keys named as main.py names its jobs; the toy captions themselves: tests/test_toyworld.py
    course, toy = read_prompts(app), read_prompts(app, data_file(app, toy=True))
    assert {tuple(sorted(entry)) for entry in toy.values()} == {tuple(sorted(entry)) for entry in course.values()}
    for key, entry in toy.items():
        texts = [entry[field] for field in PROMPT_FIELDS[app]]
        assert key == (prompt_key(texts[0]) if app == WIDE_APP else anagram_name(texts))
    names = expected_images(app, toy)
    assert len(names) == len(set(names))  # no image of one prompt overwrites another's


def test_the_toy_eval_pos_are_course_pixels_that_fall_on_whole_tiny_pixels():
    # eval_pos are x offsets for 512-px windows (configs/wide_image_config.py: EVAL_POS_WINDOW, check_eval_pos);
    # a --tiny run (64-px windows on a 384-px panorama) crops at pos * 64 // 512
    from configs.wide_image_config import EVAL_POS_WINDOW, TINY_DEFAULTS

    scale = EVAL_POS_WINDOW // TINY_DEFAULTS["rgb_instance_size"]
    widest = TINY_DEFAULTS["panorama_width"] * scale - EVAL_POS_WINDOW
    for entry in read_prompts(WIDE_APP, data_file(WIDE_APP, toy=True)).values():
        positions = entry["eval_pos"]
        assert len(positions) == len(set(positions)) == 8
        assert all(0 <= pos <= widest and pos % scale == 0 for pos in positions), positions


def test_the_course_keys_are_the_names_main_py_gives():
    # main.py --all_prompts names a job by its data-file key; a single run names it from its prompts
    assert all(key == prompt_key(entry["prompt"]) for key, entry in read_prompts(WIDE_APP).items())
    assert all(key == anagram_name([entry["canonical_prompt"], entry["instance_prompt"]])
               for key, entry in read_prompts(AMBIGUOUS_APP).items())


@pytest.mark.parametrize("prompt, key", [
    ("A photo of a mountain range", "A_photo_of_a_mountain_range"),  # case kept
    ("  a horse ", "a_horse"),  # outer spaces dropped
    ("a photo of the queen of England", "a_photo_of_the_queen_of_England"),
    ("a  horse", "a__horse"),  # each space is an underscore, none merged
    ("a dog, running", "a_dog,_running"),  # nothing but spaces changes
    ("an_oil_painting", "an_oil_painting"),
])
def test_prompt_key_turns_spaces_into_underscores_and_nothing_else(prompt, key):
    assert prompt_key(prompt) == key
    assert image_name(prompt) == f"{key}.png" and crop_name(prompt, 243) == f"{key}_243.png"


# --------------------------------------------------------------------------------------------
# Task 3, eval.json, and what the module may import
# --------------------------------------------------------------------------------------------

def test_the_submission_folders_and_their_runs():
    assert RUNS == {
        "wide_images": ("wide_image", ()),
        "ambiguous_images": ("ambiguous_image", ()),
        "task3/eps": ("ambiguous_image", ("--views_names", "identity", "inner_rotate", "--sync_target", "eps")),
        "task3/x0": ("ambiguous_image", ("--views_names", "identity", "inner_rotate", "--sync_target", "x0")),
        "task3/xt": ("ambiguous_image", ("--views_names", "identity", "inner_rotate", "--sync_target", "xt")),
    }
    assert APPS == ("wide_image", "ambiguous_image")


@pytest.mark.parametrize("case", ["eps", "x0", "xt"])
def test_main_py_accepts_each_task3_run(case):
    app, flags = RUNS[f"task3/{case}"]
    config = load_ambiguous_image_config(["--all_prompts", *flags])
    assert config.app == app and config.views_names == ("identity", "inner_rotate") and config.sync_target == case


@pytest.mark.parametrize("content, expected", [
    (None, (None, "is missing")),
    ('{"score": 0.29}', (0.29, "")),
    ('{"score": 1}', (1.0, "")),
    ("{not json", (None, "is not a JSON object; rerun eval.py")),
    ("[0.3]", (None, "is not a JSON object; rerun eval.py")),
    ('{"clip": 0.3}', (None, 'has no numeric "score"; rerun eval.py')),
    ('{"score": "0.3"}', (None, 'has no numeric "score"; rerun eval.py')),
    ('{"score": true}', (None, 'has no numeric "score"; rerun eval.py')),
    ('{"score": NaN}', (None, 'has no numeric "score"; rerun eval.py')),
])
def test_eval_score(tmp_path, content, expected):
    if content is not None:
        (tmp_path / "eval.json").write_text(content)
    assert eval_score(tmp_path / "eval.json") == expected


def test_the_layout_imports_only_the_standard_library():
    # it ships to students and `python -m grading collect` imports it: no torch, no instructor code
    probe = ("import sys; before = set(sys.modules); import synckit.layout; "
             "print(sorted({name.split('.')[0] for name in set(sys.modules) - before}))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    imported = set(json.loads(done.stdout.replace("'", '"')))
    assert "synckit" in imported and imported - {"synckit"} <= set(sys.stdlib_module_names), imported
