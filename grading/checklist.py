"""The handout's "Submission Item List" as data, and the one check of a submission folder against it.

The submission (the zip's root): the code (configs/ guidance/ synckit/ utils/ data/ main.py eval.py),
exactly one <report>.pdf, and the image folders with their eval.json that synckit/layout.py describes.
Every missing item costs 10% (handout, "Grading"). Task 3 is optional: without a task3/ folder its items
are "not attempted", not missing. The walkthrough notebooks (walkthroughs/) are reported too, but the
handout's list does not have them, so missing them costs nothing here: their points come from nbgrader's
tests in them. This file ships to students with `python -m grading collect`, so it imports nothing
instructor-only.
"""

import json
from dataclasses import dataclass
from pathlib import Path

# grading/grade.py and collect.py import EVAL_FILE, eval_score and the folder names from here
from synckit.layout import (AMBIGUOUS_APP, AMBIGUOUS_DIR, EVAL_FILE, TASK3_CASES, TASK3_DIR, WALKTHROUGH_NOTEBOOKS,
                            WALKTHROUGHS_DIR, WIDE_APP, WIDE_DIR, data_file, eval_score, expected_images, read_prompts,
                            task3_folder)

CODE_FOLDERS = ("configs", "guidance", "synckit", "utils", "data")
CODE_FILES = ("main.py", "eval.py")
SHOWN_NAMES = 4  # a detail names this many missing files, then "and N more"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Item:
    id: str
    task: int | None  # None for the items that belong to the whole submission
    description: str
    deducted: bool = True  # False: reported, but not on the handout's list, so missing it costs nothing


ITEMS = (
    Item("code", None, "Code"),
    Item("pdf", None, "PDF file"),
    Item("task1.eval", 1, "Task 1: CLIP score evaluation eval.json (output of eval.py)"),
    Item("task1.images", 1, "Task 1: output images for the provided prompts"),
    Item("task2.eval", 2, "Task 2: CLIP score evaluation eval.json (output of eval.py)"),
    Item("task2.images", 2, "Task 2: output images for the provided prompts"),
    Item("task3.eval", 3, "Task 3 (optional): eval.json of each synchronization case"),
    Item("task3.images", 3, "Task 3 (optional): output images of each synchronization case"),
    Item("walkthroughs", None, "Walkthrough notebooks (graded by their own tests; not on the handout's list, "
                               "no deduction)", deducted=False),
)


@dataclass(frozen=True)
class ItemResult:
    id: str
    task: int | None
    description: str
    present: bool
    detail: str = ""  # what is missing or why it does not count; empty when present
    attempted: bool = True  # False only for Task 3 when the submission has no task3/ folder
    deducted: bool = True  # as the item's

    @property
    def missing(self) -> bool:
        """Whether the item costs a deduction: a deducted item, attempted but not there."""
        return self.deducted and self.attempted and not self.present


def wide_image_names(data_dir: Path, toy: bool = False) -> list:
    """The PNGs wide_images/ must hold: each panorama and its eval_pos crops. Raises PromptFileError."""
    return expected_images(WIDE_APP, read_prompts(WIDE_APP, data_file(WIDE_APP, data_dir, toy)))


def ambiguous_image_names(data_dir: Path, toy: bool = False) -> list:
    """The PNGs ambiguous_images/ (and each Task 3 case) must hold: one per view, named after its prompt."""
    return expected_images(AMBIGUOUS_APP, read_prompts(AMBIGUOUS_APP, data_file(AMBIGUOUS_APP, data_dir, toy)))


# The folders each task's eval and image items look in, and the images each of them must hold.
TASK_FOLDERS = {1: (WIDE_DIR,), 2: (AMBIGUOUS_DIR,), 3: tuple(task3_folder(case) for case in TASK3_CASES)}
TASK_IMAGES = {1: wide_image_names, 2: ambiguous_image_names, 3: ambiguous_image_names}


