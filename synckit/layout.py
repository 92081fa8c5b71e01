"""The submission layout and the prompt data files: every name main.py writes, eval.py scores and the
grader checks, stated once.

A submission (the zip's root, the handout's "What to Submit") holds, next to the code and the report:

    wide_images/                    Task 1: per prompt <key>.png (the panorama) and <key>_<pos>.png per eval_pos
    ambiguous_images/               Task 2: per pair <canonical key>.png and <instance key>.png
    task3/eps/ task3/x0/ task3/xt/  Task 3 (optional): like ambiguous_images, one folder per sync target

each folder with the eval.json that eval.py writes into it, and

    walkthroughs/                   the walkthrough notebooks, as the student release has them in notebooks/walkthroughs/

<key> is the prompt with spaces as underscores (`prompt_key`). main.py --all_prompts also leaves
<name>_side_by_side.png and <name>.gif next to the views of an anagram; they are for looking at and not
graded. The prompts, and with them the expected file names, come from data/<app>_prompts.json
(`read_prompts`); runs on the tiny models (`--tiny`, and the grader's tiny mode) read the toy world's
data/toy_<app>_prompts.json instead, in the same format (`data_file(app, toy=True)`): the tiny models know only
the words of synckit/toyworld.py's captions.

Standard library only: this module ships to students, and main.py, eval.py and the grader all import it.
"""

import json
import math
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"

# main.py's apps and the submission folder each fills with --all_prompts
WIDE_APP, AMBIGUOUS_APP = "wide_image", "ambiguous_image"
APPS = (WIDE_APP, AMBIGUOUS_APP)
WIDE_DIR, AMBIGUOUS_DIR = "wide_images", "ambiguous_images"
SUBMISSION_FOLDERS = {WIDE_APP: WIDE_DIR, AMBIGUOUS_APP: AMBIGUOUS_DIR}
# main.py also runs apps that fill no submission folder (collect, eval.py and the grader never see them): the
# higher-resolution images of extension Task 8 (DemoFusion / AccDiffusion). `--app` takes any of MAIN_APPS.
HIGHRES_APP = "highres_image"
MAIN_APPS = (*APPS, HIGHRES_APP)

# Task 3 compares the sync targets (what is averaged across views each step) on anagrams of these views
SYNC_TARGETS = ("eps", "x0", "xt")
TASK3_DIR = "task3"
TASK3_CASES = SYNC_TARGETS
TASK3_VIEWS = ("identity", "inner_rotate")


def task3_folder(case: str) -> str:
    return f"{TASK3_DIR}/{case}"


# Every image folder of a submission and the main.py run that fills it: (app, flags besides --all_prompts). Its
# prompts are the app's data file, the toy one on the tiny models (`data_file`).
RUNS = {
    WIDE_DIR: (WIDE_APP, ()),
    AMBIGUOUS_DIR: (AMBIGUOUS_APP, ()),
    **{task3_folder(case): (AMBIGUOUS_APP, ("--views_names", *TASK3_VIEWS, "--sync_target", case))
       for case in TASK3_CASES},
}

EVAL_FILE = "eval.json"

# The walkthrough notebooks: graded by nbgrader's tests in them, not by the handout's item list. Students work on
# them where the release puts them; a submission holds them in a folder named after the nbgrader assignment, so
# that it can be copied as it is to nbgrader's submitted/<student>/walkthroughs/.
WALKTHROUGHS_DIR = "walkthroughs"
RELEASE_WALKTHROUGHS = f"notebooks/{WALKTHROUGHS_DIR}"
WALKTHROUGH_NOTEBOOKS = ("task0_schedules_and_ddim.ipynb", "task1_wide_image.ipynb", "task2_views_and_anagrams.ipynb",
                         "task3_sync_targets.ipynb")

# The zip a student uploads, NAME_ID.zip, as `python -m grading collect` names it and the instructor's tools read it
# back. Both parts are safe as file names (letters of any script, digits, '_', '.', '-'; no separator, no leading
# dot); the id is what follows the last '_', so an id holds no '_'.
SUBMISSION_ZIP_FORM = "NAME_ID.zip"
NAME_PATTERN = re.compile(r"\w[\w.-]*")
STUDENT_ID_PATTERN = re.compile(r"[^\W_](?:[^\W_]|[.-])*")
SUBMISSION_ZIP_PATTERN = re.compile(rf"{NAME_PATTERN.pattern}_({STUDENT_ID_PATTERN.pattern})\.zip", re.IGNORECASE)

# The text fields of a data-file entry, in view order for an anagram (canonical view first).
PROMPT_FIELDS = {WIDE_APP: ("prompt",), AMBIGUOUS_APP: ("canonical_prompt", "instance_prompt")}
ENTRY_FORMS = {
    WIDE_APP: '{"prompt": text, "eval_pos": [x offsets in px]}',
    AMBIGUOUS_APP: '{"canonical_prompt": text, "instance_prompt": text}',
}


class PromptFileError(ValueError):
    """A prompt data file is missing or malformed; the message says what is wrong and what to do."""


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------

def prompt_key(prompt: str) -> str:
    """A prompt's file-name form, the handout's rule: outer spaces dropped, inner spaces as underscores."""
    return prompt.strip().replace(" ", "_")


def image_name(prompt: str) -> str:
    """The image made for a prompt: a whole panorama, or one view of an anagram."""
    return f"{prompt_key(prompt)}.png"


