"""The walkthrough notebooks of the students' submission zips, into the nbgrader course:

    python -m grading walkthroughs submissions/ --course notebooks

For each NAME_ID.zip (given, or in a given folder) it writes the zip's walkthroughs/<notebook> to
COURSE/submitted/<ID>/walkthroughs/<notebook>, where `nbgrader autograde walkthroughs` grades it, and prints one
line per student: which notebooks were written, kept, missing or not notebooks.

Zips are the students' and may be hostile. Only the members named walkthroughs/<a name of WALKTHROUGH_NOTEBOOKS>
are read, each up to MAX_NOTEBOOK_BYTES; where a notebook goes is made of the course, the id in the zip's name
(checked as collect checks it) and the known notebook name, never of a path in the zip. A notebook already in
submitted/ is kept unless --force, so a second run does not undo a fix made there by hand.
"""

import sys
import warnings
import zipfile
from pathlib import Path

import nbformat
from tqdm import tqdm

from grading.atomic import atomic_write
from grading.submission import SubmissionError, submission_entries
from synckit.layout import SUBMISSION_ZIP_FORM, WALKTHROUGH_NOTEBOOKS, WALKTHROUGHS_DIR, student_id_of_zip

COURSE_MARKER = "nbgrader_config.py"  # a folder without it is no nbgrader course (a mistyped --course)
SUBMITTED = "submitted"  # nbgrader's CourseDirectory.submitted_directory, unchanged in notebooks/nbgrader_config.py
MAX_NOTEBOOK_BYTES = 100_000 * 1024  # nbgrader's own limit on a submitted file (CourseDirectory.max_file_size)
# What became of a notebook, in the order a student's line lists them
WRITTEN, KEPT, MISSING, NOT_A_NOTEBOOK = "written", "kept", "missing", "not a notebook"


class WalkthroughsError(ValueError):
    """The zips or the course cannot be used as given; nothing was written. The message says what to do."""


def add_arguments(parser) -> None:
    parser.add_argument("submissions", nargs="+", type=Path, metavar="ZIP_OR_FOLDER",
                        help=f"students' {SUBMISSION_ZIP_FORM} files as `collect` makes them, or folders of them")
    parser.add_argument("--course", type=Path, required=True,
                        help=f"the nbgrader course folder, the one with {COURSE_MARKER} (this repo's: notebooks)")
    parser.add_argument("--force", action="store_true",
                        help=f"replace notebooks already in COURSE/{SUBMITTED}/ (default: keep them)")


def run(args) -> None:
    try:
        students = import_walkthroughs(args.submissions, args.course, args.force)
    except WalkthroughsError as err:
        sys.exit(f"error: {err}")
    counts = {kind: sum(kind == outcome for notebooks in students.values() for outcome, _ in notebooks.values())
              for kind in (WRITTEN, KEPT, MISSING, NOT_A_NOTEBOOK)}
    print(f"{len(students)} student(s) into {args.course / SUBMITTED}/: "
          + ", ".join(f"{count} {kind}" for kind, count in counts.items()))
    if counts[KEPT]:
        print(f"kept {counts[KEPT]} notebook(s) already in {args.course / SUBMITTED}/ (the lines above name them); "
              "rerun with --force to replace them with the zips' ones")


def submission_zips(paths) -> list:
    """The zips of `paths` (zips, and folders of submissions), refused all together, before anything is written,
    when any is not a readable NAME_ID.zip or two are the same student's."""
    zips, problems = [], []
    for path in map(Path, paths):
        if path.is_dir():
            try:
                entries = submission_entries(path)  # the grader's rule: every .zip and folder but hidden ones
            except SubmissionError as err:
                problems.append(f"{path}: {err}")
                continue
            zips += [entry for entry in entries if entry.is_file()]
            problems += [f"{entry}: a folder, not a zip; give the student's zip" for entry in entries if entry.is_dir()]
        elif path.is_file():
            zips.append(path)
        else:
            problems.append(f"{path}: no such file or folder")
    problems += [problem for problem in map(zip_problem, zips) if problem]
    by_student = {}
    for path in zips:
        by_student.setdefault(student_id_of_zip(path.name), []).append(str(path))
    problems += [f"student id {student} in more than one zip ({', '.join(paths)}); keep one"
                 for student, paths in by_student.items() if student is not None and len(paths) > 1]
    if problems:
        raise WalkthroughsError("nothing was written; fix these first:\n  " + "\n  ".join(problems))
    return zips


