"""Integrity: everything outside the TODO regions must equal the release.

That covers the given code and the fixed hyperparameters (the configs' defaults and the data files are
course code too). Each finding names the file, the submission's line and the line's text, so a student
sees exactly what to restore.
"""

import difflib
from pathlib import Path

from grading.release import BEGIN_SOLUTION, BEGIN_TODO, END_SOLUTION, END_TODO

REGION_END = {BEGIN_TODO: END_TODO, BEGIN_SOLUTION: END_SOLUTION}
STUDENT_CODE = "<student code>"
# Files that are the course's and must be submitted unchanged (tests, scripts and models are not graded code).
CHECKED_FOLDERS = ("configs", "guidance", "synckit", "utils", "data")
CHECKED_FILES = ("main.py",)


def course_lines(text: str) -> list:
    """(line number, line) of every line outside TODO regions; each region's body is one placeholder."""
    lines, end_marker = [], None
    for number, line in enumerate(text.splitlines(), 1):
        marker = line.strip()
        if end_marker is None:
            lines.append((number, line.rstrip()))
            if marker in REGION_END:
                end_marker = REGION_END[marker]
                lines.append((number, STUDENT_CODE))
        elif marker == end_marker:
            lines.append((number, line.rstrip()))
            end_marker = None
    return lines


def todo_regions(text: str, path: str) -> list:
    """The bodies of the TODO regions of one file, in order."""
    regions, body = [], None
    for line in text.splitlines(keepends=True):
        marker = line.strip()
        if body is None:
            if marker == BEGIN_TODO:
                body = []
        elif marker == END_TODO:
            regions.append("".join(body))
            body = None
        else:
            body.append(line)
    if body is not None:
        raise ValueError(f"{path}: a {BEGIN_TODO} is never closed by {END_TODO}")
    return regions


def transplant(released: str, submitted: str, path: str) -> str:
    """The release's file with each TODO region's body taken from the submission: what the grader runs, so
    that only the student's regions are the student's, whatever else the submission changed."""
    theirs = todo_regions(submitted, path)
    ours_count = len(todo_regions(released, path))
    if len(theirs) != ours_count:
        raise ValueError(f"{path}: the release has {ours_count} TODO region(s), the submission {len(theirs)}; restore the markers")
    out, inside, regions = [], False, iter(theirs)
    for line in released.splitlines(keepends=True):
        marker = line.strip()
        if marker == BEGIN_TODO:
            out += [line, next(regions)]
            inside = True
        elif marker == END_TODO:
            out.append(line)
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


def checked_paths(release_dir: Path) -> list:
    paths = [Path(name) for name in CHECKED_FILES if (release_dir / name).is_file()]
    for folder in CHECKED_FOLDERS:
        paths += sorted(
            path.relative_to(release_dir) for path in (release_dir / folder).rglob("*")
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts
        )
    return paths


def compare_file(path: str, released: str, submitted: str) -> list:
    """Findings for one file: lines outside TODO regions that the submission changed, added or removed."""
    ours, theirs = course_lines(released), course_lines(submitted)
    matcher = difflib.SequenceMatcher(a=[line for _, line in ours], b=[line for _, line in theirs], autojunk=False)
    findings = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for number, line in theirs[b0:b1]:
            findings.append(f"{path}:{number}: changed or added outside the TODO regions: {line.strip()!r}")
        if tag == "delete":
            for number, line in ours[a0:a1]:
                findings.append(f"{path}: removed line {number} of the release: {line.strip()!r}")
    return findings


def check_integrity(release_dir: Path, submission_dir: Path) -> list:
    """Every difference outside TODO regions between the release and a submission, as readable lines."""
    findings = []
    for path in checked_paths(release_dir):
        submitted = submission_dir / path
        if not submitted.is_file():
            findings.append(f"{path}: missing from the submission")
            continue
        findings += compare_file(str(path), (release_dir / path).read_text(), submitted.read_text(errors="replace"))
    return findings
