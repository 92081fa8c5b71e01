"""The gradebook adds up each task's points from the task every check records, and names a results.json
that does not record them."""

import csv
import json

import pytest

from grading.merge import MergeError, gradebook_rows, merge
from grading.results import results_document, write_results
from grading.scoring import TaskGrade


def write(folder, student, document):
    path = folder / student / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    return path


def check(name, score, task):
    return {"name": name, "score": score, "max_score": 5, "extra_data": {"task": task}}


def test_task_columns_come_from_the_recorded_tasks_not_the_names(tmp_path):
    # the names say nothing of the tasks: only the recorded data can put these points in the right columns
    write(tmp_path, "alice", {"score": 8.5, "output": "unit stage: 8.5 points\nmore", "extra_data": {"stage": "unit"},
                              "tests": [check("public check · tweedie", 2.5, 1), check("CLIP score tier", 5, 2),
                                        check("hidden check · rotation", 1, 2), check("integrity", 0, 3)]})
    write(tmp_path, "carol", {"score": 0, "output": "The submission could not be graded: not a readable zip",
                              "extra_data": {"stage": "unit"}, "tests": []})
    rows = merge([tmp_path], tmp_path / "grades.csv")
    assert rows[0] == {"student": "alice", "score": 8.5, "Task 1": 2.5, "Task 2": 6.0, "Task 3": 0.0,
                       "stage": "unit", "note": "unit stage: 8.5 points"}
    with open(tmp_path / "grades.csv") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == ["student", "score", "Task 1", "Task 2", "Task 3", "stage", "note"]
    assert table[1] == {"student": "carol", "score": "0", "Task 1": "", "Task 2": "", "Task 3": "", "stage": "unit",
                        "note": "The submission could not be graded: not a readable zip"}


def test_a_results_file_without_recorded_tasks_is_named(tmp_path):
    write(tmp_path, "alice", {"score": 5, "tests": [check("Task 1 · CLIP score tier", 5, 1)]})
    old = write(tmp_path, "bob", {"score": 5, "tests": [{"name": "Task 1 · CLIP score tier", "score": 5}]})
    with pytest.raises(MergeError, match=rf"{old}: tests\[0\] records no task .* older grader"):
        merge([tmp_path], tmp_path / "grades.csv")
    assert not (tmp_path / "grades.csv").exists()


def test_the_graders_checks_reach_the_gradebook_under_their_task(tmp_path):
    grade = TaskGrade(2, {"points": 10, "unit_share": 0.5})
    grade.scored("public check · rotation", 1.0, 2.5, "matches")
    grade.scored("hidden check · rotation", 0.0, 2.5, "values differ", hidden=True)
    grade.status("submission checklist", ["missing: PDF file"], "every item is there", 0.9, "1 missing item")
    path = tmp_path / "dan" / "results.json"
    write_results(path, results_document(grade.finished()))
    [row] = gradebook_rows([path])
    assert row["Task 2"] == pytest.approx(2.25)
