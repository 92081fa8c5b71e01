"""Integrity: everything outside the TODO regions must equal the release.

That covers the given code and the fixed hyperparameters (the configs' defaults and the data files are
course code too). Each finding names the file, the submission's line and the line's text, so a student
sees exactly what to restore.
"""

import difflib
import sys
from pathlib import Path

# The course's files, submitted unchanged but for TODO regions, are the submission's code (grading/checklist.py);
# tests, scripts and models are not graded code.
from grading.checklist import CODE_FILES, CODE_FOLDERS
from grading.markers import BEGIN_TODO, END_TODO, MarkerError, Region, has_regions, split_regions

STUDENT_CODE = "<student code>"


def todo_parts(text: str, path: str) -> list:
    return split_regions(text, BEGIN_TODO, END_TODO, path)


def course_lines(parts) -> list:
    """(line number, line) of every line outside TODO regions; each region's body is one placeholder."""
    lines, number = [], 0
    for part in parts:
        if isinstance(part, Region):
            lines += [(part.line, part.begin.rstrip()), (part.line, STUDENT_CODE)]
            number = part.line + len(part.body) + 1
            lines.append((number, part.end.rstrip()))
        else:
            number += 1
            lines.append((number, part.rstrip()))
    return lines


def transplant(released: str, submitted: str, path: str) -> str:
    """The release's file with each TODO region's body taken from the submission: what the grader runs, so
    that only the student's regions are the student's, whatever else the submission changed."""
    theirs = [part.body for part in todo_parts(submitted, path) if isinstance(part, Region)]
    ours = todo_parts(released, path)
    if len(theirs) != sum(isinstance(part, Region) for part in ours):
        raise MarkerError(
            f"{path}: the release has {sum(isinstance(p, Region) for p in ours)} TODO region(s), "
            f"the submission {len(theirs)}; restore the markers"
        )
    bodies = iter(theirs)
    return "".join(
        part.begin + "".join(next(bodies)) + part.end if isinstance(part, Region) else part for part in ours
    )


def checked_paths(release_dir: Path) -> list:
    paths = [Path(name) for name in CODE_FILES if (release_dir / name).is_file()]
    for folder in CODE_FOLDERS:
        paths += sorted(
            path.relative_to(release_dir) for path in (release_dir / folder).rglob("*")
            if path.suffix in (".py", ".json") and "__pycache__" not in path.parts
        )
    return paths


def todo_files(release_dir: Path) -> list:
    """The release's course files (relative paths) with TODO regions: where students write code. Only course
    files: a TODO marker line elsewhere (grading/release.py's docstring shows one) is no student's code."""
    return [path for path in checked_paths(release_dir) if path.suffix == ".py" and has_regions(release_dir / path, BEGIN_TODO)]


def compare_file(path: str, released: str, submitted: str) -> list:
    """Findings for one file: lines outside TODO regions that the submission changed, added or removed."""
    try:
        theirs = course_lines(todo_parts(submitted, path))
    except MarkerError as err:
        return [f"{err}: the TODO markers must stay as released"]
    ours = course_lines(todo_parts(released, path))
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


def add_arguments(parser) -> None:
    parser.add_argument("release_dir", type=Path)
    parser.add_argument("submission_dir", type=Path)


def run(args) -> None:
    for folder in (args.release_dir, args.submission_dir):
        if not folder.is_dir():
            sys.exit(f"error: {folder} is not a folder")
    findings = check_integrity(args.release_dir, args.submission_dir)
    for finding in findings:
        print(finding)
    if findings:
        sys.exit(f"{len(findings)} change(s) outside the TODO regions: restore them from the release")
    print("no changes outside the TODO regions")
