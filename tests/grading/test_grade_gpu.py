"""The gpu stage on the tiny models (`--tiny`, on a CPU): CLIP tiers of the reported scores, the check
that they match the submitted images, and the reproduction check, on a course with one prompt per app so
that a whole submission is generated and graded in seconds. On the tiny models the prompts are the toy
world's (data/toy_*_prompts.json), for the student's runs and the grader's alike."""

import json
import shutil

import pytest
from submissions import REPO, edit, solved_submission

import eval as clip_eval
import main
from grading.grade import grade
from grading.release import release
from grading.results import schema_problems
from grading.rubric import load_rubric
from guidance.base_model import BaseModel
from synckit.layout import APPS, data_file

pytestmark = pytest.mark.slow

TINY_ARGS = load_rubric(tiny=True)["main_args"]
FOLDERS = {  # submission folder -> main.py arguments
    "wide_images": ["--app", "wide_image"],
    "ambiguous_images": ["--app", "ambiguous_image"],
    **{f"task3/{case}": ["--app", "ambiguous_image", "--views_names", "identity", "inner_rotate", "--sync_target", case]
       for case in ("eps", "x0", "xt")},
}
UNIT_POINTS = 5 + 5 + 2.5
CLIP_POINTS = 5 + 5 + 2.5


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The release with one prompt per toy data file (the ones tiny runs read): what a term with a shorter prompt
    list would ship."""
    out = tmp_path_factory.mktemp("gpu") / "release"
    release(REPO, out)
    for app in APPS:
        path = data_file(app, out / "data", toy=True)
        entries = json.loads(path.read_text())
        first = sorted(entries)[0]
        path.write_text(json.dumps({first: entries[first]}, indent=2))
    return out


def generate(course, folder, dest, extra=()):
    """Run main.py as a student would, on the course's toy prompts, and score the folder with eval.py."""
    argv = FOLDERS[folder]
    app = argv[1]
    prompts_file = data_file(app, course / "data", toy=True)  # the course's copy: --tiny's default is this repo's
    scratch = dest.parent / f"run-{folder.replace('/', '_')}-{len(extra)}"
    main.main([*argv, "--all_prompts", "--prompts_file", str(prompts_file), *TINY_ARGS,
               *extra, "--save_top_dir", str(scratch), "--tag", "run"])
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(scratch / "run" / f"{app}s", dest)
    clip_eval.main(["--fdir1", str(dest), "--app", f"{app}s", "--clip_model", "tiny", "--prompts_file", str(prompts_file)])


@pytest.fixture(scope="module")
def generated(course, tmp_path_factory):
    submission = solved_submission(course, tmp_path_factory.mktemp("generated") / "submission")
    (submission / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    for folder in FOLDERS:
        generate(course, folder, submission / folder)
    return submission


@pytest.fixture
def submission(generated, tmp_path):
    return shutil.copytree(generated, tmp_path / "submission")


def run(submission, course, tmp_path) -> dict:
    document = grade(submission, tmp_path / "out" / "results.json", stage="gpu", tiny=True, release_dir=course)
    assert schema_problems(document) == []
    return document


def checks_named(document, part) -> list:
    return [test for test in document["tests"] if part in test["name"]]


def test_the_solution_gets_full_marks_and_evidence(submission, course, tmp_path):
    document = run(submission, course, tmp_path)
    failed = [test for test in document["tests"] if test["status"] == "failed"]
    assert not failed, failed
    assert document["score"] == pytest.approx(UNIT_POINTS + CLIP_POINTS, abs=1e-3)
    toy_key, = json.loads(data_file("wide_image", course / "data", toy=True).read_text())  # the tiny grade's prompts
    assert f"reproduced wide_images: {toy_key} " in document["output"]
    evidence = sorted(path.name for path in (tmp_path / "out" / "evidence").iterdir())
    assert len(evidence) == 1 + 2 + 3 * 2  # one panorama, and both views of each anagram


def test_each_task_loses_what_is_wrong_with_it_and_only_that(submission, course, tmp_path):
    """One submission, one fault per task: Task 1's images come from another seed than the fixed one (the code
    cannot reproduce them), Task 2 reports a better CLIP score than its images get, and the optional Task 3 is
    missing. Tasks 1 and 2 are void (10 points each); Task 3 keeps its unit points, not its CLIP ones."""
    generate(course, "wide_images", submission / "wide_images", extra=["--seed", "7"])
    path = submission / "ambiguous_images" / "eval.json"
    report = json.loads(path.read_text())
    report["score"] += 0.05
    path.write_text(json.dumps(report))
    shutil.rmtree(submission / "task3")
    document = run(submission, course, tmp_path)
    assert document["score"] == pytest.approx(UNIT_POINTS + CLIP_POINTS - 10 - 10 - 2.5, abs=1e-3)
    reproduction, = checks_named(document, "Task 1 · reproduction")
    assert reproduction["status"] == "failed" and "mean absolute difference" in reproduction["output"]
    mismatch, = checks_named(document, "Task 2 · reported CLIP score matches")
    assert mismatch["status"] == "failed" and "but the submitted images score" in mismatch["output"]
    assert checks_named(document, "Task 2 · reproduction")[0]["status"] == "passed"  # the images are the code's
    assert checks_named(document, "Task 1 · reported CLIP score matches")[0]["status"] == "passed"  # eval.py's own
    assert all(test["status"] == "passed" for test in document["tests"] if " check · " in test["name"])


NO_STEP = ("        return alpha_prod_prev.sqrt() * pred_x0s + noise_direction",
           "        return xts")  # compute_prev_state that never moves: x_t stays the noise it started as


def test_a_sampler_that_never_denoises_scores_below_the_clip_tiers(course, tmp_path, monkeypatch):
    """The tiny tiers are real: honest images from a broken compute_prev_state (the same code regenerates them, so
    they reproduce) get no CLIP points, where the solution's get all of them (the test above)."""
    monkeypatch.setattr(BaseModel, "compute_prev_state", lambda self, xts, pred_x0s, timestep, **kwargs: xts)
    broken = solved_submission(course, tmp_path / "submission")
    (broken / "report.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    edit(broken / "guidance/base_model.py", *NO_STEP)
    for folder in ("wide_images", "ambiguous_images"):
        generate(course, folder, broken / folder)
    document = run(broken, course, tmp_path)
    for task in (1, 2):
        tier, = checks_named(document, f"Task {task} · CLIP score tier")
        assert tier["score"] == 0 and "→ tier 0\n" in tier["output"], tier
        reproduced, = checks_named(document, f"Task {task} · reproduction")
        assert reproduced["status"] == "passed", reproduced