def zip_problem(path: Path) -> str:
    if student_id_of_zip(path.name) is None:
        return (f"{path}: not a submission zip's name, which is {SUBMISSION_ZIP_FORM} with the student id after the "
                "last '_', as `python -m grading collect` names it")
    try:
        with zipfile.ZipFile(path):
            return ""
    except (zipfile.BadZipFile, OSError) as err:
        return f"{path}: not a readable zip file ({err})"


def notebook_problem(data: bytes) -> str:
    """Why `data` is no notebook nbgrader can read, or "" when it is one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what nbformat repairs by itself (a cell without an id) is no problem
            nbformat.validate(nbformat.convert(nbformat.reader.reads(data.decode("utf-8")), nbformat.current_nbformat))
    # The bytes are the student's: nbformat reports what it cannot read as ValueError, AttributeError,
    # AssertionError, RecursionError or jsonschema's ValidationError, depending on where.
    except Exception as err:  # noqa: BLE001 - see above
        return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
    return ""


def extract_notebook(archive: zipfile.ZipFile, name: str, target: Path, force: bool) -> tuple:
    """(what became of notebook `name`, why) after writing the zip's copy of it to `target` if it may."""
    try:
        info = archive.getinfo(f"{WALKTHROUGHS_DIR}/{name}")  # the one member read: by its exact expected name
    except KeyError:
        return MISSING, ""
    if target.exists() and not force:
        return KEPT, ""
    if info.file_size > MAX_NOTEBOOK_BYTES:  # zipfile never returns more than this size, so it bounds the read
        return NOT_A_NOTEBOOK, f"{info.file_size} bytes, more than nbgrader's limit of {MAX_NOTEBOOK_BYTES}"
    try:
        data = archive.read(info)
    # A damaged, encrypted or oddly compressed member: zipfile raises BadZipFile, zlib.error, RuntimeError,
    # NotImplementedError or EOFError, depending on which.
    except Exception as err:  # noqa: BLE001 - see above
        return NOT_A_NOTEBOOK, f"unreadable in the zip ({err})"
    problem = notebook_problem(data)
    if problem:
        return NOT_A_NOTEBOOK, problem
    with atomic_write(target, newline="") as handle:  # a killed run leaves no half notebook to be kept next time
        handle.write(data.decode("utf-8"))
    return WRITTEN, ""


def student_line(student: str, archive: Path, notebooks: dict) -> str:
    parts = []
    for kind in (WRITTEN, KEPT, MISSING, NOT_A_NOTEBOOK):
        names = [f"{name} ({why})" if why else name for name, (outcome, why) in notebooks.items() if outcome == kind]
        if names:
            parts.append(f"{kind} {', '.join(names)}")
    return f"{student} ({archive.name}): " + "; ".join(parts)


def import_walkthroughs(paths, course: Path, force: bool = False) -> dict:
    """Write the walkthrough notebooks of the zips of `paths` into COURSE/submitted/<ID>/walkthroughs/;
    returns {student id: {notebook: (what became of it, why)}} and prints a line per student.
    Raises WalkthroughsError, having written nothing, when `course` or a zip cannot be used."""
    course = Path(course)
    if not (course / COURSE_MARKER).is_file():
        raise WalkthroughsError(f"{course} is no nbgrader course folder (no {COURSE_MARKER}); pass --course, "
                                "e.g. --course notebooks from the repo root")
    students = {}
    for path in tqdm(submission_zips(paths), desc="walkthroughs", unit="zip"):
        student = student_id_of_zip(path.name)
        folder = course / SUBMITTED / student / WALKTHROUGHS_DIR
        with zipfile.ZipFile(path) as archive:
            students[student] = {name: extract_notebook(archive, name, folder / name, force)
                                 for name in WALKTHROUGH_NOTEBOOKS}
        tqdm.write(student_line(student, path, students[student]))
    return students
