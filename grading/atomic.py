"""Writing a file so that a reader sees the old file or the new one, never half of one.

A grader stopped mid-write (Gradescope's time limit, a killed batch) must not leave half a results.json
or gradebook for Gradescope, a resumed batch or a spreadsheet to read: each is written to a temporary file
beside its target and renamed onto it, which is atomic on one file system.
"""

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path, newline: str | None = None):
    """A UTF-8 text file to write, which replaces `path` (its folder made if missing) only once it is complete;
    if writing fails, `path` is left as it was and no temporary file stays behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline=newline) as handle:  # not the locale's: notebooks hold Korean
            yield handle
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
