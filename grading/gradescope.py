"""The Gradescope autograder zip for the CPU (unit) stage:

    python -m grading gradescope OUT.zip

holds, at its root,

    setup.sh         run once when Gradescope builds the image: the pinned packages (autograder/requirements.txt,
                     torch's CPU build), the student user, the solution's outputs (references.safetensors),
                     then /autograder/source closed to other users
    run_autograder   run per submission: `python -m grading grade ... --stage unit`, then no process of the
                     student user left; when the grade fails, a zero-score results.json that says why
                     (grading/grade_failed.py)
    source/          the repo's tracked files, solution and grading included: this zip is for instructors only
    release/         the student release, into which grade transplants each submission's TODO regions

Gradescope unpacks it into /autograder/source, so the repo is /autograder/source/source and the release
/autograder/source/release. The two scripts are plain files in grading/autograder/.
"""

import sys
import tempfile
import time
import zipfile
from pathlib import Path

from grading.release import ReleaseError, release, tracked_files
from grading.zips import new_zip
from synckit.layout import REPO_ROOT

SCRIPTS_DIR = Path(__file__).resolve().parent / "autograder"
SCRIPTS = ("setup.sh", "run_autograder")
EXECUTABLE_FILE = 0o100755  # a regular file, rwxr-xr-x: Gradescope runs both scripts directly
STORED_SUFFIXES = (".safetensors",)  # model weights barely compress: deflating them only costs time


class GradescopeError(ValueError):
    """The autograder zip cannot be built as asked; nothing was written. The message says what to do."""


def add_arguments(parser) -> None:
    parser.add_argument("out_zip", type=Path, help="the autograder zip to write (a new file)")


def run(args) -> None:
    try:
        count = build_autograder(REPO_ROOT, args.out_zip)
    except (GradescopeError, ReleaseError) as err:
        sys.exit(f"error: {err}")
    print(f"wrote {args.out_zip} ({count} files); upload it under Configure Autograder on Gradescope")


def check_present(repo: Path, files) -> None:
    """Refuse a tracked file deleted from the working tree: the autograder would lack it."""
    gone = [path for path in files if not (repo / path).is_file()]
    if gone:
        raise GradescopeError(f"tracked but missing from the working tree: {', '.join(gone[:5])}; restore or commit them")


def add_script(archive: zipfile.ZipFile, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = EXECUTABLE_FILE << 16  # the mode, whatever the checkout's is
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, (SCRIPTS_DIR / name).read_bytes())


def compression(name) -> int:
    return zipfile.ZIP_STORED if str(name).endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED


def build_autograder(repo: Path, out_zip: Path) -> int:
    """Write the autograder zip `out_zip` (a new file) for `repo`; returns how many files it holds."""
    repo, out_zip = Path(repo).resolve(), Path(out_zip)
    if out_zip.suffix != ".zip":
        raise GradescopeError(f"{out_zip} does not end in .zip; Gradescope takes a zip file")
    if out_zip.exists():
        raise GradescopeError(f"{out_zip} already exists; give a new file name (it is never overwritten)")
    if not out_zip.parent.is_dir():
        raise GradescopeError(f"{out_zip.parent} is not a folder; create it or write the zip elsewhere")
    files = tracked_files(repo)
    check_present(repo, files)
    with tempfile.TemporaryDirectory(prefix="synckit-gradescope-") as scratch:
        release_dir = Path(scratch) / "release"
        release(repo, release_dir)  # refuses broken markers before the zip exists
        released = sorted(path for path in release_dir.rglob("*") if path.is_file())
        with new_zip(out_zip) as archive:
            for name in SCRIPTS:
                add_script(archive, name)
            for path in files:
                archive.write(repo / path, f"source/{path}", compress_type=compression(path))
            for path in released:
                name = f"release/{path.relative_to(release_dir).as_posix()}"
                archive.write(path, name, compress_type=compression(name))
    return len(SCRIPTS) + len(files) + len(released)
