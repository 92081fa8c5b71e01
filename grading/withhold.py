"""A second guard on what students read: no line of the rubric or of the solution's regions reaches
results.json, whatever a check's output says.

The first guard is isolation (grading/isolation.py): student code cannot read those files at all. This
one covers what slips through anyway (a grader traceback, a path the isolation did not close): every
output line that contains a secret line is replaced by a notice. Short lines (`return x`, `]`) are too
common to be secrets and would blank out the students' own messages, so only lines of at least
MIN_SECRET_CHARS characters count.
"""

from pathlib import Path

from grading.markers import BEGIN_SOLUTION, END_SOLUTION, Region, files_with_regions, split_regions

MIN_SECRET_CHARS = 16
NOTICE = "[line withheld: it quotes the course's solution or grading table]"


def secret_lines(rubric_path: Path, repo_root: Path) -> frozenset:
    lines = list(Path(rubric_path).read_text().splitlines())
    for path in files_with_regions(repo_root, BEGIN_SOLUTION):
        parts = split_regions((repo_root / path).read_text(), BEGIN_SOLUTION, END_SOLUTION, str(path))
        lines += [line for part in parts if isinstance(part, Region) for line in part.body]
    return frozenset(line.strip() for line in lines if len(line.strip()) >= MIN_SECRET_CHARS)


def clean(text: str, secrets: frozenset) -> str:
    return "\n".join(NOTICE if any(secret in line for secret in secrets) else line for line in text.split("\n"))


def withhold(document: dict, secrets: frozenset) -> dict:
    """`document` (a results.json) with every line that quotes a secret replaced by a notice."""
    document = {**document, "output": clean(document.get("output", ""), secrets)}
    document["tests"] = [{**test, "output": clean(test.get("output", ""), secrets)} for test in document.get("tests", [])]
    return document
