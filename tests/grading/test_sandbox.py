"""The limited runner survives what hostile or broken submissions do, and always reports."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from submissions import REPO

from grading.isolation import IsolationError, close_grader_files, closed_folders, processes_of, student_user
from grading.sandbox import RunResult, child_folder, run_limited


def python(code, tmp_path, **limits):
    return run_limited([sys.executable, "-c", code], cwd=tmp_path, **limits)


def test_normal_run_reports_output_and_exit_code(tmp_path):
    result = python("print('hello'); raise SystemExit(3)", tmp_path)
    assert (result.returncode, result.timed_out, result.output.strip()) == (3, False, "hello")


@pytest.mark.parametrize("returncode, timed_out, summary", [
    (None, True, "stopped at the time limit"),
    (-25, False, "killed for writing more than the file-size limit (printing megabytes?)"),
    (-9, False, "killed by signal 9 (out of memory?)"),
    (3, False, "the process exited with code 3: graded code must return, not exit"),
    (0, False, "the process exited with code 0"),
])
def test_how_a_child_stopped_is_said_in_words(returncode, timed_out, summary):
    assert RunResult(returncode, timed_out, "", 0).summary == summary


def runs(status: Path) -> bool:
    try:
        return "State:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


@pytest.mark.slow  # waits out a CPU limit (6 s)
def test_endless_loop_and_its_forked_children_are_stopped(tmp_path):
    code = "import subprocess, time; p = subprocess.Popen(['sleep', '60']); print(p.pid, flush=True); time.sleep(60)"
    result = python(code, tmp_path, timeout_s=6)  # time to start Python and print, even on a loaded machine
    assert result.timed_out and result.returncode is None and "time limit" in result.summary
    grandchild = Path(f"/proc/{int(result.output.split()[0])}/status")
    # gone, or a zombie waiting for a reaper: either way it no longer runs (SIGKILL lands within moments)
    for _ in range(50):
        if not runs(grandchild):
            break
        time.sleep(0.1)
    assert not runs(grandchild)


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


# As root the child runs as the student user, who must be able to start this Python. CI opens its folders
# (.ci/run); elsewhere a Python in a closed folder skips these tests, saying how to open it.
as_root = pytest.mark.skipif(
    os.geteuid() != 0 or (bool(closed_folders()) and os.environ.get("CI") != "true"),
    reason=f"needs root, and a Python the student user can start ({', '.join(closed_folders()) or 'none'} closed to "
           "other users: chmod o+x each, as .ci/run does)",
)


@as_root
def test_a_child_of_the_student_user_cannot_read_root_files_and_leaves_no_process(tmp_path):
    secret = tmp_path / "rubric.toml"  # pytest's tmp_path is root's alone (mode 700)
    secret.write_text("hidden_seed = 1")
    user = student_user()
    code = (f"import os, time\ntry:\n    open({str(secret)!r}).read()\nexcept OSError as err:\n    print(type(err).__name__)\n"
            "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\n"
            "print(os.getuid(), os.getgroups(), os.environ['HOME'], flush=True)")
    with child_folder(user) as folder:
        result = run_limited([sys.executable, "-c", code], cwd=folder / "own", user=user, own=folder / "own")
    denied, uid, *rest = result.output.split(maxsplit=2)
    assert (denied, int(uid)) == ("PermissionError", user.uid)
    assert rest[0].startswith("[] ") and rest[0].rstrip().endswith("/own/home")  # no groups; its own HOME
    assert processes_of(user.uid) == []  # the setsid double fork escaped the process group, not the user


@as_root
def test_what_a_child_leaves_to_trick_the_grader_is_removed_before_reading(tmp_path):
    user = student_user()
    code = ("import os\nos.symlink('/etc/shadow', 'out.txt')\nos.mkfifo('pipe')\nos.mkdir('folder')\n"
            "open('folder/real.txt', 'w').write('ok')\nos.symlink('/root', 'folder/link')")
    with child_folder(user) as folder:
        own = folder / "own"
        result = run_limited([sys.executable, "-c", code], cwd=own, user=user, own=own)
        assert result.returncode == 0, result.output
        assert sorted(str(path.relative_to(own)) for path in own.rglob("*")) == ["folder", "folder/real.txt", "home", "out", "tmp"]
    assert not folder.exists()


def test_a_setting_that_would_let_student_code_read_or_write_the_grader_files_is_refused():
    if os.geteuid() != 0:
        pytest.skip("checks root's own files")
    top = Path(tempfile.mkdtemp())  # pytest's tmp_path sits in a folder closed to others: this one is open
    try:
        os.chmod(top, 0o755)
        (top / "repo").mkdir()
        open_rubric = top / "rubric.toml"
        open_rubric.write_text("hidden_seed = 1")
        with pytest.raises(IsolationError, match="can be read by other users"):
            close_grader_files(top / "repo", [open_rubric], top / "closed" / "results.json")
        os.chmod(open_rubric, 0o600)
        close_grader_files(top / "repo", [open_rubric], top / "closed" / "results.json")
        assert (top / "repo").stat().st_mode & 0o777 == 0o700  # the grader's own tree is closed
        with pytest.raises(IsolationError, match="results folder"):
            close_grader_files(top / "repo", [], Path("/tmp/no-such-folder/results.json"))
    finally:
        shutil.rmtree(top)


GRADER_WITH_A_SURVIVOR = """
import subprocess, sys
from grading.isolation import student_user
user = student_user()  # claims a student user for this process, as a grade does
survivor = subprocess.Popen(["sleep", "120"], start_new_session=True, **user.popen_arguments())
print(user.uid, survivor.pid, flush=True)
sys.stdin.read()  # holds its user until the test closes stdin
"""


@as_root
def test_ending_a_grade_spares_what_a_side_by_side_grader_still_holds(tmp_path):
    """`isolation end` (run_autograder's last step) kills the student users' processes; those of a user that
    another grading process holds (batch shards on one machine) are that grader's checks at work."""
    end = [sys.executable, "-m", "grading.isolation", "end"]
    grader = subprocess.Popen([sys.executable, "-c", GRADER_WITH_A_SURVIVOR], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        uid, survivor = map(int, grader.stdout.readline().split())
        subprocess.run(end, cwd=REPO, check=True, capture_output=True)
        assert processes_of(uid) == [survivor]  # its grader still holds the user
        grader.stdin.close()
        grader.wait(timeout=60)
        assert processes_of(uid) == [survivor]  # a leftover now: no grader holds the user any more
        subprocess.run(end, cwd=REPO, check=True, capture_output=True)
        assert processes_of(uid) == []
    finally:
        grader.kill()
        grader.wait()
        grader.stdout.close()
        subprocess.run(end, cwd=REPO, capture_output=True)  # the survivor goes, whatever failed above
