"""The marker lines around students' code, and the one parser every grading tool uses to find them.

In the solution repo a region is `### BEGIN SOLUTION` … `### END SOLUTION`; in the release and in
submissions it is `### BEGIN TODO` … `### END TODO`.
"""

from dataclasses import dataclass
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_TODO, END_TODO = "### BEGIN TODO", "### END TODO"


class MarkerError(ValueError):
    """Markers that do not pair up; the message names the file and line."""


@dataclass
class Region:
    begin: str  # the begin marker line as written (indentation and newline included)
    body: list  # the lines between the markers
    end: str
    line: int  # 1-based line number of the begin marker

    @property
    def indent(self) -> str:
        return self.begin[: len(self.begin) - len(self.begin.lstrip())]


def split_regions(text: str, begin: str, end: str, path: str) -> list:
    """The file as a list of lines outside regions (str, newline kept) and `Region`s, in order."""
    parts, region = [], None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        marker = line.strip()
        if marker == begin:
            if region is not None:
                raise MarkerError(f"{path}:{number}: {begin} inside the region opened at line {region.line}")
            region = Region(line, [], "", number)
        elif marker == end:
            if region is None:
                raise MarkerError(f"{path}:{number}: {end} without a {begin} before it")
            region.end = line
            parts.append(region)
            region = None
        elif region is not None:
            region.body.append(line)
        else:
            parts.append(line)
    if region is not None:
        raise MarkerError(f"{path}:{region.line}: {begin} is never closed by {end}")
    return parts


def has_regions(path: Path, begin: str) -> bool:
    """Whether the file has a `begin` marker line."""
    return any(line.strip() == begin for line in Path(path).read_text(errors="replace").splitlines())


def files_with_regions(root: Path, begin: str) -> list:
    """Paths (relative to `root`, sorted) of the .py files with a `begin` marker line."""
    return sorted(path.relative_to(root) for path in Path(root).rglob("*.py")
                  if "__pycache__" not in path.parts and has_regions(path, begin))