def crop_name(prompt: str, pos) -> str:
    """The crop of a panorama at x offset `pos` that eval.py scores."""
    return f"{prompt_key(prompt)}_{pos}.png"


def anagram_name(prompts) -> str:
    """An anagram's name (the data files' keys): its prompts' keys, canonical first."""
    return "-".join(prompt_key(prompt) for prompt in prompts)


def side_by_side_name(name: str) -> str:
    return f"{name}_side_by_side.png"


def gif_name(name: str) -> str:
    return f"{name}.gif"


def overlay_name(name: str) -> str:
    """The mask overlay main.py --regions writes next to its image `<name>.png`; not a submission file."""
    return f"{name}_regions.png"


def phase_image_name(prompt: str, phase: int) -> str:
    """--app highres_image: the image of one phase (1: the base image, s: s times its side); not a submission file."""
    return f"{prompt_key(prompt)}_phase{phase}.png"


def patch_prompts_name(prompt: str) -> str:
    """--app highres_image --method accdiffusion: each window's words drawn over the final image."""
    return f"{prompt_key(prompt)}_patch_prompts.png"


def submission_zip_name(name: str, student_id: str) -> str:
    return f"{name}_{student_id}.zip"


def student_id_of_zip(file_name: str) -> str | None:
    """The student id in a submission zip's file name (`submission_zip_name`'s), or None for another name."""
    match = SUBMISSION_ZIP_PATTERN.fullmatch(file_name)
    return match.group(1) if match else None


def expected_images(app: str, entries: dict) -> list:
    """The PNGs the app's submission folder must hold for these data-file entries."""
    names = []
    for entry in entries.values():
        if app == WIDE_APP:  # the panorama, then its crops
            names += [image_name(entry["prompt"])] + [crop_name(entry["prompt"], pos) for pos in entry["eval_pos"]]
        else:  # one per view
            names += [image_name(entry[field]) for field in PROMPT_FIELDS[app]]
    return names


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------

TOY_PREFIX = "toy_"  # the toy world's prompt files: data/toy_<app>_prompts.json


def data_file(app: str, data_dir: Path = DATA_DIR, toy: bool = False) -> Path:
    """The app's prompt data file in `data_dir`: the course's, or with `toy` the toy world's (its captions only,
    the prompts the tiny models know), which every run on the tiny models reads."""
    return Path(data_dir) / f"{TOY_PREFIX if toy else ''}{app}_prompts.json"


def entry_problem(app: str, entry) -> str:
    """What is wrong with one entry for `app`, or "" when nothing is."""
    if not isinstance(entry, dict):
        return "is not a JSON object"
    other = next(name for name in APPS if name != app)
    if not any(field in entry for field in PROMPT_FIELDS[app]) and all(field in entry for field in PROMPT_FIELDS[other]):
        return f"has {other}'s fields (is this {data_file(other).name}?)"
    for field in PROMPT_FIELDS[app]:
        if field not in entry:
            return f'has no "{field}"'
        if not isinstance(entry[field], str) or not entry[field].strip():
            return f'has an empty or non-text "{field}"'
    if app == WIDE_APP:
        positions = entry.get("eval_pos")
        # bool is an int to Python, but `true` is no pixel offset
        if not isinstance(positions, list) or not positions or not all(
            isinstance(pos, int) and not isinstance(pos, bool) for pos in positions
        ):
            return 'has an "eval_pos" that is not a non-empty list of whole numbers'
    return ""


def read_prompts(app: str, path=None) -> dict:
    """{name: entry} of the prompt data file `path` (default: the course's for `app`), in file order, every
    entry checked. Raises PromptFileError, naming the file and what is wrong with it."""
    if app not in APPS:
        raise PromptFileError(f"unknown app {app!r}; use one of {', '.join(APPS)}")
    path = data_file(app) if path is None else Path(path)
    shipped = {data_file(app, toy=toy).name for toy in (False, True)}
    course_file = f"data/{path.name if path.name in shipped else data_file(app).name}"  # what to compare with
    if not path.is_file():
        raise PromptFileError(
            f"prompt data file {path} does not exist; check the path (--prompts_file) or restore the course's {course_file}"
        )
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise PromptFileError(f"cannot read prompt data file {path} ({err.strerror}); use the course's {course_file}") from err
    except ValueError as err:  # JSONDecodeError, or bytes that are not UTF-8
        raise PromptFileError(
            f"prompt data file {path} is not valid JSON ({err}); fix it or use the course's {course_file}"
        ) from err
    if not isinstance(entries, dict) or not entries:
        raise PromptFileError(
            f"prompt data file {path} must be a non-empty JSON object keyed by prompt name, like {course_file}"
        )
    for name, entry in entries.items():
        problem = entry_problem(app, entry)
        if problem:
            raise PromptFileError(
                f"prompt data file {path}: entry {name!r} {problem}; entries must map names to {ENTRY_FORMS[app]} "
                f"like {course_file}"
            )
    return entries


def eval_score(path: Path) -> tuple:
    """(score, "") for an eval.json eval.py could have written (JSON with a finite numeric "score"), else
    (None, why it does not count)."""
    path = Path(path)
    if not path.is_file():
        return None, "is missing"
    try:
        score = json.loads(path.read_text()).get("score")
    except (ValueError, AttributeError):
        return None, "is not a JSON object; rerun eval.py"
    if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
        return None, 'has no numeric "score"; rerun eval.py'
    return float(score), ""
