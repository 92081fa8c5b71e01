"""The code the grader runs for a submission: the release, with each TODO region's body taken from the
submission (integrity.transplant). Whatever else a submission changed, added or planted (a conftest.py,
an edited test, a results.json) never runs and is never read."""

import shutil
from pathlib import Path

from grading.integrity import todo_files, transplant
from grading.markers import MarkerError


def build_workspace(release_dir: Path, code_root: Path, dest: Path) -> list:
    """Copy the release to the new folder `dest` and transplant the submission's TODO regions into it.

    Returns one note per file whose regions could not be taken (missing file, damaged markers); those
    files keep the release's stubs, so their checks fail with NotImplementedError instead of crashing.
    """
    shutil.copytree(release_dir, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    notes = []
    for path in todo_files(release_dir):
        submitted = code_root / path
        if not submitted.is_file():
            notes.append(f"{path}: missing from the submission; its TODO functions count as not implemented")
            continue
        try:
            text = transplant((release_dir / path).read_text(), submitted.read_text(errors="replace"), str(path))
        except MarkerError as err:
            notes.append(f"{err}; its TODO functions count as not implemented")
            continue
        (dest / path).write_text(text)
    return notes