def some(names) -> str:
    """`a, b, c, d and 5 more`: enough to act on, short enough to read."""
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f" and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def code_problems(root: Path) -> list:
    missing = [f"{name}/" for name in CODE_FOLDERS if not (root / name).is_dir()]
    missing += [name for name in CODE_FILES if not (root / name).is_file()]
    return [f"missing {some(missing)}"] if missing else []


def pdf_problems(root: Path) -> list:
    pdfs = sorted(path.name for path in root.iterdir() if path.is_file() and path.suffix.lower() == ".pdf")
    if not pdfs:
        return ["no .pdf report at the top of the submission"]
    if len(pdfs) > 1:
        return [f"{len(pdfs)} PDFs at the top ({some(pdfs)}); keep exactly one report"]
    with open(root / pdfs[0], "rb") as report:
        if b"%PDF-" not in report.read(1024):  # the header may follow a few bytes; a renamed .docx has none
            return [f"{pdfs[0]} is not a PDF file"]
    return []


def eval_problems(folder: Path, shown_as: str) -> list:
    score, why = eval_score(folder / EVAL_FILE)
    return [] if score is not None else [f"{shown_as}/{EVAL_FILE} {why}"]


def is_png(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as image:
        return image.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE


def image_problems(folder: Path, shown_as: str, names) -> list:
    if not folder.is_dir():
        return [f"no {shown_as}/ folder"]
    missing = [name for name in names if not is_png(folder / name)]
    return [f"{shown_as}/: {len(missing)} of {len(names)} PNGs missing or not PNG: {some(missing)}"] if missing else []


def is_notebook(path: Path) -> bool:
    """A Jupyter notebook: a JSON object with a list of cells, something nbgrader can grade."""
    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8")).get("cells"), list)
    except (OSError, ValueError, AttributeError):  # missing or a folder, not JSON or not UTF-8, not an object
        return False


def notebook_problems(folder: Path) -> list:
    missing = [name for name in WALKTHROUGH_NOTEBOOKS if not is_notebook(folder / name)]
    if not missing:
        return []
    return [f"{WALKTHROUGHS_DIR}/: {len(missing)} of {len(WALKTHROUGH_NOTEBOOKS)} notebooks missing or not notebooks: "
            f"{some(missing)}"]


def item_problems(item: Item, root: Path, data_dir: Path, toy: bool = False) -> list:
    if item.id == "code":
        return code_problems(root)
    if item.id == "pdf":
        return pdf_problems(root)
    if item.id == "walkthroughs":
        return notebook_problems(root / WALKTHROUGHS_DIR)
    folders = TASK_FOLDERS[item.task]
    if item.id.endswith(".eval"):
        return [problem for folder in folders for problem in eval_problems(root / folder, folder)]
    names = TASK_IMAGES[item.task](data_dir, toy)
    return [problem for folder in folders for problem in image_problems(root / folder, folder, names)]


def check_submission(root: Path, data_dir: Path, toy: bool = False) -> list:
    """One `ItemResult` per item of `ITEMS` for the submission folder `root`; the expected image names come
    from the prompt files in `data_dir` (the course's, so a submission cannot change what is expected; with
    `toy` the toy world's, for a submission made on the tiny models). Raises synckit.layout.PromptFileError when
    those cannot be read."""
    root = Path(root)
    task3_attempted = (root / TASK3_DIR).is_dir()
    results = []
    for item in ITEMS:
        if item.task == 3 and not task3_attempted:
            results.append(ItemResult(item.id, item.task, item.description, False,
                                      f"not attempted (no {TASK3_DIR}/ folder)", attempted=False))
            continue
        problems = item_problems(item, root, Path(data_dir), toy)
        results.append(ItemResult(item.id, item.task, item.description, not problems, "; ".join(problems),
                                  deducted=item.deducted))
    return results


def format_checklist(results) -> str:
    """One line per item: ✓ present, ✗ missing (with what is missing), - not attempted or not deducted."""
    lines = []
    for result in results:
        mark = "✓" if result.present else "✗" if result.missing else "-"
        lines.append(f"{mark} {result.description}" + (f": {result.detail}" if result.detail else ""))
    return "\n".join(lines)
