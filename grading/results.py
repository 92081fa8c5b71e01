"""Gradescope's results.json: build it, check it against the schema, and always write a valid one.

Gradescope shows "The autograder failed to execute correctly" for a missing or malformed file, so the
grader writes atomically (grading/atomic.py) and, if its own document is invalid, writes a zero-score
document that says why instead.

Each check records its task as data, `"extra_data": {"task": N}` (Gradescope stores a test's extra_data
and shows it to no one), so the gradebook (grading/merge.py) adds up a task's points without reading them
out of the display names.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from grading.atomic import atomic_write

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
STATUSES = ("passed", "failed")


@dataclass
class Check:
    """One entry of `tests[]`: a graded check and what the student sees about it."""
    name: str
    score: float
    max_score: float
    output: str = ""
    visibility: str = "visible"
    passed: bool | None = None  # set when the score alone does not say it (zero-point or scaled-down checks)
    task: int | None = None  # the rubric task whose points this check counts towards

    @property
    def status(self) -> str:
        passed = self.score >= self.max_score if self.passed is None else self.passed
        return "passed" if passed else "failed"

    def entry(self) -> dict:
        entry = {"name": self.name, "score": self.score, "max_score": self.max_score, "status": self.status,
                 "output": self.output, "visibility": self.visibility}
        if self.task is not None:
            entry["extra_data"] = {"task": self.task}
        return entry


def results_document(checks, output="", execution_time=None) -> dict:
    document = {
        "score": round(sum(check.score for check in checks), 4),
        "output": output,
        "tests": [check.entry() for check in checks],
    }
    if execution_time is not None:
        document["execution_time"] = round(execution_time, 2)
    return document


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def schema_problems(document) -> list:
    """Everything that makes `document` an invalid results.json (an empty list when it is valid)."""
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    problems = []
    for key in ("score", "execution_time"):
        if key in document and not is_number(document[key]):
            problems.append(f"{key} must be a finite number, got {document[key]!r}")
    if "output" in document and not isinstance(document["output"], str):
        problems.append("output must be a string")
    if document.get("visibility", "visible") not in VISIBILITIES:
        problems.append(f"visibility must be one of {VISIBILITIES}")
    if not isinstance(document.get("extra_data", {}), dict):
        problems.append("extra_data must be an object")
    tests = document.get("tests", [])
    if not isinstance(tests, list):
        return problems + ["tests must be a list"]
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where} is not an object")
            continue
        if not isinstance(test.get("name"), str) or not test.get("name"):
            problems.append(f"{where}.name must be a non-empty string")
        for key in ("score", "max_score"):
            if key in test and not is_number(test[key]):
                problems.append(f"{where}.{key} must be a finite number, got {test[key]!r}")
        if is_number(test.get("score")) and is_number(test.get("max_score")) and not 0 <= test["score"] <= test["max_score"]:
            problems.append(f"{where}.score {test['score']} is outside 0..{test['max_score']}")
        if test.get("status", "passed") not in STATUSES:
            problems.append(f"{where}.status must be one of {STATUSES}")
        if test.get("visibility", "visible") not in VISIBILITIES:
            problems.append(f"{where}.visibility must be one of {VISIBILITIES}")
        if "output" in test and not isinstance(test["output"], str):
            problems.append(f"{where}.output must be a string")
        if not isinstance(test.get("extra_data", {}), dict):
            problems.append(f"{where}.extra_data must be an object")
    return problems


def write_results(path: Path, document: dict) -> dict:
    """Write `document`, or a zero-score error document if it is invalid; returns what was written."""
    problems = schema_problems(document)
    if problems:
        document = {"score": 0, "output": "The grader produced an invalid result; please contact the course staff.\n"
                    + "\n".join(problems), "tests": []}
    with atomic_write(path) as handle:
        handle.write(json.dumps(document, indent=2, allow_nan=False))
    return document
