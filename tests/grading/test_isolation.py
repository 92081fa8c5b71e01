"""Isolation where grading really runs: Gradescope's layout, set up by the real setup.sh and graded by the real
run_autograder, as root. Hostile submissions try to forge the grade, poison the reference, read the rubric
and the solution, outlive the grader and delete its files; each must leave the grade exactly what the same
code scores without the attack, no secret in results.json, the grader's files as they were, and no process
or temporary file of the student user behind.

The expected scores are not asked of the grader: the solution scores the rubric's full 12.5 unit points,
and an attack that also breaks a function is compared with the same broken function without the attack.
"""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from gradescope_layout import run_autograder, run_setup, unpack_like_gradescope
from submissions import REPO, add_placeholder_outputs, edit, solved_submission

from grading.gradescope import build_autograder
from grading.isolation import SHARED_TEMP, STUDENT_USER, create_user, idle_users, processes_of
from grading.markers import BEGIN_SOLUTION, END_SOLUTION, Region, files_with_regions, split_regions
from grading.results import schema_problems
from grading.rubric import RUBRIC_PATH, load_rubric
from grading.withhold import MIN_SECRET_CHARS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: creates the student user and grades as Gradescope does"),
]
FULL_MARKS = 12.5  # the rubric's unit share of tasks 1-3: 10 * 0.5 + 10 * 0.5 + 5 * 0.5
TWEEDIE = "        return (xts - sigmas[timestep] * eps) / alphas[timestep]"
WRONG_TWEEDIE = "        return (xts - sigmas[timestep] * eps) / alphas[timestep] ** 2"
ROTATE = "        return torch.rot90(im, k=-1, dims=(-2, -1))"
INNER_ROTATE = "    coords = torch.arange(img_size"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """/autograder after Gradescope's image build: the zip unpacked, setup.sh run."""
    base = tmp_path_factory.mktemp("gradescope")
    build_autograder(REPO, base / "autograder.zip")
    root = base / "autograder"
    unpack_like_gradescope(base / "autograder.zip", root)
    run_setup(root)
    return root


