"""Pack a submission for Gradescope:

    python -m grading collect --name NAME --student_id ID --pdf REPORT.pdf

writes NAME_ID.zip with the layout of grading/checklist.py at the archive's root: your code, the report,
the image folders main.py wrote (outputs/submission/wide_images, outputs/submission/ambiguous_images
and, for the optional Task 3, outputs/task3_<eps|x0|xt>/ambiguous_images where they exist) and your
walkthrough notebooks (from notebooks/walkthroughs/, into walkthroughs/). Caches and GIFs stay out. It then
prints the handout's checklist for what it packed: each ✗ costs 10% of the grade.

Without a GPU there are no images to pack (`WITHOUT_A_GPU`, the README's "Without a GPU"): --no_images packs
the rest.
"""

import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from grading.checklist import CODE_FILES, CODE_FOLDERS, check_submission, format_checklist
from grading.zips import new_zip
from synckit.layout import (AMBIGUOUS_APP, AMBIGUOUS_DIR, NAME_PATTERN, RELEASE_WALKTHROUGHS, REPO_ROOT,
                            STUDENT_ID_PATTERN, TASK3_CASES, WALKTHROUGH_NOTEBOOKS, WALKTHROUGHS_DIR, WIDE_APP,
                            WIDE_DIR, PromptFileError, submission_zip_name, task3_folder)

# where the README's main.py runs write: --tag submission for Tasks 1-2, --tag task3_<case> for Task 3
DEFAULT_WIDE = Path("outputs/submission") / WIDE_DIR
DEFAULT_AMBIGUOUS = Path("outputs/submission") / AMBIGUOUS_DIR
DEFAULT_TASK3 = {case: Path(f"outputs/task3_{case}") / AMBIGUOUS_DIR for case in TASK3_CASES}
REQUIRED = {  # the flag for each required folder, and the main.py run that writes it (for the error)
    WIDE_DIR: ("--wide", f"python main.py --app {WIDE_APP} --all_prompts --tag submission"),
    AMBIGUOUS_DIR: ("--ambiguous", f"python main.py --app {AMBIGUOUS_APP} --all_prompts --tag submission"),
}
LEFT_OUT_FOLDERS = {"__pycache__", ".ipynb_checkpoints", ".git"}
LEFT_OUT_SUFFIXES = {".pyc", ".gif"}  # caches; GIFs are large, only for looking at, and not graded
STORED_SUFFIXES = {".png", ".pdf"}  # already compressed: deflating them again costs time and saves nothing
PROGRESS_FROM = 100  # files; fewer copy in an instant
WITHOUT_A_GPU = (
    "Without a GPU: the images and their eval.json need the real models on a GPU. Pack your code, report and "
    "notebooks with --no_images (and no --wide, --ambiguous or --task3): each task then misses its images and "
    "eval.json (−10% each) and gets no CLIP points, but keeps its unit checks; Task 3 is not attempted. Never submit "
    "--tiny images or an eval.json of --clip_model tiny, nor images made with flags that change them (--seed, "
    "--num_inference_steps, ...): the grader regenerates a sample with the real models and the default settings, "
    "and a mismatch makes the task score 0. See the README's \"Without a GPU\" and \"Fixed hyperparameters\"."
)


class CollectError(ValueError):
    """The submission cannot be packed as asked; nothing was written. The message says what to do."""


def add_arguments(parser) -> None:
    parser.epilog = WITHOUT_A_GPU
    parser.add_argument("--name", required=True, help="your name as in NAME_ID.zip, e.g. HongGildong")
    parser.add_argument("--student_id", required=True, help="your student id, e.g. 20241234 (no '_')")
    parser.add_argument("--pdf", type=Path, required=True, help="your report")
    parser.add_argument("--wide", type=Path, help=f"Task 1 images (default {DEFAULT_WIDE})")
    parser.add_argument("--ambiguous", type=Path, help=f"Task 2 images (default {DEFAULT_AMBIGUOUS})")
    parser.add_argument("--task3", nargs="+", metavar="CASE=DIR",
                        help="optional Task 3 folders, e.g. eps=DIR x0=DIR xt=DIR "
                             "(default: outputs/task3_<case>/ambiguous_images where they exist)")
    parser.add_argument("--no_images", action="store_true",
                        help="pack no image folders: code, report and notebooks only (without a GPU, see below)")
    parser.add_argument("--code", type=Path, default=REPO_ROOT, help="the repo with your code (default: this one)")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the zip (default: here)")


def run(args) -> None:
    try:
        task3 = None if args.task3 is None else parse_task3(args.task3)
        target, results, files = collect(args.name, args.student_id, args.pdf, args.wide, args.ambiguous, task3,
                                         args.code, args.out, images=not args.no_images)
    except CollectError as err:
        sys.exit(f"error: {err}")
    print(format_checklist(results))
    missing = sum(result.missing for result in results)
    if missing:
        print(f"{missing} item(s) missing, 10% of the grade each: see the ✗ lines above")
    if not next(result for result in results if result.id == "walkthroughs").present:
        print(f"walkthrough notebooks are packed from {args.code / RELEASE_WALKTHROUGHS}/: their points come from the "
              "tests in them, so save your work on them there")
    print(f"packed {files} files into {target} ({target.stat().st_size / 1e6:.1f} MB); upload it to Gradescope")


def parse_task3(specs) -> dict:
    """{case: folder} from `eps=DIR x0=DIR xt=DIR`."""
    folders = {}
    for spec in specs:
        case, _, folder = spec.partition("=")
        if case not in TASK3_CASES or not folder:
            raise CollectError(f"--task3 {spec!r}: write CASE=DIR with CASE one of {', '.join(TASK3_CASES)}")
        if case in folders:
            raise CollectError(f"--task3 gives {case} twice")
        folders[case] = Path(folder)
    return folders


