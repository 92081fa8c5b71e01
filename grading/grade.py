"""Grading one submission into Gradescope's results.json, following grading/rubric.toml.

    unit stage (CPU, Gradescope): integrity, the submission checklist, the unit checks (probes)
    gpu stage:                    all of the above, plus the CLIP tier of the reported scores and the
                                  reproduction check; its results.json is the complete grade

Student code only ever runs in limited child processes (grading/unit.py, grading/reproduce.py) on a
workspace made of the release plus the submission's TODO regions; as root, as an unprivileged user that
cannot reach the solution, the rubric, the references or the results (grading/isolation.py). The
references are loaded or computed before any student code runs. Only this process writes results.json,
after every process of the student user is gone, and it always writes a valid one, with no line of the
rubric or the solution in it (grading/withhold.py).
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
from grading.results import Check, results_document, write_results
from grading.rubric import RUBRIC_PATH, RubricError, clip_tier, load_rubric
from grading.submission import SubmissionError, unpack
from grading.unit import judge, run_probes
from grading.withhold import secret_lines, withhold
from grading.workspace import build_workspace

REPO_ROOT = Path(__file__).resolve().parent.parent
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


def tasks_of_file(path: str, rubric) -> list:
    """The tasks a changed file voids: those that list it, or all of them for a file no task lists."""
    listed = [number for number, task in rubric["tasks"].items()
              if any(path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in task["files"])]
    return listed or list(rubric["tasks"])


class TaskGrade:
    """A task's scored checks, and the factors (checklist, integrity, reproduction) applied to them."""

    def __init__(self, number, task):
        self.number, self.task = number, task
        self.checks, self.status_checks = [], []
        self.factor, self.reasons = 1.0, []

    def scored(self, name, passed_share, max_score, output, hidden=False):
        self.checks.append(Check(f"Task {self.number} · {name}", max_score * passed_share, max_score,
                                 output, "after_published" if hidden else "visible", passed=passed_share == 1))

    def status(self, name, problems, fine, factor, reason):
        self.status_checks.append(Check(f"Task {self.number} · {name}", 0, 0, "\n".join(problems) or fine,
                                        passed=not problems))
        if problems and factor < 1:
            self.factor = max(0.0, self.factor * factor)
            self.reasons.append(reason)

    def finished(self) -> list:
        if self.factor < 1:
            for check in self.checks:
                check.output += f"\n(scored ×{self.factor:g}: {'; '.join(self.reasons)})"
                check.score *= self.factor
        return self.checks + self.status_checks


def unit_checks(grades, outcomes, expected):
    for grade in grades.values():
        task_probes = [spec for spec in probes.PROBES.values() if spec.task == grade.number]
        points = grade.task["points"] * grade.task["unit_share"] / len(task_probes)
        for spec in task_probes:
            passed, message = judge(outcomes[spec.name], expected[spec.name])
            grade.scored(f"{'hidden' if spec.hidden else 'public'} check · {spec.what}", float(passed), points, message,
                         hidden=spec.hidden)


def checklist_checks(grades, root, data_dir, rubric, notes):
    items = check_submission(root, data_dir)
    global_missing = [item for item in items if item.task is None and item.missing]
    for grade in grades.values():
        missing = global_missing + [item for item in items if item.task == grade.number and item.missing]
        problems = [f"missing: {item.description} ({item.detail})" for item in missing]
        factor = 1 - rubric["checklist_deduction"] * len(missing)
        grade.status("submission checklist", problems, "every item is there", factor,
                     f"{len(missing)} missing checklist item(s), −{rubric['checklist_deduction']:.0%} each")
    notes.append(format_checklist(items))


def integrity_checks(grades, findings, rubric):
    for grade in grades.values():
        mine = [finding for finding in findings if grade.number in tasks_of_file(finding.split(":")[0], rubric)]
        grade.status("integrity (code outside the TODO regions, fixed hyperparameters)", mine,
                     "unchanged from the release", 0.0, "code or settings outside the TODO regions were changed")


