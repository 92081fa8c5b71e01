"""The limited runner survives what hostile or broken submissions do, and always reports."""

import sys
from pathlib import Path

from grading.sandbox import run_limited


def python(code, tmp_path, **limits):
    return run_limited([sys.executable, "-c", code], cwd=tmp_path, **limits)


def test_normal_run_reports_output_and_exit_code(tmp_path):
    result = python("print('hello'); raise SystemExit(3)", tmp_path)
    assert (result.returncode, result.timed_out, result.output.strip()) == (3, False, "hello")


def test_endless_loop_and_its_forked_children_are_stopped(tmp_path):
    code = "import subprocess, time; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True); time.sleep(60)"
    result = python(code, tmp_path, timeout_s=6)  # time to start Python and print, even on a loaded machine
    assert result.timed_out and result.returncode is None and "time limit" in result.summary
    grandchild = Path(f"/proc/{int(result.output.split()[0])}/status")
    # gone, or a zombie waiting for a reaper: either way it no longer runs
    assert not grandchild.exists() or "State:\tZ" in grandchild.read_text()


def test_megabytes_of_output_are_cut_and_cannot_fill_the_disk(tmp_path):
    result = python("while True: print('x' * 1000)", tmp_path, timeout_s=30, output_bytes=1000, file_bytes=1 << 20)
    # writes past the file-size limit fail (CPython ignores SIGXFSZ and exits on EFBIG): the child stops
    assert not result.timed_out and result.returncode != 0
    assert result.output_bytes == 1 << 20
    assert len(result.output) < 1200 and "output cut" in result.output


def test_memory_hog_fails_inside_the_child(tmp_path):
    result = python("x = bytearray(3 << 30)", tmp_path, memory_bytes=1 << 30)
    assert result.returncode == 1 and "MemoryError" in result.output


def test_child_gets_no_grader_secrets_and_an_offline_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_TOKEN", "secret")
    result = python("import os; print(os.environ.get('GRADER_TOKEN'), os.environ['HF_HUB_OFFLINE'])", tmp_path)
    assert result.output.split() == ["None", "1"]
