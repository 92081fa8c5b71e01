"""The student release: solution regions become TODO stubs, nothing of the solution leaks, and the public
tests fail on the stubs with NotImplementedError rather than collection errors."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grading.markers import BEGIN_SOLUTION, END_SOLUTION
from grading.release import STUDENT_TOOLS, ReleaseError, release, strip_solutions

REPO = Path(__file__).resolve().parents[2]


def solution_regions(text):
    return re.findall(rf"{BEGIN_SOLUTION}\n(.*?){END_SOLUTION}", text, flags=re.S)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student"
    stubbed = release(REPO, out)
    return out, stubbed


def test_a_region_becomes_an_indented_stub_naming_its_function():
    source = (
        "class A:\n"
        "    def tweedie(self, x):\n"
        "        '''doc'''\n"
        "        ### BEGIN SOLUTION\n"
        "        return x / 2\n"
        "        ### END SOLUTION\n"
        "\n"
        "    def other(self):\n"
        "        return 1\n"
    )
    student, regions = strip_solutions(source, "a.py")
    assert regions == 1
    assert student == (
        "class A:\n"
        "    def tweedie(self, x):\n"
        "        '''doc'''\n"
        "        ### BEGIN TODO\n"
        '        raise NotImplementedError("TODO: implement tweedie (a.py)")\n'
        "        ### END TODO\n"
        "\n"
        "    def other(self):\n"
        "        return 1\n"
    )


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region opened at line 1"),
    ("x = 1\n### END SOLUTION\n", "a.py:2"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
])
def test_broken_markers_are_refused_with_their_line(source, message):
    with pytest.raises(ReleaseError, match=message):
        strip_solutions(source, "a.py")


def test_every_student_function_is_stubbed(released):
    _, stubbed = released
    assert stubbed == {
        "guidance/base_model.py": 4,  # compute_tweedie, compute_prev_state, the eps and xt branches
        "guidance/wide_image_model.py": 2,
        "guidance/ambiguous_image_model.py": 2,
        "utils/views/view_rotate.py": 2,
        "utils/views/view_inner_rotate.py": 2,
    }


def test_no_solution_code_leaks(released):
    out, stubbed = released
    for path in stubbed:
        source = (REPO / path).read_text()
        student = (out / path).read_text()
        assert BEGIN_SOLUTION not in student and END_SOLUTION not in student
        outside = source
        for region in solution_regions(source):
            outside = outside.replace(region, "")
        given_lines = {line.strip() for line in outside.splitlines()}
        for region in solution_regions(source):
            for line in region.splitlines():
                code = line.strip()
                if code and not code.startswith("#") and code not in given_lines:
                    assert code not in student, f"solution line leaked into {path}: {code}"


def test_instructor_files_stay_out(released):
    out, _ = released
    assert not (out / "tests" / "grading").exists() and not (out / ".ci").exists()
    assert (out / "tiny_models").is_dir() and (out / "README.md").is_file() and (out / "tests" / "conftest.py").is_file()
    # of grading/, only what `python -m grading collect` needs
    released = [path for path in (out / "grading").rglob("*") if path.is_file() and "__pycache__" not in path.parts]
    assert sorted(path.relative_to(out).as_posix() for path in released) == sorted(STUDENT_TOOLS)


def test_the_submission_layout_ships_as_it_is(released):
    # main.py, eval.py and `python -m grading collect` import it; it is course code, with no solution region
    out, stubbed = released
    assert (out / "synckit" / "layout.py").read_text() == (REPO / "synckit" / "layout.py").read_text()
    assert "synckit/layout.py" not in stubbed


def imported_names(source):
    """Every dotted name an import statement mentions; `from a import b` gives a and a.b (b may be a module)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_released_tools_import_only_released_modules(released):
    out, _ = released
    for path in (out / "grading").glob("*.py"):
        for name in imported_names(path.read_text()):
            module = f"{name.replace('.', '/')}.py"
            if name.startswith("grading.") and (REPO / module).is_file():
                assert module in STUDENT_TOOLS, f"released {path.name} imports {name}, which is not released"


def test_release_refuses_to_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ReleaseError, match="already has files"):
        release(REPO, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def run_in(folder, *args):
    env = {**os.environ, "PYTHONPATH": str(folder), "COLUMNS": "1000"}  # untruncated summary lines
    return subprocess.run([sys.executable, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


# The public test modules that exercise every TODO region (see test_every_student_function_is_stubbed).
TODO_TEST_MODULES = "test_ddim or test_wide_mapping or test_views or test_sync_targets"


def test_release_collects_and_its_public_tests_fail_on_the_stubs(released):
    out, _ = released
    # One run: -k deselects only after collecting every test file, so an import or collection error anywhere
    # in the release (main, configs, guidance, utils, synckit are all imported) still shows up.
    result = run_in(out, "-m", "pytest", "-q", "-rf", "--tb=no", "-p", "no:cacheprovider", "-k", TODO_TEST_MODULES)
    summary = result.stdout.strip().splitlines()[-1]
    assert "error" not in summary and "deselected" in summary, result.stdout[-3000:]
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert failed, summary
    not_stubs = [line for line in failed if "NotImplementedError: TODO: implement" not in line]
    assert not not_stubs, "\n".join(not_stubs)


def test_the_release_offers_collect_and_no_instructor_command(released):
    out, _ = released
    listing = run_in(out, "-m", "grading", "--help")
    assert listing.returncode == 0, listing.stderr
    assert set(re.findall(r"^    (\w+)", listing.stdout, flags=re.M)) == {"collect"}  # the commands offered
    assert "--student_id" in run_in(out, "-m", "grading", "collect", "--help").stdout
    refused = run_in(out, "-m", "grading", "release", "elsewhere")
    assert refused.returncode != 0 and "invalid choice: 'release'" in refused.stderr


@pytest.mark.slow
def test_the_release_command_ships_the_student_notebooks_only(tmp_path):
    from grading.__main__ import main

    main(["release", str(tmp_path / "student")])
    notebooks = sorted((tmp_path / "student" / "notebooks" / "walkthroughs").glob("*.ipynb"))
    assert [path.name[:5] for path in notebooks] == ["task0", "task1", "task2", "task3"]
    for notebook in notebooks:
        text = notebook.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "BEGIN TODO" in text
    assert not (tmp_path / "student" / "notebooks" / "source").exists()
    assert not (tmp_path / "student" / "tests" / "test_notebooks.py").exists()
