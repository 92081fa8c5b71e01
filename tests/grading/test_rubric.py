"""The grading table: the handout's numbers, CLIP tiers at their boundaries, and which task a changed
file voids."""

import re
from pathlib import Path

import pytest

from grading.rubric import RUBRIC_PATH, RubricError, clip_tier, load_rubric
from grading.scoring import tasks_of_file


def test_points_follow_the_handout():
    rubric = load_rubric()
    assert {number: task["points"] for number, task in rubric["tasks"].items()} == {1: 10, 2: 10, 3: 5, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    assert rubric["image_tasks"] == [1, 2, 3]  # the extensions (4-8) have unit checks only, worth 0 until assigned
    assert rubric["checklist_deduction"] == 0.10
    assert (rubric["clip"]["full"], rubric["clip"]["half"]) == (0.28, 0.26)
    assert rubric["clip"]["model"] == "ViT-B-32" and rubric["main_args"] == []


@pytest.mark.parametrize("score, tier", [(0.31, 1.0), (0.28, 1.0), (0.2799, 0.5), (0.26, 0.5), (0.2599, 0.0), (-0.1, 0.0)])
def test_clip_tiers_at_their_boundaries(score, tier):
    assert clip_tier(score, load_rubric()["clip"]) == tier


def test_tiny_overrides_thresholds_sampling_and_prompts_only():
    course, tiny = load_rubric(), load_rubric(tiny=True)
    assert tiny["clip"]["model"] == "tiny" and "--tiny" in tiny["main_args"]
    assert tiny["toy_prompts"] and not course["toy_prompts"]  # main.py --tiny's prompt files (synckit/layout.py)
    assert tiny["tasks"] == course["tasks"] and tiny["unit"] == course["unit"]


def test_the_course_clip_has_one_pair_of_thresholds_and_the_toy_clip_one_per_task():
    course, tiny = load_rubric(), load_rubric(tiny=True)
    assert course["clip_tiers"] == {number: {"full": 0.28, "half": 0.26} for number in (1, 2, 3)}
    assert set(tiny["clip_tiers"]) == {1, 2, 3}
    assert all(0 < tier["half"] < tier["full"] <= 1 for tier in tiny["clip_tiers"].values())  # real tiers, not -1


def test_a_per_task_threshold_table_must_cover_every_image_task(tmp_path):
    text = RUBRIC_PATH.read_text()
    path = tmp_path / "rubric.toml"
    path.write_text(re.sub(r"(?m)^full = 0\.28.*$", "full = { 1 = 0.3, 2 = 0.3 }", text, count=1))
    with pytest.raises(RubricError, match="no value for task 3"):
        load_rubric(path)
    path.write_text(re.sub(r"(?m)^half = 0\.26.*$", "half = 0.29", text, count=1))
    with pytest.raises(RubricError, match="above full"):
        load_rubric(path)


def test_a_changed_file_voids_the_tasks_that_list_it_or_all():
    rubric = load_rubric()
    assert tasks_of_file("guidance/wide_image_model.py", rubric) == [1, 4, 5, 6, 7]  # the extensions' models build on it
    assert tasks_of_file("guidance/circular_wide_image_model.py", rubric) == [4]
    assert tasks_of_file("guidance/fusion.py", rubric) == [5]
    assert tasks_of_file("guidance/syncdiffusion.py", rubric) == [6]
    assert tasks_of_file("guidance/regions.py", rubric) == [7]
    assert tasks_of_file("synckit/regions.py", rubric) == [7]  # the layout reader; the rest of synckit/ voids all
    assert tasks_of_file("data/toy_region_layout.json", rubric) == [7]
    assert tasks_of_file("guidance/highres.py", rubric) == [8]
    assert tasks_of_file("configs/highres_image_config.py", rubric) == [8]  # its own config, not the wide image's
    assert tasks_of_file("utils/views/view_rotate.py", rubric) == [2, 3]
    assert tasks_of_file("configs/ambiguous_image_config.py", rubric) == [2, 3]
    assert tasks_of_file("guidance/base_model.py", rubric) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert tasks_of_file("utils/views_extra.py", rubric) == [1, 2, 3, 4, 5, 6, 7, 8]  # a prefix match needs the folder's slash


def test_a_broken_edit_is_named(tmp_path):
    broken = tmp_path / "rubric.toml"
    broken.write_text(RUBRIC_PATH.read_text().replace("[clip]", "[clip_settings]"))
    with pytest.raises(RubricError, match="lacks 'clip'"):
        load_rubric(broken)
    broken.write_text("points = = 3")
    with pytest.raises(RubricError, match="cannot read the rubric"):
        load_rubric(broken)
    broken.write_text(RUBRIC_PATH.read_text().replace("unit_share = 1.0\nextension = true", "unit_share = 0.5\nextension = true"))
    with pytest.raises(RubricError, match="an extension has no images to score, so its unit_share must be 1"):
        load_rubric(broken)


def test_the_readme_grading_table_counts_the_checks_there_are():
    from grading.probes import PROBES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    stated = {int(task): (int(checks), int(hidden)) for task, checks, hidden in
              re.findall(r"^\| (\d) [^|]+\| \d+ \| [\d.]+: (\d+) checks, (\d+) hidden \|", readme, re.M)}
    counted = {task: (sum(spec.task == task for spec in PROBES.values()),
                      sum(spec.task == task and spec.hidden for spec in PROBES.values())) for task in load_rubric()["tasks"]}
    assert stated == counted
