"""The submission checklist: every item of the handout's list is found, or named with what is missing."""

import json
import shutil
from pathlib import Path

import pytest
from fake_submission import DATA_DIR, write_code
from submissions import add_placeholder_outputs

from grading.checklist import ITEMS, ambiguous_image_names, check_submission, format_checklist, wide_image_names
from synckit.layout import WALKTHROUGH_NOTEBOOKS, PromptFileError

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def by_id(results):
    return {result.id: result for result in results}


def write_submission(root, task3_cases=("eps", "x0", "xt")):
    """Code, report, every image folder and the notebooks, with the expected names worked out independently of
    checklist.py."""
    add_placeholder_outputs(write_code(root), DATA_DIR)
    (root / "walkthroughs").mkdir()
    for name in ("task0_schedules_and_ddim", "task1_wide_image", "task2_views_and_anagrams", "task3_sync_targets"):
        (root / "walkthroughs" / f"{name}.ipynb").write_text(NOTEBOOK)
    for case in {"eps", "x0", "xt"} - set(task3_cases):
        shutil.rmtree(root / "task3" / case)
    if not task3_cases:
        (root / "task3").rmdir()
    return root


@pytest.fixture
def complete(tmp_path):
    return write_submission(tmp_path / "submission")


def test_expected_names_follow_the_handout():
    wide, ambiguous = wide_image_names(DATA_DIR), ambiguous_image_names(DATA_DIR)
    # the handout's own examples
    assert "A_beach_scene_at_sunrise_with_golden_sands.png" in wide
    assert "A_beach_scene_at_sunrise_with_golden_sands_243.png" in wide
    assert "an_oil_painting_of_a_horse.png" in ambiguous and "an_oil_painting_of_a_snowy_mountain_village.png" in ambiguous
    assert len(wide) == 10 * 9 and len(ambiguous) == 10 * 2


def test_a_complete_submission_has_every_item(complete):
    results = check_submission(complete, DATA_DIR)
    assert [result.id for result in results] == [item.id for item in ITEMS]
    assert all(result.present and not result.missing and result.detail == "" for result in results)


def test_a_submission_made_on_the_tiny_models_is_checked_against_the_toy_prompts(tmp_path):
    root = write_code(tmp_path / "s")
    add_placeholder_outputs(root, DATA_DIR, toy=True)
    toy = by_id(check_submission(root, DATA_DIR, toy=True))
    assert all(toy[f"task{number}.images"].present for number in (1, 2, 3))
    course = by_id(check_submission(root, DATA_DIR))
    assert not any(course[f"task{number}.images"].present for number in (1, 2, 3))
    assert "snowy_mountains_under_an_orange_sky_with_a_sun.png" in wide_image_names(DATA_DIR, toy=True)


def test_without_task3_its_items_are_not_attempted_rather_than_missing(tmp_path):
    results = by_id(check_submission(write_submission(tmp_path / "s", task3_cases=()), DATA_DIR))
    for item_id in ("task3.eval", "task3.images"):
        assert not results[item_id].attempted and not results[item_id].missing and "not attempted" in results[item_id].detail
    assert sum(result.missing for result in results.values()) == 0
    lines = format_checklist(results.values()).splitlines()
    assert [line[:8] for line in lines if "Task 3" in line] == ["- Task 3", "- Task 3"]


def test_a_partial_task3_counts_its_missing_case(tmp_path):
    results = by_id(check_submission(write_submission(tmp_path / "s", task3_cases=("eps", "x0")), DATA_DIR))
    assert results["task3.eval"].missing and "task3/xt/eval.json is missing" in results["task3.eval"].detail
    assert results["task3.images"].missing and "no task3/xt/ folder" in results["task3.images"].detail


