"""Write the student version of the repo: every solution region becomes a TODO stub.

In a .py file, each region

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

becomes, indented like its markers,

    ### BEGIN TODO
    raise NotImplementedError("...names the function...")
    ### END TODO

Files students must not see (this package, its tests, hidden tests, CI) are left out.
"""

import re
import subprocess
from pathlib import Path

from grading.markers import BEGIN_SOLUTION, BEGIN_TODO, END_SOLUTION, END_TODO, MarkerError, Region, split_regions

# Paths (files or folders, relative to the repo root) that stay with the instructor.
INSTRUCTOR_ONLY = ("grading/", "tests/grading/", "tests/hidden/", ".ci/")
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


def source_files(repo: Path) -> list:
    """The files git tracks (so no outputs or caches), minus the instructor's."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True).stdout
    return [path for path in listed.split("\0") if path and not path.startswith(INSTRUCTOR_ONLY)]


def release(repo: Path, out_dir: Path) -> dict:
    """Write the student release of `repo` to the new folder `out_dir`; returns {path: regions replaced}."""
    repo, out_dir = repo.resolve(), out_dir.resolve()
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
    for path in files:
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path in converted:
            target.write_text(converted[path][0])
        else:
            target.write_bytes((repo / path).read_bytes())
    return {path: regions for path, (_, regions) in converted.items() if regions}
