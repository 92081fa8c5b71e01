"""How a submission's checks turn into points, following grading/rubric.toml (read by grading/rubric.py).

Each task's points are split between its unit checks (grading/probes.py, judged by grading/unit.py) and the
CLIP tier of the score the student reported; then the task is scaled by its factors: the submission
checklist (−checklist_deduction per missing item), integrity and the reproduction check (×0 when they fail).
Everything here works on what the grader has already found out (grading/grade.py runs the code); nothing
here runs student code or reads a submission.
"""

from dataclasses import dataclass

from grading import probes
from grading.results import Check
from grading.rubric import clip_tier
from grading.unit import judge


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
        self.checks.append(Check(f"Task {self.number} · {name}", max_score * passed_share, max_score, output,
                                 "after_published" if hidden else "visible", passed=passed_share == 1, task=self.number))

    def status(self, name, problems, fine, factor, reason):
        self.status_checks.append(Check(f"Task {self.number} · {name}", 0, 0, "\n".join(problems) or fine,
                                        passed=not problems, task=self.number))
        if problems and factor < 1:
            self.factor = max(0.0, self.factor * factor)
            self.reasons.append(reason)

    def finished(self) -> list:
        if self.factor < 1:
            for check in self.checks:
                check.output += f"\n(scored ×{self.factor:g}: {'; '.join(self.reasons)})"
                check.score *= self.factor
        return self.checks + self.status_checks


def score_unit(grades, outcomes, expected):
    """`outcomes`: {probe name: unit.Outcome} of the submission; `expected`: the solution's outputs."""
    for grade in grades.values():
        task_probes = [spec for spec in probes.PROBES.values() if spec.task == grade.number]
        points = grade.task["points"] * grade.task["unit_share"] / len(task_probes)
        for spec in task_probes:
            passed, message = judge(outcomes[spec.name], expected[spec.name])
            grade.scored(f"{'hidden' if spec.hidden else 'public'} check · {spec.what}", float(passed), points, message,
                         hidden=spec.hidden)


def score_checklist(grades, items, rubric):
    """`items`: the submission checklist's results (grading/checklist.py); an item of no task counts for all."""
    global_missing = [item for item in items if item.task is None and item.missing]
    for grade in grades.values():
        missing = global_missing + [item for item in items if item.task == grade.number and item.missing]
        problems = [f"missing: {item.description} ({item.detail})" for item in missing]
        factor = 1 - rubric["checklist_deduction"] * len(missing)
        grade.status("submission checklist", problems, "every item is there", factor,
                     f"{len(missing)} missing checklist item(s), −{rubric['checklist_deduction']:.0%} each")


def score_integrity(grades, findings, rubric):
    """`findings`: grading/integrity.py's lines, each starting with the file it is about."""
    for grade in grades.values():
        mine = [finding for finding in findings if grade.number in tasks_of_file(finding.split(":")[0], rubric)]
        grade.status("integrity (code outside the TODO regions, fixed hyperparameters)", mine,
                     "unchanged from the release", 0.0, "code or settings outside the TODO regions were changed")


@dataclass
class ReportedScore:
    """A task folder's CLIP score as its eval.json reports it, and as the grader recomputes it from the images."""
    folder: str
    reported: float | None  # None when there is no eval.json with a numeric score (nothing is recomputed)
    recomputed: float | None = None
    error: str = ""  # why the score could not be recomputed


def score_clip(grades, reported_scores, rubric):
    """`reported_scores`: {task number: [ReportedScore of each of its folders]}, for the tasks that make images (an
    extension task has none: no CLIP check)."""
    tolerance = rubric["clip"]["report_tolerance"]
    for number, scores in reported_scores.items():
        grade = grades[number]
        tiers, lines, mismatches = [], [], []
        for score in scores:
            if score.reported is None:
                tiers.append(0.0)
                lines.append(f"{score.folder}: no eval.json with a numeric score")
            elif score.recomputed is None:
                tiers.append(0.0)
                mismatches.append(f"{score.folder}: the reported score cannot be recomputed: {score.error}")
            else:
                tiers.append(clip_tier(score.reported, rubric["clip_tiers"][number]))
                lines.append(f"{score.folder}: reported {score.reported:.4f}, recomputed {score.recomputed:.4f} "
                             f"→ tier {tiers[-1]:g}")
                if abs(score.reported - score.recomputed) > tolerance:
                    mismatches.append(f"{score.folder}: eval.json reports {score.reported:.4f} but the submitted images "
                                      f"score {score.recomputed:.4f} (tolerance {tolerance})")
        points = grade.task["points"] * (1 - grade.task["unit_share"])
        tier = rubric["clip_tiers"][number]
        thresholds = f"≥ {tier['full']} full, ≥ {tier['half']} half ({rubric['clip']['model']})"
        grade.scored("CLIP score tier", sum(tiers) / len(tiers), points, "\n".join(lines + [thresholds]))
        grade.status("reported CLIP score matches the images", mismatches, "matches", 0.0,
                     "the reported CLIP score does not match the submitted images")


def score_reproduction(grades, comparisons, run, rubric):
    """`comparisons`: {task number: [reproduce.Comparison of each regenerated image]}, for the tasks that make images;
    `run`: the regeneration's sandbox.RunResult, shown when an image does not match."""
    settings = rubric["reproduction"]
    for number, task_comparisons in comparisons.items():
        grade = grades[number]
        problems, lines = [], []
        for item in task_comparisons:
            lines.append(f"{item.folder}/{item.file}: {item.message}")
            if item.difference is None or item.difference > settings["max_mean_abs_diff"]:
                problems.append(lines[-1])
        if problems:
            problems += [f"tolerance: mean absolute difference ≤ {settings['max_mean_abs_diff']}",
                         f"the regeneration run: {run.summary}", run.output[-1500:]]
        grade.status("reproduction (regenerated with your code and the fixed seeds)", problems,
                     "\n".join(lines) or "nothing submitted for this task", 0.0,
                     "the submitted code does not reproduce the submitted images")


def visible_total(checks) -> str:
    """The points students may see before grades are published: hidden checks hide the total on
    Gradescope, and the output must not give it away either."""
    shown = [check for check in checks if check.visibility == "visible"]
    hidden = len(checks) - len(shown)
    text = f"{sum(c.score for c in shown):g} of {sum(c.max_score for c in shown):g} points in the checks shown now"
    return text + (f"; {hidden} hidden checks also count, shown when grades are published" if hidden else "")