def clip_checks(grades, root, data_dir, rubric, device):
    from eval import EvalInputError, evaluate_folder, load_clip

    scorer = load_clip(rubric["clip"]["model"], device=device)
    tolerance = rubric["clip"]["report_tolerance"]
    for grade in grades.values():
        tiers, lines, mismatches = [], [], []
        for folder in TASK_FOLDERS[grade.number]:
            app = RUNS[folder][0]
            reported, _ = eval_score(root / folder / EVAL_FILE)
            if reported is None:
                tiers.append(0.0)
                lines.append(f"{folder}: no eval.json with a numeric score")
                continue
            try:
                recomputed = evaluate_folder(root / folder, f"{app}s", scorer, prompts_file=data_dir / f"{app}_prompts.json")["score"]
            except EvalInputError as err:
                tiers.append(0.0)
                mismatches.append(f"{folder}: the reported score cannot be recomputed: {err}")
                continue
            tiers.append(clip_tier(reported, rubric["clip"]))
            lines.append(f"{folder}: reported {reported:.4f}, recomputed {recomputed:.4f} → tier {tiers[-1]:g}")
            if abs(reported - recomputed) > tolerance:
                mismatches.append(f"{folder}: eval.json reports {reported:.4f} but the submitted images score "
                                  f"{recomputed:.4f} (tolerance {tolerance})")
        points = grade.task["points"] * (1 - grade.task["unit_share"])
        thresholds = f"≥ {rubric['clip']['full']} full, ≥ {rubric['clip']['half']} half ({rubric['clip']['model']})"
        grade.scored("CLIP score tier", sum(tiers) / len(tiers), points, "\n".join(lines + [thresholds]))
        grade.status("reported CLIP score matches the images", mismatches, "matches", 0.0,
                     "the reported CLIP score does not match the submitted images")


def reproduction_checks(grades, root, workspace, scratch, rubric, seed, evidence_dir, notes, user):
    attempted = {number: [folder for folder in TASK_FOLDERS[number] if (root / folder).is_dir()] for number in grades}
    folders = [folder for task_folders in attempted.values() for folder in task_folders]
    settings = rubric["reproduction"]
    out_dir = scratch / "regenerated"
    out_dir.mkdir()
    sampled, result = regenerate(workspace, folders, settings["prompts_per_task"], seed, rubric["main_args"],
                                 out_dir, settings["timeout_s"], user)
    for folder, entries in sampled.items():
        notes.append(f"reproduced {folder}: {', '.join(entries)} (sample seed {seed!r})")
    for number, grade in grades.items():
        problems, lines = [], []
        for folder in attempted[number]:
            for item in check_reproduction(root, out_dir, folder, sampled[folder], evidence_dir):
                lines.append(f"{item.folder}/{item.file}: {item.message}")
                if item.difference is None or item.difference > settings["max_mean_abs_diff"]:
                    problems.append(lines[-1])
        if problems:
            problems += [f"tolerance: mean absolute difference ≤ {settings['max_mean_abs_diff']}",
                         f"the regeneration run: {result.summary}", result.output[-1500:]]
        grade.status("reproduction (regenerated with your code and the fixed seeds)", problems,
                     "\n".join(lines) or "nothing submitted for this task", 0.0,
                     "the submitted code does not reproduce the submitted images")


def grade_submission(submission: Path, stage: str, tiny: bool, release_dir: Path | None, scratch: Path,
                     evidence_dir: Path, rubric, expected: dict, user: StudentUser | None) -> tuple:
    notes = []
    root = unpack(submission, scratch / "submission")
    if release_dir is None:
        release_dir = scratch / "release"
        release(REPO_ROOT, release_dir)
    grades = {number: TaskGrade(number, task) for number, task in rubric["tasks"].items()}
    data_dir = release_dir / "data"

    integrity_checks(grades, check_integrity(release_dir, root), rubric)
    checklist_checks(grades, root, data_dir, rubric, notes)
    workspace = scratch / "workspace"
    notes += build_workspace(release_dir, root, workspace)
    outcomes = run_probes(workspace, probes.probe_seeds(rubric["unit"]["hidden_seed"]), rubric["unit"], user,
                          fresh_copy=True)
    unit_checks(grades, outcomes, expected)
    if stage == "gpu":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        clip_checks(grades, root, data_dir, rubric, device)
        reproduction_checks(grades, root, workspace, scratch, rubric, f"{rubric['unit']['hidden_seed']}:{submission.name}",
                            evidence_dir, notes, user)
    checks = [check for grade in grades.values() for check in grade.finished()]
    return checks, notes


def visible_total(checks) -> str:
    """The points students may see before grades are published: hidden checks hide the total on
    Gradescope, and the output must not give it away either."""
    shown = [check for check in checks if check.visibility == "visible"]
    hidden = len(checks) - len(shown)
    text = f"{sum(c.score for c in shown):g} of {sum(c.max_score for c in shown):g} points in the checks shown now"
    return text + (f"; {hidden} hidden checks also count, shown when grades are published" if hidden else "")


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
            checks, notes = grade_submission(Path(submission), stage, tiny, release_dir, Path(scratch), evidence_dir,
                                             rubric, expected, user)
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
