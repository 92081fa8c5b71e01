"""How findings turn into points: each task's checks, scaled by its factors, every check under its task.
Expected points are worked out by hand from the small rubrics below."""

import numpy as np

from grading.checklist import ItemResult
from grading.probes import PROBES
from grading.reproduce import Comparison
from grading.sandbox import RunResult
from grading.scoring import (ReportedScore, TaskGrade, score_checklist, score_clip, score_integrity,
                             score_reproduction, score_unit, visible_total)
from grading.unit import Outcome

TASKS = {1: {"points": 10, "unit_share": 0.5, "files": ["guidance/wide_image_model.py"]},
         2: {"points": 10, "unit_share": 0.5, "files": ["utils/views/"]},
         3: {"points": 5, "unit_share": 0.5, "files": ["utils/views/"]}}
RUBRIC = {"tasks": TASKS, "checklist_deduction": 0.1,
          "clip": {"model": "ViT-B-32", "full": 0.28, "half": 0.26, "report_tolerance": 0.005},
          "clip_tiers": {number: {"full": 0.28, "half": 0.26} for number in TASKS},
          "reproduction": {"max_mean_abs_diff": 0.06}}


def grades():
    return {number: TaskGrade(number, task) for number, task in TASKS.items()}


def points(grades) -> dict:
    return {number: round(sum(check.score for check in grade.finished()), 6) for number, grade in grades.items()}


def test_factors_scale_a_tasks_scored_checks_and_say_why():
    grade = TaskGrade(1, TASKS[1])
    grade.scored("public check · tweedie", 1.0, 2.5, "matches")
    grade.scored("hidden check · tweedie", 0.0, 2.5, "values differ", hidden=True)
    grade.status("submission checklist", ["missing: PDF file"], "every item is there", 0.9, "1 missing item")
    grade.status("integrity", [], "unchanged from the release", 0.0, "changed")
    checks = grade.finished()
    assert [(check.name, check.score, check.max_score, check.status) for check in checks] == [
        ("Task 1 · public check · tweedie", 2.25, 2.5, "passed"),
        ("Task 1 · hidden check · tweedie", 0.0, 2.5, "failed"),
        ("Task 1 · submission checklist", 0, 0, "failed"),
        ("Task 1 · integrity", 0, 0, "passed"),
    ]
    assert checks[0].output == "matches\n(scored ×0.9: 1 missing item)"
    assert checks[1].visibility == "after_published"
    assert {check.task for check in checks} == {1}


def test_unit_checks_split_a_tasks_unit_share_evenly():
    outputs = {name: np.zeros(3, dtype=np.float32) for name in PROBES}
    wrong = next(name for name, spec in PROBES.items() if spec.task == 3)
    submitted = {name: Outcome(np.ones(3, np.float32) if name == wrong else outputs[name]) for name in PROBES}
    graded = grades()
    score_unit(graded, submitted, outputs)
    # Task 3: 2.5 unit points over its 8 checks, one of them failed
    assert points(graded) == {1: 5.0, 2: 5.0, 3: 2.1875}


def item(task, present, detail="", description="an item"):
    return ItemResult(f"item{task}", task, description, present, detail)


def test_a_missing_checklist_item_costs_its_task_and_a_global_one_costs_every_task():
    graded = grades()
    for grade in graded.values():
        grade.scored("unit", 1.0, 5, "")
    score_checklist(graded, [item(None, False, "no .pdf", "PDF file"), item(2, False, "is missing"), item(3, True)],
                    RUBRIC)
    assert points(graded) == {1: 4.5, 2: 4.0, 3: 4.5}
    checklist = graded[2].status_checks[0]
    assert checklist.output == "missing: PDF file (no .pdf)\nmissing: an item (is missing)"


def test_a_changed_file_voids_the_tasks_that_list_it():
    graded = grades()
    for grade in graded.values():
        grade.scored("unit", 1.0, 5, "")
    score_integrity(graded, ["utils/views/view_rotate.py:12: changed or added outside the TODO regions: 'x'"], RUBRIC)
    assert points(graded) == {1: 5.0, 2: 0.0, 3: 0.0}


def test_clip_tiers_and_a_reported_score_the_images_do_not_give():
    graded = grades()
    score_clip(graded, {
        1: [ReportedScore("wide_images", 0.2712, 0.2700)],  # half tier, within the tolerance
        2: [ReportedScore("ambiguous_images", 0.3000, 0.2900)],  # full tier, but 0.01 off: the task is void
        3: [ReportedScore("task3/eps", 0.29, 0.29), ReportedScore("task3/x0", None),
            ReportedScore("task3/xt", 0.265, 0.265)],
    }, RUBRIC)
    # CLIP points: half of each task's points; Task 3's three folders count a third each: (1 + 0 + 0.5) / 3 × 2.5
    assert points(graded) == {1: 2.5, 2: 0.0, 3: 1.25}
    assert graded[1].checks[0].output == ("wide_images: reported 0.2712, recomputed 0.2700 → tier 0.5\n"
                                          "≥ 0.28 full, ≥ 0.26 half (ViT-B-32)")
    assert graded[2].status_checks[0].output == ("ambiguous_images: eval.json reports 0.3000 but the submitted images "
                                                 "score 0.2900 (tolerance 0.005)")


def test_a_reported_score_that_cannot_be_recomputed_voids_the_task():
    graded = grades()
    score_clip(graded, {1: [ReportedScore("wide_images", 0.29, error="no images")],
                        2: [ReportedScore("ambiguous_images", 0.29, 0.29)],
                        3: [ReportedScore("task3/eps", 0.29, 0.29)]}, RUBRIC)
    assert points(graded) == {1: 0.0, 2: 5.0, 3: 2.5}
    assert graded[1].status_checks[0].output == "wide_images: the reported score cannot be recomputed: no images"


def test_an_image_the_code_does_not_reproduce_voids_its_task_and_shows_the_run():
    graded = grades()
    for grade in graded.values():
        grade.scored("unit", 1.0, 5, "")
    run = RunResult(0, False, "sampling 4 steps", 16)
    score_reproduction(graded, {
        1: [Comparison("wide_images", "a.png", 0.01, "mean absolute difference 0.0100")],
        2: [Comparison("ambiguous_images", "b.png", 0.2, "mean absolute difference 0.2000")],
        3: [],
    }, run, RUBRIC)
    assert points(graded) == {1: 5.0, 2: 0.0, 3: 5.0}
    assert graded[2].status_checks[0].output.splitlines() == [
        "ambiguous_images/b.png: mean absolute difference 0.2000", "tolerance: mean absolute difference ≤ 0.06",
        "the regeneration run: the process exited with code 0", "sampling 4 steps"]
    assert graded[3].status_checks[0].output == "nothing submitted for this task"


def test_the_visible_total_leaves_hidden_checks_out():
    grade = TaskGrade(1, TASKS[1])
    grade.scored("public", 1.0, 2.5, "")
    grade.scored("hidden", 1.0, 2.5, "", hidden=True)
    assert visible_total(grade.finished()) == ("2.5 of 2.5 points in the checks shown now; "
                                               "1 hidden checks also count, shown when grades are published")
