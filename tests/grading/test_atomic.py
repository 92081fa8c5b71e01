"""A file written atomically is the old one or the complete new one, never half of one."""

import pytest

from grading.atomic import atomic_write


def test_the_new_content_replaces_the_old_and_no_temporary_stays(tmp_path):
    path = tmp_path / "grades" / "grades.csv"  # its folder is made
    with atomic_write(path) as handle:
        handle.write("old\n")
    with atomic_write(path) as handle:
        handle.write("new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["grades.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"score": 1}')
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as handle:
        handle.write('{"sco')
        raise KeyboardInterrupt  # stopped mid-write, as a killed grader is
    assert path.read_text() == '{"score": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
