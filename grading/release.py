"""Write the student version of the repo: every solution region becomes a TODO stub.

In a .py file, each region

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

becomes, indented like its markers,

    ### BEGIN TODO
    raise NotImplementedError("...names the function...")
    ### END TODO

Files students must not see (this package, its tests, the notebook sources, CI) are left out, except the
student side of this package: `python -m grading collect`, which packs a submission. The release's README.md
is the student README (grading/student_readme.py), not this repo's.
"""

import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from grading.markers import BEGIN_SOLUTION, BEGIN_TODO, END_SOLUTION, END_TODO, MarkerError, Region, split_regions
from grading.student_readme import ReadmeError, student_readme
from synckit.layout import RELEASE_WALKTHROUGHS, REPO_ROOT

# Paths (files or folders, relative to the repo root) that stay with the instructor.
INSTRUCTOR_ONLY = ("grading/", "tests/grading/", ".ci/", "notebooks/", "tests/test_notebooks.py")
# Where the student versions of the nbgrader walkthroughs (generated, never the sources) go in the release.
# What students get of grading/: the command line, `collect`, and what collect imports.
STUDENT_TOOLS = ("grading/__init__.py", "grading/__main__.py", "grading/checklist.py", "grading/collect.py",
                 "grading/zips.py")
DEF_LINE = re.compile(r"^(\s*)def (\w+)\(")


class ReleaseError(ValueError):
    """The source tree cannot be released as it is; the message says why and where."""


def enclosing_function(lines_before, indent: str) -> str:
    """Name of the innermost `def` above a marker whose body contains the marker's indentation."""
    for line in reversed(lines_before):
        match = DEF_LINE.match(line)
        if match and len(match.group(1)) < len(indent):
            return match.group(2)
    return "this section"


def stub(region: Region, lines_before, path: str) -> list:
    function = enclosing_function(lines_before, region.indent)
    return [
        f"{region.indent}{BEGIN_TODO}\n",
        f'{region.indent}raise NotImplementedError("TODO: implement {function} ({path})")\n',
        f"{region.indent}{END_TODO}\n",
    ]


def strip_solutions(text: str, path: str) -> tuple:
    """(student text, number of regions replaced) for one .py file's text."""
    try:
        parts = split_regions(text, BEGIN_SOLUTION, END_SOLUTION, path)
    except MarkerError as err:
        raise ReleaseError(str(err)) from err
    source_lines = text.splitlines()
    out, regions = [], 0
    for part in parts:
        if isinstance(part, Region):
            out += stub(part, source_lines[: part.line - 1], path)
            regions += 1
        else:
            out.append(part)
    return "".join(out), regions


def tracked_files(repo: Path) -> list:
    """The repo's files as git tracks them (relative paths): its sources, never outputs, caches or local data."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [path for path in listed.split("\0") if path]


def source_files(repo: Path) -> list:
    """The tracked files, minus the instructor's."""
    return [path for path in tracked_files(repo) if path in STUDENT_TOOLS or not path.startswith(INSTRUCTOR_ONLY)]


def notebook_maker(repo: Path):
    """`repo`'s notebooks/student_notebooks.py, loaded as a module (it is a script of the course folder)."""
    spec = importlib.util.spec_from_file_location("student_notebooks", repo / "notebooks" / "student_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def student_notebooks(maker) -> dict:
    """{file name: content} of the walkthroughs as nbgrader's generate_assignment makes them for students
    (`maker`, notebooks/student_notebooks.py, refuses any that still hold a solution or hidden test)."""
    with tempfile.TemporaryDirectory(prefix="synckit-notebooks-") as scratch:
        try:
            return {path.name: path.read_bytes() for path in maker.write_student_notebooks(Path(scratch))}
        except maker.StudentNotebookError as err:
            raise ReleaseError(f"the student notebooks cannot be made: {err}") from err


def release(repo: Path, out_dir: Path, notebooks: bool = False, formulas: bool = True) -> dict:
    """Write the student release of `repo` to the new folder `out_dir`; returns {path: regions replaced}.
    With `notebooks`, also the student walkthroughs (nbgrader, a few seconds; the CLI always adds them).
    Without `formulas`, the student README gives the TODO functions' definitions and conventions only."""
    repo, out_dir = repo.resolve(), out_dir.resolve()
    maker = notebook_maker(repo) if notebooks else None
    if maker:
        try:
            maker.check_tools()  # first: a missing tool should not surface from inside nbgrader, after other work
        except maker.StudentNotebookError as err:
            raise ReleaseError(str(err)) from err
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ReleaseError(f"{out_dir} already has files; give a new or empty folder (nothing was written)")
    if out_dir.is_relative_to(repo):
        raise ReleaseError(f"{out_dir} is inside the solution repo {repo}; write the release somewhere else")
    files = source_files(repo)
    # Convert everything before writing anything, so a marker error leaves no half-written release.
    converted = {}
    for path in files:
        if path.endswith(".py"):
            converted[path] = strip_solutions((repo / path).read_text(), path)
    try:
        readme = student_readme(repo, formulas)
    except ReadmeError as err:
        raise ReleaseError(str(err)) from err
    walkthroughs = student_notebooks(maker) if maker else {}
    for path in files:
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path in converted:
            target.write_text(converted[path][0])
        elif path == "README.md":
            target.write_text(readme)
        else:
            target.write_bytes((repo / path).read_bytes())
    for name, content in walkthroughs.items():
        (out_dir / RELEASE_WALKTHROUGHS).mkdir(parents=True, exist_ok=True)
        (out_dir / RELEASE_WALKTHROUGHS / name).write_bytes(content)
    return {path: regions for path, (_, regions) in converted.items() if regions}


def add_arguments(parser) -> None:
    parser.add_argument("out_dir", type=Path, help="a new or empty folder outside this repo")
    parser.add_argument("--without_formulas", action="store_true",
                        help="the student README gives each TODO function's definitions and conventions but not its "
                             "finished formula (docstrings and notebooks are released as they are)")


def run(args) -> None:
    try:
        stubbed = release(REPO_ROOT, args.out_dir, notebooks=True, formulas=not args.without_formulas)
    except ReleaseError as err:
        sys.exit(f"error: {err}")
    for path, regions in sorted(stubbed.items()):
        print(f"{path}: {regions} TODO region(s)")
    print(f"student release written to {args.out_dir}")
