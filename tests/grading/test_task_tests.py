"""Every TODO function is tested by the test files the README names for its task, so "the Task N tests" test
all of Task N: checked on the README against the solution markers and the test files' calls, and (slow) in a
release, where each task's files must fail on every TODO function of the task with its stub's error."""

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grading.markers import BEGIN_SOLUTION, END_SOLUTION, Region, files_with_regions, split_regions
from grading.release import INSTRUCTOR_ONLY, enclosing_function, release

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
# "| 2 | `guidance/ambiguous_image_model.py` | `forward_mapping`, `inverse_mapping` | ..." in "What students implement"
TABLE_ROW = re.compile(r"^\| (\d+) \| `([^`]+)` \| ([^|]+) \|", re.M)
# "python -m pytest -q tests/test_views.py         # Tasks 2 and 3 (...)"
TEST_COMMAND = re.compile(r"^python -m pytest -q ((?:tests/\S+\.py\s+)+)# Tasks? ([\d, and]+)", re.M)
# "FAILED tests/test_views.py::test_x - NotImplementedError: TODO: implement forward_mapping (guidance/...py)"
STUB_FAILURE = re.compile(r"^FAILED (tests/\S+\.py)::\S+ - NotImplementedError: TODO: implement (\w+) \((\S+)\)$")


def todo_functions() -> set:
    """(file, function) of every solution region students get, the function named as the release's stub names it."""
    found = set()
    for path in files_with_regions(REPO, BEGIN_SOLUTION):
        if path.as_posix().startswith(INSTRUCTOR_ONLY):
            continue
        text = (REPO / path).read_text()
        lines = text.splitlines()
        for part in split_regions(text, BEGIN_SOLUTION, END_SOLUTION, str(path)):
            if isinstance(part, Region):
                found.add((path.as_posix(), enclosing_function(lines[: part.line - 1], part.indent)))
    return found


def readme_tasks() -> dict:
    """{(file, function): task} from the README's table; `Class.method` counts as `method`."""
    tasks = {}
    for task, path, functions in TABLE_ROW.findall(README):
        for name in re.findall(r"`([\w.]+)`", functions):
            tasks[(path, name.split(".")[-1])] = int(task)
    return tasks


def readme_test_files() -> dict:
    """{task: the test files the README's per-task commands name for it}."""
    files = {}
    for paths, tasks in TEST_COMMAND.findall(README):
        for task in re.findall(r"\d+", tasks):
            files.setdefault(int(task), set()).update(paths.split())
    return files


def called_names(path: Path) -> set:
    """Names of the functions and methods a file calls: f(...) and obj.f(...)."""
    calls = (node.func for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call))
    return {call.id if isinstance(call, ast.Name) else call.attr for call in calls
            if isinstance(call, (ast.Name, ast.Attribute))}


TODOS = sorted(todo_functions())


def test_the_todo_functions_are_found():
    assert ("guidance/ambiguous_image_model.py", "forward_mapping") in TODOS
    assert ("utils/views/view_inner_rotate.py", "get_circle_mask") in TODOS
    assert not [path for path, _ in TODOS if path.startswith(("grading/", "tests/"))]


def test_every_task_of_the_table_has_test_commands_for_existing_files():
    files = readme_test_files()
    for task in set(readme_tasks().values()):
        assert files.get(task), f"the README gives no `python -m pytest -q tests/...  # Task {task}` command"
        for path in files[task]:
            assert (REPO / path).is_file(), f"the README's Task {task} command names {path}, which does not exist"


@pytest.mark.parametrize("todo", TODOS, ids=[f"{path}:{function}" for path, function in TODOS])
def test_each_todo_function_is_called_by_its_tasks_test_files(todo):
    task = readme_tasks().get(todo)
    assert task is not None, f"{todo[1]} ({todo[0]}) is a TODO but not in the README's table of what students implement"
    files = sorted(readme_test_files()[task])
    assert any(todo[1] in called_names(REPO / path) for path in files), (
        f"{todo[1]} ({todo[0]}) is Task {task}'s, but no test file the README names for Task {task} ({', '.join(files)}) "
        "calls it"
    )


@pytest.mark.slow  # a release and its task tests: about 15 s on 2 cores
def test_in_the_release_each_tasks_test_files_fail_on_every_todo_of_the_task(tmp_path):
    out = tmp_path / "student"
    release(REPO, out)
    files = readme_test_files()
    every_file = sorted(set().union(*files.values()))
    env = {**os.environ, "PYTHONPATH": str(out), "COLUMNS": "1000"}  # untruncated summary lines
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "--tb=no", "-p", "no:cacheprovider", *every_file],
                          cwd=out, env=env, capture_output=True, text=True, timeout=300)
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
    assert failed, done.stdout[-3000:]
    not_stubs = [line for line in failed if not STUB_FAILURE.match(line)]
    assert not not_stubs, "failures other than a TODO stub's NotImplementedError:\n" + "\n".join(not_stubs)
    stubs_hit = {(match[1], (match[3], match[2])) for match in map(STUB_FAILURE.match, failed)}
    tasks = readme_tasks()
    for todo in TODOS:
        task_files = files[tasks[todo]]
        assert any((path, todo) in stubs_hit for path in task_files), (
            f"no test of {', '.join(sorted(task_files))} (Task {tasks[todo]}) fails on the stub of {todo[1]} ({todo[0]})"
        )
