"""Unpacking submissions: what could escape the scratch folder or explode is refused before writing."""

import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from grading.submission import SubmissionError, unpack

REPO = Path(__file__).resolve().parents[2]


def make_zip(path: Path, entries: dict, symlink=None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            zf.writestr(name, text)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


CODE = {"Kim_2024123/guidance/base_model.py": "# code\n", "Kim_2024123/wide_images/a.png": "png"}


def test_a_zipped_enclosing_folder_is_found(tmp_path):
    root = unpack(make_zip(tmp_path / "Kim_2024123.zip", CODE), tmp_path / "work")
    assert root == tmp_path / "work" / "Kim_2024123" and (root / "wide_images" / "a.png").is_file()


def test_a_folder_submission_is_copied_not_linked(tmp_path):
    folder = tmp_path / "sub"
    (folder / "guidance").mkdir(parents=True)
    (folder / "guidance" / "base_model.py").write_text("# code\n")
    root = unpack(folder, tmp_path / "work")
    (root / "guidance" / "base_model.py").write_text("changed")
    assert (folder / "guidance" / "base_model.py").read_text() == "# code\n"


@pytest.mark.parametrize("entries, symlink, message", [
    ({**CODE, "../evil.py": "x"}, None, "outside the submission"),
    ({**CODE, "/tmp/evil.py": "x"}, None, "outside the submission"),
    ({**CODE, "a\\..\\..\\evil.py": "x"}, None, "outside the submission"),
    (CODE, "Kim_2024123/tests_link", "symbolic link"),
    ({"notes.txt": "no code"}, None, "is the code included"),
])
def test_dangerous_or_codeless_zips_are_refused(tmp_path, entries, symlink, message):
    archive = make_zip(tmp_path / "s.zip", entries, symlink)
    with pytest.raises(SubmissionError, match=message):
        unpack(archive, tmp_path / "work")
    assert not (tmp_path / "evil.py").exists()


def test_zip_bomb_is_refused_before_writing(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("guidance/base_model.py", "0" * (10 << 20))  # 10 MB of zeros compress to ~10 kB
    assert archive.stat().st_size < 100_000
    with pytest.raises(SubmissionError, match="more than"):
        unpack(archive, tmp_path / "work", max_bytes=1 << 20)
    assert list((tmp_path / "work").iterdir()) == []


def test_symlink_in_a_folder_submission_is_refused(tmp_path):
    folder = tmp_path / "sub"
    shutil.copytree(REPO / "guidance", folder / "guidance")
    (folder / "hidden").symlink_to(REPO / "tests")
    with pytest.raises(SubmissionError, match="symbolic link"):
        unpack(folder, tmp_path / "work")


def test_not_a_zip(tmp_path):
    fake = tmp_path / "s.zip"
    fake.write_text("not a zip")
    with pytest.raises(SubmissionError, match="not a readable zip"):
        unpack(fake, tmp_path / "work")
