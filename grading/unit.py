"""Running the probes (grading/probes.py) on a workspace in a limited child process, and judging them.

Children run as the student user where the grader is root (grading/isolation.py), each on its own
copy of the workspace; the reference runs the grader's own tree in place. A child that dies mid-probe
(exit, os._exit, a kill at the time limit, a print flood past the file-size limit) loses only that
probe: the grader reads how far it got, marks that probe, and starts a fresh child on a fresh copy of
the workspace for the rest. A check's limit is CPU time, so a busy machine does
not fail a correct submission; a wall-clock limit, far above it, stops code that sleeps, and the stage's
time budget keeps a submission that loops everywhere inside Gradescope's limit with partial results.
"""

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from grading import probes
from grading.isolation import StudentUser
from grading.sandbox import child_folder, copy_code, run_limited

# importing torch and diffusers, on a slow grading machine; the warm-up has its own limit per step
STARTUP_S = 60 + probes.STARTUP_TIMEOUT_S * len(probes.warm_up(probes.Env()))


RUNNER_SOURCE = Path(probes.__file__).read_bytes()

RTOL = ATOL = 1e-4  # float32: a correct implementation that orders its operations differently lands well within


@dataclass
class Outcome:
    output: np.ndarray | None  # None when the probe failed in the child
    message: str = ""  # why it failed


def read_progress(out_dir: Path) -> tuple:
    """(outcomes so far, the probe that was running when the child stopped or None)."""
    outcomes, running = {}, None
    log = out_dir / "progress.jsonl"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    for line in lines:
        try:
            entry = json.loads(line)
            name, event = entry["probe"], entry["event"]
        except (ValueError, KeyError, TypeError):
            continue  # a line the child's own output garbled
        if name not in probes.PROBES:
            continue
        if event == "start":
            running = name
        elif event == "error":
            outcomes[name], running = Outcome(None, str(entry.get("message", "failed"))), None
        elif event == "done":
            outcomes[name], running = load_output(out_dir, name), None
    return outcomes, running


def load_output(out_dir: Path, name: str) -> Outcome:
    try:
        return Outcome(load_file(out_dir / f"{name}.safetensors")["output"])
    except Exception as err:  # noqa: BLE001 - the file is the child's, and may be anything
        return Outcome(None, f"its output could not be read back ({type(err).__name__})")


def run_probes(code_dir: Path, seeds: dict, limits: dict, user: StudentUser | None, fresh_copy: bool) -> dict:
    """{probe name: Outcome} for every probe, whatever the code does. `seeds`: probes.probe_seeds(...);
    `limits`: the rubric's [unit] table. `fresh_copy` runs each child on its own copy of `code_dir`, as
    `user` (for submissions); without it the child runs the grader's own tree in place (the reference).
    The stage stops starting children when its time budget is spent: what is left is marked not run."""
    outcomes, started = {}, time.monotonic()
    cpu_s, wall_s, budget_s = limits["probe_cpu_s"], limits["probe_wall_s"], limits["time_budget_s"]
    child_user = user if fresh_copy else None  # the reference is the grader's own code
    for _ in range(len(probes.PROBES) + 1):  # each child runs at least one probe
        remaining = [name for name in probes.PROBES if name not in outcomes]
        left_s = budget_s - (time.monotonic() - started)
        if not remaining or left_s <= 0:
            break
        with child_folder(child_user) as folder:
            workspace = code_dir
            if fresh_copy:
                workspace = folder / "code"
                copy_code(code_dir, workspace, child_user)
            out_dir = folder / "own" / "out"
            (folder / "seeds.json").write_text(json.dumps({name: seeds[name] for name in remaining}))
            # The runner comes on stdin (`python -`), not as a file: the submission's code runs inside it and
            # must not read it back (the course's stand-in functions and the checks' inputs are in it).
            command = [sys.executable, "-", str(workspace), str(out_dir), str(folder / "seeds.json"),
                       "--cpu_s", str(cpu_s), "--wall_s", str(wall_s)]
            result = run_limited(command, cwd=workspace, timeout_s=min(left_s, STARTUP_S + wall_s * len(remaining)),
                                 memory_bytes=limits["memory_gib"] << 30, user=child_user,
                                 own=folder / "own", stdin=RUNNER_SOURCE)
            found, running = read_progress(out_dir)
        outcomes.update(found)
        if running is not None:
            outcomes[running] = Outcome(None, f"the grading process stopped during this check ({result.summary})")
        elif not found:  # the child died before its first probe
            message = f"the code could not be started ({result.summary}):\n{result.output[-1500:]}"
            return {name: outcomes.get(name, Outcome(None, message)) for name in probes.PROBES}
    out_of_time = Outcome(None, f"not run: the checks before it used up the grading time ({budget_s} s); "
                                "fix the ones that did not finish")
    return {name: outcomes.get(name, out_of_time) for name in probes.PROBES}


def judge(outcome: Outcome, want: np.ndarray) -> tuple:
    """(passed, message) for one probe against the solution's output `want` on the same inputs."""
    if outcome.output is None:
        return False, outcome.message
    got = outcome.output
    if got.shape != want.shape:
        return False, f"returned shape {list(got.shape)}, expected {list(want.shape)}"
    if not np.isfinite(got).all():
        return False, "returned NaN or inf"
    close = np.isclose(got, want, rtol=RTOL, atol=ATOL)
    if not close.all():
        return False, where_they_differ(got, want, close)
    return True, "matches"


def where_they_differ(got: np.ndarray, want: np.ndarray, close: np.ndarray) -> str:
    """Which values are off, and by how much: the worst one (index, got, expected), how many, and the error
    relative to the expected values' size, so a student can tell a sign slip from an off-by-one step."""
    error = np.abs(got - want)
    worst = np.unravel_index(int(error.argmax()), error.shape)
    relative = float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-12))
    index = ", ".join(str(int(i)) for i in worst)
    return (f"values differ from the expected ones: {int((~close).sum())} of {close.size} are off; the largest "
            f"difference is at [{index}] (got {float(got[worst]):.4g}, expected {float(want[worst]):.4g}); "
            f"relative error {relative:.3g} (tolerance rtol = atol = {RTOL:g})")