def check_inputs(name, student_id, pdf: Path, folders: dict, code: Path, target: Path) -> None:
    """Every reason not to pack, found before anything is copied."""
    if not NAME_PATTERN.fullmatch(name):
        raise CollectError(f"--name {name!r}: use only letters, digits, '_', '-' or '.' (no spaces or slashes)")
    if not STUDENT_ID_PATTERN.fullmatch(student_id):  # the grader reads the id back after the zip name's last '_'
        raise CollectError(f"--student_id {student_id!r}: use only letters, digits, '-' or '.' (no '_', spaces or "
                           "slashes)")
    if target.exists():
        raise CollectError(f"{target} already exists; move it away first (it is never overwritten)")
    missing = [f"{name}/" for name in CODE_FOLDERS if not (code / name).is_dir()]
    missing += [name for name in CODE_FILES if not (code / name).is_file()]
    if missing:
        raise CollectError(f"{code} is not the assignment's repo (no {', '.join(missing)}); run from it or pass --code DIR")
    if not pdf.is_file() or pdf.suffix.lower() != ".pdf":
        raise CollectError(f"--pdf {pdf}: no such .pdf file")
    for layout_name, folder in folders.items():
        if folder.is_dir():
            continue
        if layout_name in REQUIRED:
            flag, command = REQUIRED[layout_name]
            raise CollectError(f"no folder {folder} for {layout_name}/: run `{command}` first (on a GPU), or pass "
                               f"{flag} DIR; without a GPU, pass --no_images instead (see --help)")
        raise CollectError(f"--task3 {layout_name.split('/')[-1]}={folder}: no such folder")


def packed(folder: Path):
    """The files of `folder` worth submitting, as (path, path relative to `folder`)."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and path.suffix.lower() not in LEFT_OUT_SUFFIXES and not LEFT_OUT_FOLDERS & set(relative.parts):
            yield path, relative


def packing_plan(pdf: Path, folders: dict, code: Path) -> list:
    """(source file, path in the archive) for everything the zip will hold."""
    plan = [(code / name, Path(name)) for name in CODE_FILES] + [(pdf, Path(pdf.name))]
    for name in CODE_FOLDERS:
        plan += [(path, name / relative) for path, relative in packed(code / name)]
    for layout_name, folder in folders.items():
        plan += [(path, layout_name / relative) for path, relative in packed(folder)]
    notebooks = code / RELEASE_WALKTHROUGHS  # where the release put them and students ran them
    plan += [(notebooks / name, Path(WALKTHROUGHS_DIR) / name) for name in WALKTHROUGH_NOTEBOOKS
             if (notebooks / name).is_file()]
    return plan


def write_zip(staging: Path, target: Path) -> int:
    files = sorted(path for path in staging.rglob("*") if path.is_file())
    with new_zip(target) as archive:
        for path in files:
            method = zipfile.ZIP_STORED if path.suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            archive.write(path, path.relative_to(staging).as_posix(), compress_type=method)
    return len(files)


def image_folders(wide, ambiguous, task3, images: bool) -> dict:
    """{layout name: folder} of the image folders to pack: the given ones, else main.py's; none without `images`."""
    if not images:
        given = [flag for flag, value in (("--wide", wide), ("--ambiguous", ambiguous), ("--task3", task3))
                 if value is not None]
        if given:
            raise CollectError(f"--no_images packs no image folders, but {' and '.join(given)} names one: "
                               "leave out one or the other")
        return {}
    if task3 is None:  # Task 3 is optional: the cases main.py made
        task3 = {case: folder for case, folder in DEFAULT_TASK3.items() if folder.is_dir()}
    folders = {WIDE_DIR: Path(DEFAULT_WIDE if wide is None else wide),
               AMBIGUOUS_DIR: Path(DEFAULT_AMBIGUOUS if ambiguous is None else ambiguous)}
    folders.update({task3_folder(case): Path(folder) for case, folder in task3.items()})
    return folders


def collect(name: str, student_id: str, pdf: Path, wide: Path | None = None, ambiguous: Path | None = None,
            task3: dict | None = None, code: Path = REPO_ROOT, out: Path = Path("."), images: bool = True) -> tuple:
    """Write `out/NAME_ID.zip`; returns (its path, the checklist of what it holds, the number of files).

    `wide` and `ambiguous` default to where main.py writes them; `task3` maps cases to folders, and None takes
    the default folders that exist (Task 3 is optional). `images=False` packs no image folder (WITHOUT_A_GPU)
    and refuses any given one. Raises CollectError, having written nothing, when the code, the report or a
    given folder is missing.
    """
    code, out = Path(code), Path(out)
    folders = image_folders(wide, ambiguous, task3, images)
    target = out / submission_zip_name(name, student_id)
    check_inputs(name, student_id, Path(pdf), folders, code, target)
    plan = packing_plan(Path(pdf), folders, code)

    out.mkdir(parents=True, exist_ok=True)
    # Stage the exact tree first, next to the zip (a small /tmp cannot run out), so the checklist judges
    # what is packed rather than what was asked for.
    with tempfile.TemporaryDirectory(prefix=".collect-", dir=out) as scratch:
        staging = Path(scratch)
        for source, relative in tqdm(plan, desc="copying", unit="file", disable=len(plan) < PROGRESS_FROM):
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, staging / relative)
        try:
            results = check_submission(staging, code / "data")
        except PromptFileError as err:  # the repo's own data file: the expected images are unknown
            raise CollectError(str(err)) from err
        files = write_zip(staging, target)
    return target, results, files
