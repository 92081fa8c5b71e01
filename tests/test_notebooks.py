"""The Jupyter walkthroughs of notebooks/, graded with nbgrader (CPU, tiny models, offline).

- every instructor notebook runs without an error (its seconds are printed, not judged: tests do not time);
- every student notebook (nbgrader's generate_assignment) runs, and fails only in its autograded test
  cells, each with the NotImplementedError of its TODO stub;
- `nbgrader autograde` of the instructor notebooks, submitted as a student, gives full marks;
- the committed notebooks carry no outputs and well-formed nbgrader metadata.

All of it works in temporary copies; nothing is written into the repo.
"""

import contextlib
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "notebooks"
ASSIGNMENT = "walkthroughs"
SOURCE = COURSE / "source" / ASSIGNMENT
NOTEBOOKS = sorted(SOURCE.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
COURSE_ID = "cs492d-synckit"  # as in notebooks/nbgrader_config.py

if not NOTEBOOKS:
    pytest.skip("no instructor notebooks here (a student release has only the student versions)", allow_module_level=True)


def student_notebooks_module():
    spec = importlib.util.spec_from_file_location("student_notebooks", COURSE / "student_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def notebook_environment():
    """What a kernel started now inherits: the repo to import, no network, and not nbgrader's grading flag.

    One torch thread: the tiny models gain little from a second one, and on a machine whose cores are busy
    with anything else, two threads that wait for each other make sampling up to ten times slower.
    """
    saved = dict(os.environ)
    os.environ.update(SYNCKIT_ROOT=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    os.environ.pop("NBGRADER_EXECUTION", None)
    try:
        yield os.environ.copy()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, workdir: Path):
    """Run a notebook top to bottom in `workdir`, errors and all; returns (notebook, seconds)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )
    with notebook_environment():
        started = time.perf_counter()
        client.execute()
    return notebook, time.perf_counter() - started


def errors(notebook) -> list:
    """(cell index, cell, error output) for every cell that raised."""
    return [
        (index, cell, output)
        for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.output_type == "error"
    ]


def describe(index, cell, output) -> str:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "-")
    return f"cell {index} ({grade_id}): {output.ename}: {output.evalue}"


def is_test_cell(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("grade")) and not cell.metadata["nbgrader"].get("solution")


def run_nbgrader(course: Path, *args):
    with notebook_environment() as env:
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def total_points(path: Path) -> float:
    cells = json.loads(path.read_text())["cells"]
    return sum(cell["metadata"].get("nbgrader", {}).get("points", 0) for cell in cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_instructor_notebook_runs_clean(path, tmp_path):
    notebook, seconds = execute(path, tmp_path)
    print(f"\n{path.name}: {seconds:.1f} s")
    failed = errors(notebook)
    assert not failed, "\n".join(describe(*error) for error in failed)
    assert not any(tmp_path.iterdir()), f"the notebook left files in its folder: {sorted(p.name for p in tmp_path.iterdir())}"


@pytest.fixture(scope="module")
def student_folder(tmp_path_factory):
    """The student notebooks, made the way the student release makes them."""
    folder = tmp_path_factory.mktemp("student")
    written = student_notebooks_module().write_student_notebooks(folder / "notebooks" / ASSIGNMENT)
    assert [path.name for path in written] == [path.name for path in NOTEBOOKS]
    return folder / "notebooks" / ASSIGNMENT


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_student_notebook_fails_only_in_its_test_cells(path, student_folder, tmp_path):
    student = student_folder / path.name
    text = student.read_text()
    for leak in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert leak not in text, f"the student notebook still contains {leak!r}"
    notebook, seconds = execute(student, tmp_path)
    print(f"\nstudent {path.name}: {seconds:.1f} s")
    failed = errors(notebook)
    outside = [describe(*error) for error in failed if not is_test_cell(error[1])]
    assert not outside, "cells other than the autograded tests failed:\n" + "\n".join(outside)
    wrong = [describe(*error) for error in failed if error[2].ename != "NotImplementedError"]
    assert not wrong, "a test cell failed with something else than the TODO stub's NotImplementedError:\n" + "\n".join(wrong)
    failed_ids = {error[1].metadata["nbgrader"]["grade_id"] for error in failed}
    test_ids = {cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells if is_test_cell(cell)}
    assert test_ids and failed_ids == test_ids, f"these tests passed without any student code: {sorted(test_ids - failed_ids)}"


def test_autograde_gives_the_instructor_notebooks_full_marks(tmp_path):
    course = student_notebooks_module().copy_course(tmp_path / "course")
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    submitted = course / "submitted" / "instructor" / ASSIGNMENT
    submitted.mkdir(parents=True)
    for path in NOTEBOOKS:
        shutil.copy2(path, submitted / path.name)

    started = time.perf_counter()
    run_nbgrader(course, "autograde", ASSIGNMENT)
    print(f"\nnbgrader autograde, {len(NOTEBOOKS)} notebooks: {time.perf_counter() - started:.1f} s")
    run_nbgrader(course, "export")

    expected = sum(total_points(path) for path in NOTEBOOKS)
    (row,) = list(csv.DictReader((course / "grades.csv").open()))
    assert (row["student_id"], row["assignment"]) == ("instructor", ASSIGNMENT)
    assert float(row["max_score"]) == expected > 0
    assert float(row["score"]) == expected, f"grades.csv: {row['score']} of {row['max_score']}"

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, "instructor")
        scores = {notebook.name: (notebook.score, notebook.max_score) for notebook in submission.notebooks}
    assert scores == {path.stem: (total_points(path), total_points(path)) for path in NOTEBOOKS}

    for path in NOTEBOOKS:
        import nbformat

        graded = nbformat.read(course / "autograded" / "instructor" / ASSIGNMENT / path.name, as_version=4)
        assert not errors(graded), "\n".join(describe(*error) for error in errors(graded))
        printed = "".join(output.get("text", "") for cell in graded.cells for output in cell.get("outputs", []))
        assert "grading: True" in printed, f"{path.name} did not see NBGRADER_EXECUTION while autograded"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_committed_notebook_is_stripped_and_well_formed(path):
    notebook = json.loads(path.read_text())
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    grade_ids, solutions, tests = [], 0, 0
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"cell {index} has outputs: strip them"
        assert "execution" not in cell["metadata"], f"cell {index} keeps execution times: strip them"
        meta = cell["metadata"].get("nbgrader")
        if "BEGIN SOLUTION" in source:
            assert meta and meta["solution"], f"cell {index} has a solution region but is not a solution cell"
            for line in source.splitlines():
                if "BEGIN SOLUTION" in line:
                    # inside a function: the student's stub raises only when the function is called
                    assert line.startswith(" "), f"cell {index}: solution regions belong inside a function body"
        if not meta:
            continue
        grade_ids.append(meta["grade_id"])
        if meta.get("solution"):
            solutions += 1
            assert "BEGIN SOLUTION" in source, f"cell {index}: mark the solution with ### BEGIN/END SOLUTION"
        if meta.get("grade"):
            tests += 1
            assert meta["locked"] and meta["points"] > 0, f"cell {index}: a test cell is locked and has points"
    assert len(grade_ids) == len(set(grade_ids)), f"repeated grade_id in {grade_ids}"
    assert solutions and tests, "each walkthrough has something to write and tests for it"


def test_autograde_keeps_every_file_students_edit():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()
    kept = set(config.Autograde.exclude_overwriting[ASSIGNMENT])
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    with_todo = {
        path for path in listed.split()
        if not path.startswith(("tests/", "grading/", "notebooks/"))
        and any(line.strip() == "### BEGIN SOLUTION" for line in (REPO / path).read_text().splitlines())
    }
    assert kept == with_todo, f"exclude_overwriting should list exactly {sorted(with_todo)}"
    assert not list(SOURCE.rglob("*.py")), "the notebooks import the repo; no .py copies in the assignment folder"
