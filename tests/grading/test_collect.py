"""collect: the zip holds the submission layout at its root, refuses to overwrite or to pack without the
code and the required folders, and reports the checklist of what it packed."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from argparse import Namespace
from pathlib import Path

import pytest
from fake_submission import DATA_DIR, PDF_BYTES, write_code, write_images

from grading.checklist import ambiguous_image_names, wide_image_names
from grading.collect import CollectError, collect, run
from grading.submission import unpack

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("task0_schedules_and_ddim.ipynb", "task1_wide_image.ipynb", "task2_views_and_anagrams.ipynb",
             "task3_sync_targets.ipynb")


@pytest.fixture
def student(tmp_path):
    """A student's repo after running main.py for Tasks 1, 2 and the eps case of Task 3, working through the
    notebooks where the release puts them, and writing a report."""
    code = write_code(tmp_path / "repo")
    # `python -m grading collect` run from the repo imports the repo's own synckit/ first: the course's layout.py
    shutil.copy(REPO / "synckit" / "layout.py", code / "synckit")
    outputs = code / "outputs"
    write_images(outputs / "submission" / "wide_images", wide_image_names(DATA_DIR))
    ambiguous = write_images(outputs / "submission" / "ambiguous_images", ambiguous_image_names(DATA_DIR))
    (ambiguous / "a_photo_of_a_duck-a_photo_of_a_rabbit.gif").write_bytes(b"GIF89a")
    write_images(outputs / "task3_eps" / "ambiguous_images", ambiguous_image_names(DATA_DIR))
    (code / "report.pdf").write_bytes(PDF_BYTES)
    notebooks = code / "notebooks" / "walkthroughs"
    (notebooks / ".ipynb_checkpoints").mkdir(parents=True)
    for name in NOTEBOOKS:
        (notebooks / name).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        (notebooks / ".ipynb_checkpoints" / name).write_text("{}")
    (notebooks / "notes.txt").write_text("not a notebook")
    return code


def pack(code, **changes):
    arguments = dict(name="Hong", student_id="20241234", pdf=code / "report.pdf",
                     wide=code / "outputs/submission/wide_images", ambiguous=code / "outputs/submission/ambiguous_images",
                     task3={"eps": code / "outputs/task3_eps/ambiguous_images"}, code=code, out=code.parent / "zips")
    arguments.update(changes)
    return collect(**arguments)


def test_the_layout_is_at_the_zip_root_without_caches_or_gifs(student, tmp_path):
    target, results, files = pack(student)
    assert target == tmp_path / "zips" / "Hong_20241234.zip"
    names = zipfile.ZipFile(target).namelist()
    assert len(names) == files
    assert {"main.py", "eval.py", "report.pdf", "data/wide_image_prompts.json", "guidance/__init__.py",
            "wide_images/eval.json", "wide_images/A_beach_scene_at_sunrise_with_golden_sands_243.png",
            "ambiguous_images/an_oil_painting_of_a_horse.png", "task3/eps/eval.json"} <= set(names)
    assert sorted(name for name in names if name.startswith("walkthroughs/")) == [f"walkthroughs/{name}" for name in NOTEBOOKS]
    assert not [name for name in names if "__pycache__" in name or name.endswith(".gif") or name.startswith("outputs/")]
    assert not [name for name in names if name.startswith("notebooks/") or "checkpoints" in name]
    # the grader finds the code at the root, and only Task 3's missing cases are missing
    assert unpack(target, tmp_path / "graded") == tmp_path / "graded"
    assert [result.id for result in results if result.missing] == ["task3.eval", "task3.images"]
    assert [path.name for path in target.parent.iterdir()] == [target.name]  # the staging folder is gone


def test_without_task3_folders_task3_is_not_attempted(student):
    _, results, _ = pack(student, task3={})
    assert not any(result.missing for result in results)


def test_missing_images_are_packed_and_reported(student):
    (student / "outputs/submission/wide_images/eval.json").unlink()
    target, results, _ = pack(student)
    assert target.is_file()
    assert "wide_images/eval.json is missing" in next(r for r in results if r.id == "task1.eval").detail


def test_without_the_notebooks_the_zip_is_made_and_says_where_they_are_taken_from(student, capsys):
    shutil.rmtree(student / "notebooks")
    args = Namespace(name="Hong", student_id="20241234", pdf=student / "report.pdf",
                     wide=student / "outputs/submission/wide_images",
                     ambiguous=student / "outputs/submission/ambiguous_images", task3=None, code=student,
                     out=student.parent / "zips", no_images=False)
    run(args)
    printed = capsys.readouterr().out
    assert "- Walkthrough notebooks" in printed and "4 of 4 notebooks missing" in printed
    assert f"walkthrough notebooks are packed from {student / 'notebooks' / 'walkthroughs'}/" in printed
    names = zipfile.ZipFile(student.parent / "zips" / "Hong_20241234.zip").namelist()
    assert "main.py" in names and not [name for name in names if name.startswith("walkthroughs/")]


@pytest.mark.parametrize("change, message", [
    (dict(name="Hong/Gildong"), "--name"),
    (dict(name=".."), "--name"),
    (dict(student_id="2024 1234"), "--student_id"),
    (dict(pdf=Path("nowhere.pdf")), "--pdf"),
    (dict(student_id="2024_1234"), "--student_id.*no '_'"),  # the id is read back after the zip name's last '_'
    (dict(wide=Path("outputs/elsewhere")), "python main.py --app wide_image --all_prompts"),
    (dict(ambiguous=Path("outputs/elsewhere")), "without a GPU, pass --no_images"),
    (dict(task3={"xt": Path("outputs/task3_xt/ambiguous_images")}), "--task3 xt="),
])
def test_bad_inputs_stop_before_anything_is_written(student, change, message):
    with pytest.raises(CollectError, match=message):
        pack(student, **change)
    assert not (student.parent / "zips").exists()


def test_no_images_packs_the_rest_and_the_checklist_reports_each_missing_item(student):
    target, results, _ = pack(student, wide=None, ambiguous=None, task3=None, images=False)
    names = zipfile.ZipFile(target).namelist()
    assert {"main.py", "report.pdf", "guidance/__init__.py", f"walkthroughs/{NOTEBOOKS[0]}"} <= set(names)
    assert not [name for name in names if name.startswith(("wide_images/", "ambiguous_images/", "task3/"))]
    assert [result.id for result in results if result.missing] == ["task1.eval", "task1.images", "task2.eval",
                                                                    "task2.images"]
    assert not next(result for result in results if result.id == "task3.images").attempted


@pytest.mark.parametrize("given, flags", [
    (dict(wide=Path("outputs/submission/wide_images")), "--wide"),
    (dict(ambiguous=Path("outputs/submission/ambiguous_images")), "--ambiguous"),
    (dict(task3={"eps": Path("outputs/task3_eps/ambiguous_images")}), "--task3"),
    (dict(wide=Path("w"), ambiguous=Path("a")), "--wide and --ambiguous"),
])
def test_no_images_with_an_image_folder_is_refused(student, given, flags):
    arguments = dict(wide=None, ambiguous=None, task3=None, images=False)
    with pytest.raises(CollectError, match=f"--no_images packs no image folders, but {flags} names one"):
        pack(student, **{**arguments, **given})
    assert not (student.parent / "zips").exists()


def test_a_repo_without_the_code_is_refused(student):
    (student / "eval.py").unlink()
    with pytest.raises(CollectError, match=r"no eval.py.*--code"):
        pack(student)


def test_an_existing_zip_is_never_overwritten(student):
    target, _, _ = pack(student)
    before = target.read_bytes()
    with pytest.raises(CollectError, match="already exists"):
        pack(student)
    assert target.read_bytes() == before


def test_the_command_uses_main_py_folders_and_prints_the_checklist(student):
    command = [sys.executable, "-m", "grading", "collect", "--name", "Hong", "--student_id", "20241234",
               "--pdf", "report.pdf", "--code", "."]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=student, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "✓ Code" in done.stdout and "✗ Task 3 (optional): eval.json" in done.stdout  # eps found, x0 and xt not
    assert "✓ Walkthrough notebooks" in done.stdout and "packed from" not in done.stdout
    assert "2 item(s) missing" in done.stdout and (student / "Hong_20241234.zip").is_file()
    again = subprocess.run(command, cwd=student, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_the_command_without_a_gpu_packs_with_no_images_and_refuses_it_with_a_folder(student):
    shutil.rmtree(student / "outputs")  # a CPU-only student has no images
    command = [sys.executable, "-m", "grading", "collect", "--name", "Hong", "--student_id", "20241234",
               "--pdf", "report.pdf", "--code", ".", "--no_images"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    mixed = subprocess.run(command + ["--wide", "."], cwd=student, env=env, capture_output=True, text=True, timeout=60)
    assert mixed.returncode != 0 and "--no_images packs no image folders, but --wide names one" in mixed.stderr
    assert not (student / "Hong_20241234.zip").exists()
    done = subprocess.run(command, cwd=student, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "✗ Task 1: output images" in done.stdout and "4 item(s) missing" in done.stdout
    assert "- Task 3 (optional)" in done.stdout and (student / "Hong_20241234.zip").is_file()
