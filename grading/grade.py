"""Grading one submission into Gradescope's results.json, following grading/rubric.toml.

    unit stage (CPU, Gradescope): integrity, the submission checklist, the unit checks (probes)
    gpu stage:                    all of the above, plus the CLIP tier of the reported scores and the
                                  reproduction check; its results.json is the complete grade

Student code only ever runs in limited child processes (grading/unit.py, grading/reproduce.py) on a
workspace made of the release plus the submission's TODO regions; as root, as an unprivileged user that
cannot reach the solution, the rubric, the references or the results (grading/isolation.py). The
references are loaded or computed before any student code runs. Only this process writes results.json,
after every process of the student user is gone, and it always writes a valid one, with no line of the
rubric or the solution in it (grading/withhold.py). This module finds things out; how they turn into
points is grading/scoring.py's.
"""

import sys
import tempfile
import time
import traceback
from pathlib import Path

from grading import probes, references
from grading.checklist import EVAL_FILE, TASK_FOLDERS, check_submission, eval_score, format_checklist
from grading.integrity import check_integrity
from grading.isolation import (IsolationError, StudentUser, close_grader_files, kill_everything, remove_files_of,
                               student_user)
from grading.release import release
from grading.reproduce import RUNS, check_reproduction, regenerate
from grading.results import results_document, write_results
from grading.rubric import RUBRIC_PATH, RubricError, load_rubric
from grading.scoring import (ReportedScore, TaskGrade, score_checklist, score_clip, score_integrity,
                             score_reproduction, score_unit, visible_total)
from grading.submission import SubmissionError, unpack
from grading.unit import run_probes
from grading.withhold import secret_lines, withhold
from grading.workspace import build_workspace
from synckit.layout import REPO_ROOT, SUBMISSION_FOLDERS, data_file

STAGES = ("unit", "gpu")
_computed = {}  # fingerprint -> the solution's probe outputs, computed once per grading process


def reference_outputs(rubric, path: Path | None) -> dict:
    """The solution's outputs on the probes: from `path` (made by `python -m grading references`), or
    computed now, before any student code of this process runs."""
    if path is not None:
        return references.load(path, rubric)
    key = references.fingerprint(rubric)
    if key not in _computed:
        _computed[key] = references.compute(rubric)
    return _computed[key]


def reported_score(root: Path, folder: str, data_dir: Path, scorer, toy: bool = False) -> ReportedScore:
    """A folder's score as eval.json reports it and, when it does, as eval.py computes it from the images (their
    prompts from `data_dir`'s files, the toy world's with `toy`)."""
    from eval import EvalInputError, evaluate_folder

    reported, _ = eval_score(root / folder / EVAL_FILE)
    if reported is None:
        return ReportedScore(folder, None)
    app = RUNS[folder][0]
    try:
        recomputed = evaluate_folder(root / folder, SUBMISSION_FOLDERS[app], scorer,
                                     prompts_file=data_file(app, data_dir, toy))["score"]
    except EvalInputError as err:
        return ReportedScore(folder, reported, error=str(err))
    return ReportedScore(folder, reported, recomputed)


def reported_scores(root: Path, data_dir: Path, rubric, device: str) -> dict:
    """{task number: [ReportedScore of each of its folders]} of the tasks that make images, with the rubric's CLIP
    model and prompts."""
    from eval import load_clip

    scorer = load_clip(rubric["clip"]["model"], device=device)
    return {number: [reported_score(root, folder, data_dir, scorer, rubric["toy_prompts"]) for folder in TASK_FOLDERS[number]]
            for number in rubric["image_tasks"]}


def reproduce(root: Path, workspace: Path, scratch: Path, rubric, seed: str, evidence_dir: Path, notes,
              user: StudentUser | None) -> tuple:
    """Regenerate a sample of every submitted folder with the workspace's code and compare with the submitted
    images; returns ({task number: [Comparison]} of the tasks that make images, the regeneration's RunResult)."""
    attempted = {number: [folder for folder in TASK_FOLDERS[number] if (root / folder).is_dir()]
                 for number in rubric["image_tasks"]}
    folders = [folder for task_folders in attempted.values() for folder in task_folders]
    settings = rubric["reproduction"]
    out_dir = scratch / "regenerated"
    out_dir.mkdir()
    sampled, result = regenerate(workspace, folders, settings["prompts_per_task"], seed, rubric["main_args"],
                                 out_dir, settings["timeout_s"], user, toy=rubric["toy_prompts"])
    for folder, entries in sampled.items():
        notes.append(f"reproduced {folder}: {', '.join(entries)} (sample seed {seed!r})")
    comparisons = {number: [item for folder in attempted[number]
                            for item in check_reproduction(root, out_dir, folder, sampled[folder], evidence_dir)]
                   for number in rubric["image_tasks"]}
    return comparisons, result


