"""Writing a new zip file: students upload what `collect` packs, instructors what `gradescope` builds, so
neither may replace an existing file or survive half-written.

Standard library only: this module ships to students with `python -m grading collect`.
"""

import zipfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def new_zip(path: Path):
    """A `zipfile.ZipFile` (deflated unless a member says otherwise) writing the new file `path`; removed
    again if anything fails before it is complete."""
    sink = open(path, "xb")  # "x": never replaces a file, not even one that appeared since the caller checked
    try:
        with sink, zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            yield archive
    except BaseException:
        Path(path).unlink()  # a half-written zip must not be uploaded by mistake
        raise
