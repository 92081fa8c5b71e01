"""A new zip never replaces a file and never stays half-written."""

import zipfile

import pytest

from grading.zips import new_zip


def test_a_new_zip_holds_what_was_written_deflated(tmp_path):
    path = tmp_path / "kit.zip"
    with new_zip(path) as archive:
        archive.writestr("a/b.txt", "hello " * 100)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("a/b.txt") == b"hello " * 100
        assert archive.getinfo("a/b.txt").compress_type == zipfile.ZIP_DEFLATED


def test_an_existing_file_is_never_replaced(tmp_path):
    path = tmp_path / "Hong_2024.zip"
    path.write_bytes(b"the zip uploaded yesterday")
    with pytest.raises(FileExistsError), new_zip(path):
        pass
    assert path.read_bytes() == b"the zip uploaded yesterday"


def test_a_zip_that_fails_halfway_is_removed(tmp_path):
    path = tmp_path / "kit.zip"
    with pytest.raises(OSError), new_zip(path) as archive:
        archive.writestr("first.txt", "written")
        archive.write(tmp_path / "missing.txt", "missing.txt")
    assert not path.exists()
