"""The gradebook: one CSV row per student (total and per-task points) from results.json files, and
`python -m grading merge GRADES_DIR ... --csv grades.csv` to join the folders of several batch shards.

A check's task is the one its results.json entry records, `"extra_data": {"task": N}` (grading/results.py).
"""

import csv
import json
import sys
from pathlib import Path

from grading.atomic import atomic_write


class MergeError(ValueError):
    pass


def task_scores(document, path: Path) -> dict:
    """{"Task N": points} of one results.json; refuses a file whose checks do not record their task."""
    scores = {}
    for index, test in enumerate(document.get("tests", [])):
        task = test.get("extra_data", {}).get("task")
        if task is None:
            raise MergeError(f"{path}: tests[{index}] records no task (extra_data.task): the file was written by an "
                             "older grader; remove it and grade that submission again")
        scores[f"Task {task}"] = scores.get(f"Task {task}", 0.0) + test["score"]
    return scores


def gradebook_rows(result_files) -> list:
    rows = []
    for path in result_files:
        document = json.loads(Path(path).read_text())
        extra = document.get("extra_data", {})
        rows.append({
            "student": Path(path).parent.name, "score": document["score"],
            **{task: round(score, 4) for task, score in sorted(task_scores(document, path).items())},
            "stage": extra.get("stage", ""), "note": document.get("output", "").splitlines()[0][:200] if document.get("output") else "",
        })
    return rows


def merge(grade_dirs, csv_path: Path) -> list:
    """One CSV from the results of several shards' output folders."""
    files = sorted(path for folder in grade_dirs for path in Path(folder).glob("*/results.json"))
    if not files:
        raise MergeError(f"no */results.json under {', '.join(map(str, grade_dirs))}")
    students = [path.parent.name for path in files]
    if len(set(students)) != len(students):
        raise MergeError("the same student appears in more than one folder; merge each student once")
    rows = gradebook_rows(files)
    write_csv(csv_path, rows)
    return rows


def write_csv(path: Path, rows) -> None:
    columns = ["student", "score"]
    columns += sorted({key for row in rows for key in row} - {"student", "score", "stage", "note"}) + ["stage", "note"]
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def add_arguments(parser) -> None:
    parser.add_argument("grade_dirs", type=Path, nargs="+", help="the --out folders of the batch shards")
    parser.add_argument("--csv", type=Path, required=True, help="the gradebook to write")


def run(args) -> None:
    try:
        rows = merge(args.grade_dirs, args.csv)
    except MergeError as err:
        sys.exit(f"error: {err}")
    print(f"{len(rows)} student(s) in {args.csv}")