def grade_submission(submission: Path, stage: str, release_dir: Path | None, scratch: Path,
                     evidence_dir: Path, rubric, expected: dict, user: StudentUser | None) -> tuple:
    notes = []
    root = unpack(submission, scratch / "submission")
    if release_dir is None:
        release_dir = scratch / "release"
        release(REPO_ROOT, release_dir)
    grades = {number: TaskGrade(number, task) for number, task in rubric["tasks"].items()}
    data_dir = release_dir / "data"

    score_integrity(grades, check_integrity(release_dir, root), rubric)
    items = check_submission(root, data_dir, toy=rubric["toy_prompts"])
    score_checklist(grades, items, rubric)
    notes.append(format_checklist(items))
    workspace = scratch / "workspace"
    notes += build_workspace(release_dir, root, workspace)
    outcomes = run_probes(workspace, probes.probe_seeds(rubric["unit"]["hidden_seed"]), rubric["unit"], user,
                          fresh_copy=True)
    score_unit(grades, outcomes, expected)
    if stage == "gpu":
        score_clip(grades, reported_scores(root, data_dir, rubric, "auto"), rubric)  # eval.load_clip picks the GPU
        comparisons, regeneration = reproduce(root, workspace, scratch, rubric,
                                              f"{rubric['unit']['hidden_seed']}:{submission.name}", evidence_dir,
                                              notes, user)
        score_reproduction(grades, comparisons, regeneration, rubric)
    checks = [check for grade in grades.values() for check in grade.finished()]
    return checks, notes


def grade(submission: Path, results_path: Path, stage: str = "unit", tiny: bool = False,
          release_dir: Path | None = None, work_dir: Path | None = None, rubric_path: Path = RUBRIC_PATH,
          references_path: Path | None = None) -> dict:
    """Grade `submission` (a zip or folder) and write `results_path`; returns the document written.

    A grading setup that is wrong (the rubric, the references, files student code could reach) raises
    before anything runs; whatever the submission does, or a bug of the grader's own, ends in results.json."""
    started = time.perf_counter()
    results_path = Path(results_path)
    evidence_dir = results_path.parent / "evidence"
    rubric = load_rubric(rubric_path, tiny=tiny)
    user = student_user()
    if user is not None:
        close_grader_files(REPO_ROOT, [rubric_path, references_path], results_path)
        kill_everything(user)  # nothing left from an earlier submission may watch this one
    expected = reference_outputs(rubric, references_path)  # before this submission's code runs
    try:
        with tempfile.TemporaryDirectory(prefix="synckit-grade-", dir=work_dir) as scratch:
            checks, notes = grade_submission(Path(submission), stage, release_dir, Path(scratch), evidence_dir, rubric,
                                             expected, user)
        header = f"{stage} stage{' (tiny models)' if tiny else ''}: {visible_total(checks)}"
        document = results_document(checks, "\n".join([header, *notes]), time.perf_counter() - started)
        document["extra_data"] = {"stage": stage, "tiny": tiny}  # lets a batch skip what is graded already
    except SubmissionError as err:
        document = results_document([], f"The submission could not be graded: {err}", time.perf_counter() - started)
        document["extra_data"] = {"stage": stage, "tiny": tiny}
    except Exception:  # noqa: BLE001 - a bug of the grader's own still produces a valid file for Gradescope (and is retried)
        document = results_document([], "The grader failed on this submission; please contact the course staff.\n"
                                    + traceback.format_exc()[-3000:], time.perf_counter() - started)
    if user is not None:
        kill_everything(user)  # results.json is written last, with no student process left to touch it
        remove_files_of(user)
    return write_results(results_path, withhold(document, secret_lines(rubric_path, REPO_ROOT)))


class StageError(ValueError):
    pass


def check_stage(stage: str, tiny: bool) -> None:
    """Refuse, before any work, a GPU stage on a machine without a GPU (unless on the tiny models)."""
    if stage == "gpu" and not tiny and not __import__("torch").cuda.is_available():
        raise StageError("the gpu stage regenerates images with the real models and needs a CUDA GPU; "
                         "run it on a GPU machine, or add --tiny to exercise it on the tiny models")


def add_arguments(parser) -> None:
    parser.add_argument("submission", type=Path, help="a student's .zip or folder")
    parser.add_argument("--results", type=Path, required=True, help="where to write Gradescope's results.json")
    parser.add_argument("--stage", choices=STAGES, default="unit",
                        help="unit: CPU checks (Gradescope); gpu: also the CLIP tier and reproduction (the full grade)")
    parser.add_argument("--tiny", action="store_true", help="the gpu stage on the tiny models, on a CPU (for testing)")
    parser.add_argument("--release", type=Path, help="the student release to compare with (default: built from this repo)")
    parser.add_argument("--work_dir", type=Path, help="scratch space (default: the system's temporary folder)")
    parser.add_argument("--rubric", type=Path, default=RUBRIC_PATH, help="the grading table (default: grading/rubric.toml)")
    parser.add_argument("--references", type=Path,
                        help="the solution's outputs, from `python -m grading references` (default: computed now)")


SETUP_ERRORS = (StageError, IsolationError, references.ReferenceError, RubricError)


def run(args) -> None:
    try:
        check_stage(args.stage, args.tiny)
        document = grade(args.submission, args.results, args.stage, args.tiny, args.release, args.work_dir, args.rubric,
                         args.references)
    except SETUP_ERRORS as err:
        sys.exit(f"error: {err}")
    print(document["output"].splitlines()[0] if document["output"] else f"score {document['score']}")
    print(f"results written to {args.results}")