def kit_snapshot(root: Path) -> dict:
    """Every file of the autograder (solution, rubric, references, release) with its content hash."""
    kit = root / "source"
    return {str(path.relative_to(kit)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(kit.rglob("*")) if path.is_file() and "__pycache__" not in path.parts}


def leftovers(uid: int) -> list:
    found = []
    for top in SHARED_TEMP:
        for folder, dirs, files in os.walk(top):
            found += [os.path.join(folder, name) for name in dirs + files
                      if os.lstat(os.path.join(folder, name)).st_uid == uid]
    return found


def submit(root: Path, edits=(), **env) -> dict:
    """Grade the solution with `edits` (file, old text, new text) through run_autograder; returns results.json
    after checking that nothing of the student user is left and the autograder's files are unchanged."""
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    release = root / "source" / "release"
    solved_submission(release, submission)
    add_placeholder_outputs(submission, release / "data")
    for path, old, new in edits:
        edit(submission / path, old, new)
    before = kit_snapshot(root)
    done = run_autograder(root, timeout=900, **env)
    time.sleep(1)  # a survivor's delayed write would land here
    results = root / "results" / "results.json"
    document = json.loads(results.read_text())
    assert schema_problems(document) == []
    with idle_users() as users:  # the one this grade ran as among them (a grader running beside it holds its own)
        for user in users:
            assert processes_of(user.uid) == [], (user, done.stdout[-2000:])
            assert leftovers(user.uid) == [], user
    assert kit_snapshot(root) == before
    assert results.stat().st_uid == 0 and document.get("score") != 1000
    return document


def attack(code: str, anchor: str = TWEEDIE, path: str = "guidance/base_model.py") -> tuple:
    """An edit that runs `code` (once per process, each attack on its own) before the line `anchor` of a TODO
    function."""
    indent = anchor[:len(anchor) - len(anchor.lstrip())]
    done = f"_attacked_{hashlib.sha256(code.encode()).hexdigest()[:12]}"
    body = "\n".join(f"{indent}    {line}" for line in code.strip().splitlines())
    return (path, anchor, f"{indent}import os as _os\n{indent}if not hasattr(_os, {done!r}):\n"
                          f"{indent}    setattr(_os, {done!r}, True)\n{body}\n{anchor}")


def test_setup_closes_the_autograder_to_other_users(root):
    user = create_user()
    assert user.name == STUDENT_USER and user.uid != 0
    assert (root / "source").stat().st_mode & 0o077 == 0
    assert (root / "source" / "references.safetensors").is_file()


def test_the_solution_gets_full_marks_and_the_starter_none(root):
    document = submit(root)
    assert document["score"] == pytest.approx(FULL_MARKS, abs=1e-3)
    assert all(test["status"] == "passed" for test in document["tests"]), document["output"]
    # hidden checks count, but the output shows only what students may see now
    assert "points in the checks shown now" in document["output"] and f"{FULL_MARKS:g} of" not in document["output"]

    starter = root / "starter"
    shutil.copytree(root / "source" / "release", starter)
    shutil.rmtree(root / "submission")
    shutil.copytree(starter, root / "submission")
    add_placeholder_outputs(root / "submission", starter / "data")
    run_autograder(root, timeout=900)
    assert json.loads((root / "results" / "results.json").read_text())["score"] == 0


def test_forging_the_grade_or_deleting_the_grader_changes_nothing(root):
    """Three attacks in one submission, each in a different function, each harmless on its own terms: a
    process that outlives the grade and keeps writing a forged results.json, a direct write (and rename) into
    the results folder, and deleting the solution, its tests and the results folder."""
    results = root / "results" / "results.json"
    survivor = attack(f"""
import json, time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _ in range(600):
            time.sleep(0.05)
            try:
                open({str(results)!r}, "w").write(json.dumps({{"score": 1000, "tests": []}}))
            except OSError:
                pass
    _os._exit(0)
""")
    direct = attack(f"""
import json
for name in ("results.json", "forged.json"):
    try:
        open({str(results.parent)!r} + "/" + name, "w").write(json.dumps({{"score": 1000, "tests": []}}))
        _os.replace({str(results.parent)!r} + "/forged.json", {str(results)!r})
    except OSError:
        pass
""", anchor=ROTATE, path="utils/views/view_rotate.py")
    delete = attack(f"""
import shutil
for target in ({str(root / "source")!r}, {str(root / "source" / "source" / "tests")!r}, {str(results.parent)!r}):
    shutil.rmtree(target, ignore_errors=True)
""", anchor=INNER_ROTATE, path="utils/views/view_inner_rotate.py")
    assert submit(root, [survivor, direct, delete])["score"] == pytest.approx(FULL_MARKS, abs=1e-3)
    assert not (results.parent / "forged.json").exists()


def test_a_wrong_function_cannot_poison_the_reference(root):
    solution = root / "source" / "source" / "guidance" / "base_model.py"
    wrong = ("guidance/base_model.py", TWEEDIE, WRONG_TWEEDIE)
    poison = attack(f"""
for target in ({str(solution)!r}, {str(root / "source" / "references.safetensors")!r}):
    try:
        text = open(target).read() if target.endswith(".py") else ""
        open(target, "w").write(text.replace({TWEEDIE.strip()!r}, {WRONG_TWEEDIE.strip()!r}))
    except OSError:
        pass
""", anchor=WRONG_TWEEDIE)
    baseline = submit(root, [wrong])["score"]
    assert baseline < FULL_MARKS - 1  # the wrong Tweedie loses points of its own
    assert submit(root, [wrong, poison])["score"] == pytest.approx(baseline, abs=1e-6)


def secrets() -> list:
    """The rubric's lines and the solution regions' lines (those long enough to be told apart)."""
    lines = RUBRIC_PATH.read_text().splitlines()
    for path in files_with_regions(REPO, BEGIN_SOLUTION):
        parts = split_regions((REPO / path).read_text(), BEGIN_SOLUTION, END_SOLUTION, str(path))
        lines += [line for part in parts if isinstance(part, Region) for line in part.body]
    return [line.strip() for line in lines if len(line.strip()) >= MIN_SECRET_CHARS]


def test_a_check_output_cannot_carry_the_rubric_or_the_solution(root):
    kit = root / "source"
    leak = ("utils/views/view_rotate.py", ROTATE, f"""        texts = []
        for target in {[str(kit / "source" / "grading" / "rubric.toml"), str(kit / "source" / "guidance" / "base_model.py"),
                        str(kit / "references.safetensors")]!r}:
            try:
                texts.append(open(target, errors="replace").read())
            except OSError as err:
                texts.append(repr(err))
        texts.append(" ".join(__import__("sys").argv))
        raise RuntimeError("\\n".join(texts))""")
    plain = ("utils/views/view_rotate.py", ROTATE, "        raise RuntimeError('no secrets here')")
    baseline = submit(root, [plain])["score"]
    document = submit(root, [leak])
    assert document["score"] == pytest.approx(baseline, abs=1e-6) and baseline < FULL_MARKS
    text = json.dumps(document, ensure_ascii=False)
    assert "Permission denied" in text  # the attack ran and was refused
    assert [line for line in secrets() if line in text] == []
    assert str(load_rubric()["unit"]["hidden_seed"]) not in text


def test_nothing_outlives_a_grade_that_runs_out_of_time(root):
    # The attack signs in a folder outside the shared temporary ones (which the grader clears): proof that it ran
    # before the time ran out, so that nothing left behind is a finding, not an attack that never started.
    signed = Path("/run") / f"synckit-test-{os.getpid()}"
    signed.mkdir()
    os.chmod(signed, 0o1777)
    survivors = attack(f"""
import subprocess, time
subprocess.Popen(["sleep", "600"], start_new_session=True)
open(_os.path.join("/tmp", "synckit-attack-" + str(_os.getpid())), "w").write("left behind")
open({str(signed / "started")!r}, "w").write("started")
time.sleep(600)
""")
    try:
        document = submit(root, [survivors], GRADE_TIMEOUT_S="60")  # start-up takes 10-30 s of it
        assert (signed / "started").is_file()
    finally:
        shutil.rmtree(signed)
    assert document["score"] == 0 and "ran out of time" in document["output"]
