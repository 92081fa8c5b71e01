"""The handout's "Submission Item List" as data, and the one check of a submission folder against it.

The submission layout (the zip's root):

    configs/ guidance/ synckit/ utils/ data/ main.py eval.py   the code
    <report>.pdf                                                the report, exactly one PDF
    wide_images/        per prompt: <key>.png and <key>_<pos>.png for each eval_pos; eval.json
    ambiguous_images/   per pair: <canonical key>.png and <instance key>.png; eval.json
    task3/eps/ task3/x0/ task3/xt/   (optional Task 3) each like ambiguous_images

where <key> is the prompt with spaces as underscores (configs.common.prompt_key). Every missing item costs
10% (handout, "Grading"). Task 3 is optional: without a task3/ folder its items are "not attempted", not
missing. This file ships to students with `python -m grading collect`, so it imports nothing instructor-only.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from configs.common import prompt_key

CODE_FOLDERS = ("configs", "guidance", "synckit", "utils", "data")
CODE_FILES = ("main.py", "eval.py")
WIDE_DIR = "wide_images"
AMBIGUOUS_DIR = "ambiguous_images"
TASK3_DIR = "task3"
TASK3_CASES = ("eps", "x0", "xt")  # one folder per synchronization target
EVAL_FILE = "eval.json"
SHOWN_NAMES = 4  # a detail names this many missing files, then "and N more"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Item:
    id: str
    task: int | None  # None for the items that belong to the whole submission
    description: str


ITEMS = (
    Item("code", None, "Code"),
    Item("pdf", None, "PDF file"),
    Item("task1.eval", 1, "Task 1: CLIP score evaluation eval.json (output of eval.py)"),
    Item("task1.images", 1, "Task 1: output images for the provided prompts"),
    Item("task2.eval", 2, "Task 2: CLIP score evaluation eval.json (output of eval.py)"),
    Item("task2.images", 2, "Task 2: output images for the provided prompts"),
    Item("task3.eval", 3, "Task 3 (optional): eval.json of each synchronization case"),
    Item("task3.images", 3, "Task 3 (optional): output images of each synchronization case"),
)


@dataclass(frozen=True)
class ItemResult:
    id: str
    task: int | None
    description: str
    present: bool
    detail: str = ""  # what is missing or why it does not count; empty when present
    attempted: bool = True  # False only for Task 3 when the submission has no task3/ folder

    @property
    def missing(self) -> bool:
        """Whether the item costs a deduction: attempted but not there."""
        return self.attempted and not self.present


class ChecklistError(ValueError):
    """The course's data files cannot be read, so the expected images are unknown."""


def read_prompts(data_dir: Path, app: str) -> dict:
    path = Path(data_dir) / f"{app}_prompts.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ChecklistError(f"cannot read {path} ({err}); pass the course's data/ folder") from err


def wide_image_names(data_dir: Path) -> list:
    """The PNGs wide_images/ must hold: each panorama and its eval_pos crops."""
    names = []
    for entry in read_prompts(data_dir, "wide_image").values():
        key = prompt_key(entry["prompt"])
        names += [f"{key}.png"] + [f"{key}_{pos}.png" for pos in entry["eval_pos"]]
    return names


def ambiguous_image_names(data_dir: Path) -> list:
    """The PNGs ambiguous_images/ (and each Task 3 case) must hold: one per view, named after its prompt."""
    names = []
    for entry in read_prompts(data_dir, "ambiguous_image").values():
        names += [f"{prompt_key(entry['canonical_prompt'])}.png", f"{prompt_key(entry['instance_prompt'])}.png"]
    return names


# The folders each task's eval and image items look in, and the images each of them must hold.
TASK_FOLDERS = {1: (WIDE_DIR,), 2: (AMBIGUOUS_DIR,), 3: tuple(f"{TASK3_DIR}/{case}" for case in TASK3_CASES)}
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


def eval_score(path: Path) -> tuple:
    """(score, "") for an eval.json eval.py could have written (JSON with a finite numeric score), else
    (None, why it does not count)."""
    if not path.is_file():
        return None, "is missing"
    try:
        score = json.loads(path.read_text()).get("score")
    except (ValueError, AttributeError):
        return None, "is not a JSON object; rerun eval.py"
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
        return None, 'has no numeric "score"; rerun eval.py'
    return float(score), ""


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


def item_problems(item: Item, root: Path, data_dir: Path) -> list:
    if item.id == "code":
        return code_problems(root)
    if item.id == "pdf":
        return pdf_problems(root)
    folders = TASK_FOLDERS[item.task]
    if item.id.endswith(".eval"):
        return [problem for folder in folders for problem in eval_problems(root / folder, folder)]
    names = TASK_IMAGES[item.task](data_dir)
    return [problem for folder in folders for problem in image_problems(root / folder, folder, names)]


def check_submission(root: Path, data_dir: Path) -> list:
    """One `ItemResult` per item of `ITEMS` for the submission folder `root`; the expected image names come
    from the prompt files in `data_dir` (the course's, so a submission cannot change what is expected)."""
    root = Path(root)
    task3_attempted = (root / TASK3_DIR).is_dir()
    results = []
    for item in ITEMS:
        if item.task == 3 and not task3_attempted:
            results.append(ItemResult(item.id, item.task, item.description, False,
                                      f"not attempted (no {TASK3_DIR}/ folder)", attempted=False))
            continue
        problems = item_problems(item, root, Path(data_dir))
        results.append(ItemResult(item.id, item.task, item.description, not problems, "; ".join(problems)))
    return results


def format_checklist(results) -> str:
    """One line per item: ✓ present, ✗ missing (with what is missing), - not attempted."""
    lines = []
    for result in results:
        mark = "✓" if result.present else "✗" if result.missing else "-"
        lines.append(f"{mark} {result.description}" + (f": {result.detail}" if result.detail else ""))
    return "\n".join(lines)