@pytest.mark.parametrize("content, reason", [
    (None, "is missing"),
    ("{not json", "not a JSON object"),
    ("[0.3]", "not a JSON object"),
    ('{"clip": 0.3}', 'no numeric "score"'),
    ('{"score": "0.3"}', 'no numeric "score"'),
    ('{"score": true}', 'no numeric "score"'),
])
def test_eval_json_counts_only_with_a_numeric_score(complete, content, reason):
    path = complete / "wide_images" / "eval.json"
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    result = by_id(check_submission(complete, DATA_DIR))["task1.eval"]
    assert result.missing and result.detail.startswith("wide_images/eval.json") and reason in result.detail


def test_missing_images_are_named_up_to_a_few(complete):
    crops = sorted((complete / "wide_images").glob("A_beach_scene_at_sunrise_with_golden_sands_*.png"))
    for path in crops[:6]:
        path.unlink()
    (complete / "ambiguous_images" / "a_photo_of_a_duck.png").write_bytes(b"")  # not a PNG: does not count
    results = by_id(check_submission(complete, DATA_DIR))
    detail = results["task1.images"].detail
    assert results["task1.images"].missing and "6 of 90" in detail and detail.endswith("and 2 more")
    assert crops[0].name in detail
    assert results["task2.images"].missing and "a_photo_of_a_duck.png" in results["task2.images"].detail
    assert [r.id for r in results.values() if r.missing] == ["task1.images", "task2.images"]


def test_the_report_must_be_exactly_one_real_pdf(complete):
    (complete / "report.pdf").unlink()
    assert "no .pdf report" in by_id(check_submission(complete, DATA_DIR))["pdf"].detail
    (complete / "report.PDF").write_bytes(b"PK\x03\x04 a renamed docx")
    assert "is not a PDF file" in by_id(check_submission(complete, DATA_DIR))["pdf"].detail
    (complete / "copy.pdf").write_bytes(b"%PDF-1.4\n")
    assert "keep exactly one" in by_id(check_submission(complete, DATA_DIR))["pdf"].detail


def test_missing_code_is_named(complete):
    (complete / "eval.py").unlink()
    (complete / "synckit" / "__init__.py").unlink()
    (complete / "synckit").rmdir()
    result = by_id(check_submission(complete, DATA_DIR))["code"]
    assert result.missing and result.detail == "missing synckit/, eval.py"


def test_format_marks_each_item(complete):
    (complete / "ambiguous_images" / "eval.json").write_text(json.dumps({"score": None}))
    lines = format_checklist(check_submission(complete, DATA_DIR)).splitlines()
    assert len(lines) == len(ITEMS)
    assert lines[0] == "✓ Code"
    assert lines[4].startswith("✗ Task 2: CLIP score") and "ambiguous_images/eval.json" in lines[4]


def test_unreadable_data_files_are_refused(complete, tmp_path):
    with pytest.raises(PromptFileError, match="wide_image_prompts.json"):
        check_submission(complete, tmp_path / "no_data")


def test_the_walkthrough_notebooks_are_reported_but_cost_nothing(complete):
    # the handout's item list does not have them: their points come from nbgrader's tests in them
    folder = complete / "walkthroughs"
    (folder / "task0_schedules_and_ddim.ipynb").unlink()
    (folder / "task1_wide_image.ipynb").write_text("{not json")
    (folder / "task2_views_and_anagrams.ipynb").write_text('{"cells": "none"}')
    result = by_id(check_submission(complete, DATA_DIR))["walkthroughs"]
    assert not result.present and not result.missing and result.attempted
    assert result.detail == ("walkthroughs/: 3 of 4 notebooks missing or not notebooks: task0_schedules_and_ddim.ipynb, "
                             "task1_wide_image.ipynb, task2_views_and_anagrams.ipynb")
    line = format_checklist([result])
    assert line.startswith("- Walkthrough notebooks") and "no deduction" in line
    shutil.rmtree(folder)
    results = check_submission(complete, DATA_DIR)
    assert not by_id(results)["walkthroughs"].present and not any(result.missing for result in results)


def test_the_walkthrough_names_are_the_course_notebooks():
    sources = sorted(path.name for path in (REPO / "notebooks" / "source" / "walkthroughs").glob("*.ipynb"))
    assert list(WALKTHROUGH_NOTEBOOKS) == sources
