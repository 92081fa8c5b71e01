"""Batch grading: shards split the students, a second run resumes instead of regrading, one broken
submission does not stop the rest, and merge joins the shards into one gradebook."""

import csv
import json
import shutil
import zipfile

import pytest
from submissions import REPO, add_placeholder_outputs, solved_submission

from grading.batch import BatchError, parse_shard, run_batch, submissions_in
from grading.merge import MergeError, merge
from grading.release import release


def test_shards_are_parsed_and_checked():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "2", "a/b"):
        with pytest.raises(BatchError, match="--shard"):
            parse_shard(bad)


def test_an_empty_or_missing_folder_is_refused(tmp_path):
    with pytest.raises(BatchError, match="no .zip files or folders"):
        submissions_in(tmp_path)
    with pytest.raises(BatchError, match="is not a folder"):
        submissions_in(tmp_path / "nowhere")
    with pytest.raises(MergeError, match="no \\*/results.json"):
        merge([tmp_path], tmp_path / "grades.csv")


def test_hidden_entries_are_not_students_and_one_name_twice_is_refused(tmp_path):
    for name in (".ipynb_checkpoints", ".DS_Store_folder", "Kim_1", "Lee_2"):
        (tmp_path / name).mkdir()
    (tmp_path / ".Park_3.zip").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a submission")
    assert [path.name for path in submissions_in(tmp_path)] == ["Kim_1", "Lee_2"]
    (tmp_path / "Kim_1.zip").write_bytes(b"")
    with pytest.raises(BatchError, match="more than one submission named Kim_1"):
        submissions_in(tmp_path)


def test_a_resumed_batch_names_a_result_an_older_grader_wrote(tmp_path):
    (tmp_path / "submissions" / "alice").mkdir(parents=True)
    old = tmp_path / "grades" / "alice" / "results.json"  # graded already (same stage), before tasks were recorded
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"score": 5, "extra_data": {"stage": "unit", "tiny": False},
                               "tests": [{"name": "Task 1 · CLIP score tier", "score": 5, "max_score": 5}]}))
    with pytest.raises(MergeError, match=f"{old}: tests\\[0\\] records no task"):
        run_batch(tmp_path / "submissions", tmp_path / "grades", "unit", False, release_dir=tmp_path / "release")


@pytest.mark.slow
def test_two_shards_resume_and_merge(tmp_path):
    release_dir = tmp_path / "release"
    release(REPO, release_dir)
    students = tmp_path / "submissions"
    students.mkdir()
    solved = solved_submission(release_dir, students / "alice")
    add_placeholder_outputs(solved, release_dir / "data")
    starter = shutil.copytree(release_dir, tmp_path / "bob")  # handed in the starter code, zipped
    with zipfile.ZipFile(students / "bob.zip", "w") as zf:
        for path in starter.rglob("*"):
            zf.write(path, path.relative_to(starter))
    (students / "carol.zip").write_bytes(b"this is not a zip")

    first = run_batch(students, tmp_path / "shard1", "unit", False, (1, 2), release_dir)  # alice, carol
    second = run_batch(students, tmp_path / "shard2", "unit", False, (2, 2), release_dir)  # bob
    assert [row["student"] for row in first] == ["alice", "carol"]
    assert [row["student"] for row in second] == ["bob"]

    graded = (tmp_path / "shard1" / "alice" / "results.json").stat().st_mtime_ns
    run_batch(students, tmp_path / "shard1", "unit", False, (1, 2), release_dir)
    assert (tmp_path / "shard1" / "alice" / "results.json").stat().st_mtime_ns == graded  # resumed, not regraded

    rows = merge([tmp_path / "shard1", tmp_path / "shard2"], tmp_path / "grades.csv")
    with open(tmp_path / "grades.csv") as handle:
        table = {row["student"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 3 and set(table) == {"alice", "bob", "carol"}
    assert float(table["alice"]["score"]) == pytest.approx(12.5, abs=1e-3)
    assert float(table["alice"]["Task 1"]) == pytest.approx(5, abs=1e-3)
    assert float(table["bob"]["score"]) == 0
    assert float(table["carol"]["score"]) == 0 and "not a readable zip" in table["carol"]["note"]
