"""Write the student versions of the walkthrough notebooks (what the student release ships).

    python notebooks/student_notebooks.py OUT_DIR

runs `nbgrader generate_assignment` on a temporary copy of this course folder (so no gradebook or release
folder appears in the repo), checks that no solution or hidden test is left, and copies the student
notebooks into OUT_DIR (created; it must not hold notebooks of the same names). Needs nbgrader, installed
for the Python that runs this (`check_tools`); that Python's environment need not be activated.
"""

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COURSE = Path(__file__).resolve().parent
ASSIGNMENT = "walkthroughs"
# Text that must never reach a student: nbgrader's solution and hidden-test delimiters.
LEAKS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# pyproject.toml's extra with nbgrader (and with it alembic, the helper nbgrader runs by name)
INSTALL = '-m pip install -e ".[test]"'


class StudentNotebookError(RuntimeError):
    """The student notebooks could not be made, or would leak instructor text; nothing was written."""


def alembic_folder() -> Path | None:
    """The folder of the `alembic` script installed with the alembic package this Python imports (nbgrader runs
    it by name): a virtual environment's bin/, a user install's, the system's; None if there is none. Found from
    the package's record, not from PATH, which lacks the environment's bin/ when it is not activated."""
    try:
        files = importlib.metadata.distribution("alembic").files or ()
    except importlib.metadata.PackageNotFoundError:
        return None
    scripts = (Path(file.locate()) for file in files if file.stem == "alembic" and file.parent.name in ("bin", "Scripts"))
    return next((script.parent.resolve() for script in scripts if script.is_file()), None)


def check_tools() -> None:
    """Refuse, before any work, a Python without nbgrader or without the `alembic` script that nbgrader runs."""
    install = f"install the instructor tools: {sys.executable} {INSTALL}"
    if importlib.util.find_spec("nbgrader") is None:
        raise StudentNotebookError(f"nbgrader is not installed for {sys.executable}; {install}")
    if alembic_folder() is None:
        raise StudentNotebookError(f"the alembic script that nbgrader runs is not installed for {sys.executable}; {install}")


def generate(course_copy: Path) -> Path:
    """Run generate_assignment in `course_copy` (a copy of this folder); returns its release/ASSIGNMENT."""
    # nbgrader starts `alembic` by name: this Python's, before any other on PATH
    path = os.pathsep.join(filter(None, [str(alembic_folder()), os.environ.get("PATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
        cwd=course_copy, capture_output=True, text=True, env={**os.environ, "PATH": path},
    )
    if done.returncode:
        raise StudentNotebookError(f"nbgrader generate_assignment failed:\n{done.stdout}{done.stderr}")
    return course_copy / "release" / ASSIGNMENT


def copy_course(to: Path) -> Path:
    """The files nbgrader needs (config and source notebooks), without gradebooks or earlier outputs."""
    to.mkdir(parents=True, exist_ok=True)
    shutil.copy2(COURSE / "nbgrader_config.py", to / "nbgrader_config.py")
    shutil.copytree(COURSE / "source", to / "source", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return to


def write_student_notebooks(out_dir) -> list:
    """Generate the student notebooks and copy them into `out_dir`; returns the paths written."""
    check_tools()
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as scratch:
        release = generate(copy_course(Path(scratch) / "course"))
        notebooks = sorted(release.glob("*.ipynb"))
        expected = sorted((COURSE / "source" / ASSIGNMENT).glob("*.ipynb"))
        if [path.name for path in notebooks] != [path.name for path in expected]:
            raise StudentNotebookError(f"expected {[p.name for p in expected]}, nbgrader wrote {[p.name for p in notebooks]}")
        for path in notebooks:
            text = path.read_text()
            leaked = [marker for marker in LEAKS if marker in text]
            if leaked:
                raise StudentNotebookError(f"{path.name} still contains {leaked}")
        clashes = [path.name for path in notebooks if (out_dir / path.name).exists()]
        if clashes:
            raise StudentNotebookError(f"{out_dir} already has {clashes}; nothing was written")
        out_dir.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(path, out_dir / path.name)) for path in notebooks]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python {Path(__file__).name} OUT_DIR")
    try:
        for written in write_student_notebooks(sys.argv[1]):
            print(written)
    except StudentNotebookError as err:
        sys.exit(f"error: {err}")
