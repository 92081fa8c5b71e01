"""Unpacking a submission (a zip or a folder) into the grader's scratch space, safely.

Everything is checked before anything is written: no path may leave the destination (absolute paths,
`..`), no symbolic links (they could point at hidden tests or the grader's files), and the total size and
file count are capped so a zip bomb is refused instead of filling the disk.
"""

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

MAX_TOTAL_BYTES = 1 << 30
MAX_FILES = 20_000
CODE_MARKER = Path("guidance") / "base_model.py"


class SubmissionError(ValueError):
    """The submission cannot be graded as it is; the message says what is wrong."""


def student_of(entry: Path) -> str:
    """The student a submission belongs to: the zip's or the folder's name."""
    return entry.stem if entry.suffix.lower() == ".zip" else entry.name


def submission_entries(folder: Path) -> list:
    """Every student's entry of a folder of submissions (a .zip or a folder each; hidden ones such as
    .ipynb_checkpoints left out), sorted, so that shards split the same list on every machine."""
    entries = sorted(path for path in folder.iterdir()
                     if not path.name.startswith(".") and (path.is_dir() or path.suffix.lower() == ".zip"))
    students = [student_of(entry) for entry in entries]
    twice = sorted({name for name in students if students.count(name) > 1})
    if twice:
        raise SubmissionError(f"more than one submission named {', '.join(twice)} (a zip and a folder?); keep one each")
    return entries


def check_member(name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))  # zips made on Windows may use backslashes
    drive = bool(path.parts) and ":" in path.parts[0]  # C:/...
    if path.is_absolute() or ".." in path.parts or drive:
        raise SubmissionError(f"the zip holds {name!r}, a path outside the submission folder")


def unpack_zip(archive: Path, dest: Path, max_bytes: int, max_files: int) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise SubmissionError(f"{archive.name} is not a readable zip file ({err})") from err
    with zf:
        members = zf.infolist()
        for info in members:
            check_member(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise SubmissionError(f"the zip holds a symbolic link {info.filename!r}; submit plain files only")
        if len(members) > max_files:
            raise SubmissionError(f"the zip holds {len(members)} entries, more than the {max_files} allowed")
        total = sum(info.file_size for info in members)
        if total > max_bytes:
            raise SubmissionError(f"the zip unpacks to {total} bytes, more than the {max_bytes} allowed")
        zf.extractall(dest)


def copy_folder(folder: Path, dest: Path, max_bytes: int, max_files: int) -> None:
    files, total = 0, 0
    for path in folder.rglob("*"):
        if path.is_symlink():
            raise SubmissionError(f"the submission holds a symbolic link {path.relative_to(folder)}; submit plain files only")
        if path.is_file():
            files, total = files + 1, total + path.stat().st_size
    if files > max_files or total > max_bytes:
        raise SubmissionError(f"the submission has {files} files and {total} bytes; the limits are {max_files} and {max_bytes}")
    shutil.copytree(folder, dest, dirs_exist_ok=True)


def find_code_root(folder: Path) -> Path:
    """The submitted repo: the folder itself or one folder below it (students often zip the enclosing folder)."""
    candidates = [folder] + sorted(path for path in folder.iterdir() if path.is_dir())
    roots = [path for path in candidates if (path / CODE_MARKER).is_file()]
    if not roots:
        raise SubmissionError(f"no {CODE_MARKER} in the submission or one folder below it: is the code included?")
    if len(roots) > 1:
        raise SubmissionError(f"more than one copy of the code in the submission: {[str(p.relative_to(folder)) for p in roots]}")
    return roots[0]


def unpack(submission: Path, dest: Path, max_bytes=MAX_TOTAL_BYTES, max_files=MAX_FILES) -> Path:
    """Copy `submission` (a .zip or a folder) into the new folder `dest`; returns the code root inside it."""
    dest.mkdir(parents=True, exist_ok=False)
    if submission.is_dir():
        copy_folder(submission, dest, max_bytes, max_files)
    elif submission.suffix.lower() == ".zip" and submission.is_file():
        unpack_zip(submission, dest, max_bytes, max_files)
    else:
        raise SubmissionError(f"{submission} is neither a folder nor a .zip file")
    return find_code_root(dest)
