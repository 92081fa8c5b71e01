"""The student README: the template grading/student_readme.md with README.md's shared parts put in.

README.md marks each part that students read too between a line `<!-- shared: NAME -->` and a line
`<!-- end shared -->` (HTML comments: invisible where the README is rendered); the template pulls it in
with a line `<!-- include: NAME -->`. A fact both READMEs state (the install commands, what to implement,
the per-task tests, how to submit, the rubric) is so written once, in README.md, and the template holds
only what is for students alone.

Without formulas, every table whose last column is headed "Formula" loses that column: the student README
then gives each TODO function's definitions and conventions, not the finished formula.
"""

import re
from pathlib import Path

TEMPLATE = Path("grading/student_readme.md")
SHARED = re.compile(r"^<!-- shared: ([\w-]+) -->\n(.*?)^<!-- end shared -->\n", re.M | re.S)
INCLUDE = re.compile(r"^<!-- include: ([\w-]+) -->\n", re.M)
MARKER = re.compile(r"^<!-- (shared: [\w-]+|end shared|include: [\w-]+) -->$", re.M)
FORMULA_HEADER = "Formula"


class ReadmeError(ValueError):
    """The template or README.md's shared parts do not fit together; the message says where."""


def shared_parts(readme: str) -> dict:
    """{name: text} of README.md's shared parts; refuses nested, unclosed or repeated ones."""
    parts = {}
    for name, text in SHARED.findall(readme):
        if MARKER.search(text):
            raise ReadmeError(f"README.md: shared part {name!r} holds another marker; shared parts do not nest")
        if name in parts:
            raise ReadmeError(f"README.md: two shared parts are named {name!r}")
        parts[name] = text
    left = MARKER.findall(SHARED.sub("", readme))
    if left:
        raise ReadmeError(f"README.md: marker <!-- {left[0]} --> has no partner (each shared part ends with "
                          "<!-- end shared --> on its own line)")
    return parts


def last_cell(row: str) -> str:
    return row.rstrip().rstrip("|").rsplit("|", 1)[-1].strip()


def without_last_cell(row: str) -> str:
    kept = row.rstrip().rstrip("|")
    return kept[: kept.rindex("|") + 1] + "\n"


def without_formula_columns(markdown: str) -> str:
    """`markdown` with the last column of every table whose header ends in a "Formula" column left out."""
    lines, in_table, dropping = [], False, False
    for line in markdown.splitlines(keepends=True):
        is_row = line.startswith("|")
        if is_row and not in_table:  # a table's first row is its header
            dropping = last_cell(line) == FORMULA_HEADER
        lines.append(without_last_cell(line) if is_row and dropping else line)
        in_table = is_row
    return "".join(lines)


def student_readme(repo: Path, formulas: bool = True) -> str:
    """The README.md of the student release of `repo`; without `formulas`, no finished formula of a TODO."""
    parts = shared_parts((Path(repo) / "README.md").read_text())
    template = (Path(repo) / TEMPLATE).read_text()
    unknown = sorted(set(INCLUDE.findall(template)) - set(parts))
    if unknown:
        raise ReadmeError(f"{TEMPLATE} includes {', '.join(unknown)}, which README.md does not share "
                          f"(mark it <!-- shared: NAME --> … <!-- end shared -->)")
    text = INCLUDE.sub(lambda match: parts[match.group(1)], template)
    return text if formulas else without_formula_columns(text)
