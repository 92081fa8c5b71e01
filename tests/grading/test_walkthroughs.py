"""walkthroughs: the notebooks of the students' zips go to nbgrader's submitted/<id>/walkthroughs/, the id read
from the zip's name by collect's own rule; nothing but the expected members is ever written, broken notebooks
are reported, written notebooks are kept unless --force, and bad input stops the run before it writes."""

import os
import subprocess
import sys
import zipfile
from argparse import Namespace
from pathlib import Path

import nbformat
import pytest
from fake_submission import PDF_BYTES, write_code

from grading.collect import CollectError, collect
from grading.walkthroughs import MISSING, NOT_A_NOTEBOOK, WRITTEN, WalkthroughsError, import_walkthroughs, run
from synckit.layout import student_id_of_zip, submission_zip_name

REPO = Path(__file__).resolve().parents[2]
TASK0, TASK1, TASK2, TASK3 = ("task0_schedules_and_ddim.ipynb", "task1_wide_image.ipynb",
                              "task2_views_and_anagrams.ipynb", "task3_sync_targets.ipynb")


def notebook(text: str) -> bytes:
    cell = nbformat.v4.new_markdown_cell(text)
    return nbformat.writes(nbformat.v4.new_notebook(cells=[cell])).encode("utf-8")


def write_zip(path: Path, members: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps a name as it is, `..` included
    return path


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "deep" / "inside" / "course"  # deep enough that `..` members could land in tmp_path
    folder.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text("c = get_config()\n")
    return folder


def submitted(course: Path, student: str) -> Path:
    return course / "submitted" / student / "walkthroughs"


def test_the_notebooks_of_a_zip_collect_made_land_in_the_nbgrader_layout(tmp_path, course, capsys):
    code = write_code(tmp_path / "repo")
    (code / "report.pdf").write_bytes(PDF_BYTES)
    notebooks = code / "notebooks" / "walkthroughs"
    notebooks.mkdir(parents=True)
    for name in (TASK0, TASK1, TASK2, TASK3):
        (notebooks / name).write_bytes(notebook(f"홍길동's {name}"))  # a student's text, not only ASCII
    # a name with an underscore: the id is what follows the last one
    target, _, _ = collect("Hong_Gildong", "20241234", code / "report.pdf", code=code, out=tmp_path / "zips",
                           images=False)

    students = import_walkthroughs([target.parent], course)

    assert students == {"20241234": {name: (WRITTEN, "") for name in (TASK0, TASK1, TASK2, TASK3)}}
    for name in (TASK0, TASK1, TASK2, TASK3):
        assert (submitted(course, "20241234") / name).read_bytes() == (notebooks / name).read_bytes()
    assert f"20241234 (Hong_Gildong_20241234.zip): written {TASK0}, {TASK1}, {TASK2}, {TASK3}" in capsys.readouterr().out


@pytest.mark.parametrize("name, student_id", [("Hong", "20241234"), ("Hong_Gildong", "20241234"),
                                              ("홍길동", "2024-12.34"), ("_x", "A1")])
def test_the_student_id_is_read_back_from_the_name_collect_gives_the_zip(name, student_id):
    assert student_id_of_zip(submission_zip_name(name, student_id)) == student_id


def test_collect_refuses_an_id_the_zip_name_could_not_give_back(tmp_path):
    assert student_id_of_zip(submission_zip_name("Hong", "2024_1234")) == "1234"  # why collect must refuse it
    with pytest.raises(CollectError, match="--student_id"):
        collect("Hong", "2024_1234", tmp_path / "report.pdf", code=tmp_path, out=tmp_path / "zips", images=False)
    assert not (tmp_path / "zips").exists()


def test_nothing_but_the_expected_notebooks_is_written(tmp_path, course):
    archive = write_zip(tmp_path / "zips" / "Kim_1.zip", {
        f"walkthroughs/{TASK0}": notebook("mine"),
        "../../escape.ipynb": notebook("out of the folder"),
        f"walkthroughs/../../../{TASK1}": notebook("out of the folder"),
        f"/walkthroughs/{TASK2}": notebook("absolute"),
        f"walkthroughs/sub/{TASK3}": notebook("one folder too deep"),
        "walkthroughs/extra.ipynb": notebook("not a walkthrough"),
        "walkthroughs/run.sh": "rm -rf ~",
    })
    before = {path for path in tmp_path.rglob("*") if path.is_file()}

    students = import_walkthroughs([archive], course)

    assert students["1"] == {TASK0: (WRITTEN, ""), TASK1: (MISSING, ""), TASK2: (MISSING, ""), TASK3: (MISSING, "")}
    after = {path for path in tmp_path.rglob("*") if path.is_file()}
    assert after - before == {submitted(course, "1") / TASK0}


def test_a_broken_notebook_is_reported_and_not_written(tmp_path, course, capsys, monkeypatch):
    monkeypatch.setattr("grading.walkthroughs.MAX_NOTEBOOK_BYTES", 10_000)
    archive = write_zip(tmp_path / "Kim_1.zip", {
        f"walkthroughs/{TASK0}": "{not json",
        f"walkthroughs/{TASK1}": '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}',  # JSON, but no cells
        f"walkthroughs/{TASK2}": notebook("fine"),
        f"walkthroughs/{TASK3}": notebook("x" * 20_000),  # a notebook, but larger than the limit
    })

    outcomes = import_walkthroughs([archive], course)["1"]

    assert [outcome for outcome, _ in outcomes.values()] == [NOT_A_NOTEBOOK, NOT_A_NOTEBOOK, WRITTEN, NOT_A_NOTEBOOK]
    assert "not appear to be JSON" in outcomes[TASK0][1] and "cells" in outcomes[TASK1][1]
    assert "more than nbgrader's limit" in outcomes[TASK3][1]
    assert sorted(path.name for path in submitted(course, "1").iterdir()) == [TASK2]
    line = capsys.readouterr().out
    assert f"not a notebook {TASK0} (" in line and f"written {TASK2};" in line


def test_a_submitted_notebook_is_kept_unless_forced(tmp_path, course, capsys):
    first, fixed = notebook("first"), notebook("fixed by hand")
    archive = write_zip(tmp_path / "Kim_1.zip", {f"walkthroughs/{TASK0}": first})
    import_walkthroughs([archive], course)
    fixed_by_hand = submitted(course, "1") / TASK0
    fixed_by_hand.write_bytes(fixed)

    run(Namespace(submissions=[archive], course=course, force=False))
    assert fixed_by_hand.read_bytes() == fixed
    printed = capsys.readouterr().out
    assert f"1 (Kim_1.zip): kept {TASK0};" in printed
    assert "0 written, 1 kept, 3 missing, 0 not a notebook" in printed and "rerun with --force to replace" in printed

    assert import_walkthroughs([archive], course, force=True)["1"][TASK0] == (WRITTEN, "")
    assert fixed_by_hand.read_bytes() == first


@pytest.mark.parametrize("bad, message", [
    ("Kim.zip", "not a submission zip's name, which is NAME_ID.zip"),
    ("Kim_1 (1).zip", "NAME_ID.zip"),
    ("notes.txt", "NAME_ID.zip"),
    ("Lee_2.zip", "not a readable zip file"),  # a text file named like a zip
    ("nowhere/", "no such file or folder"),
    ("Park_1.zip", "student id 1 in more than one zip"),  # Kim_1.zip's id
    ("folders/", "a folder, not a zip"),
])
def test_bad_input_stops_the_run_before_it_writes(tmp_path, course, bad, message):
    good = write_zip(tmp_path / "Kim_1.zip", {f"walkthroughs/{TASK0}": notebook("mine")})
    for name in ("Kim.zip", "Kim_1 (1).zip", "Park_1.zip"):
        write_zip(tmp_path / name, {f"walkthroughs/{TASK0}": notebook("mine")})
    (tmp_path / "notes.txt").write_text("notes")
    (tmp_path / "Lee_2.zip").write_text("not a zip")
    (tmp_path / "folders" / "Choi_3").mkdir(parents=True)  # an unpacked submission
    with pytest.raises(WalkthroughsError, match=message):
        import_walkthroughs([good, tmp_path / bad], course)
    assert not (course / "submitted").exists()


def test_a_folder_without_nbgrader_config_is_no_course(tmp_path):
    archive = write_zip(tmp_path / "Kim_1.zip", {f"walkthroughs/{TASK0}": notebook("mine")})
    with pytest.raises(WalkthroughsError, match="no nbgrader course folder"):
        import_walkthroughs([archive], tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()


def test_the_command_refuses_bad_input_in_one_message(tmp_path, course):
    (tmp_path / "Kim.zip").write_bytes(b"")
    with pytest.raises(SystemExit, match=r"^error: nothing was written; fix these first:\n  .*Kim.zip: .*NAME_ID.zip"):
        run(Namespace(submissions=[tmp_path / "Kim.zip"], course=course, force=False))


def test_the_command_reads_a_folder_of_zips(tmp_path, course):
    write_zip(tmp_path / "zips" / "Kim_1.zip", {f"walkthroughs/{TASK0}": notebook("mine")})
    command = [sys.executable, "-m", "grading", "walkthroughs", str(tmp_path / "zips"), "--course", str(course)]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"1 (Kim_1.zip): written {TASK0}; missing {TASK1}, {TASK2}, {TASK3}" in done.stdout
    assert "1 student(s) into" in done.stdout and (submitted(course, "1") / TASK0).is_file()
