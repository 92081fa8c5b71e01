"""Running the probes (grading/probes.py) on a workspace in a limited child process, and judging them.

A child that dies mid-probe (exit, os._exit, a kill at the time limit, a print flood past the file-size
limit) loses only that probe: the grader reads how far it got, marks that probe, and starts a fresh
child on a fresh copy of the workspace for the rest, so a submission that deletes files cannot hurt the
probes after it either.
"""

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from grading import probes
from grading.sandbox import run_limited

# importing torch and diffusers, on a slow grading machine; the warm-up has its own limit per step
STARTUP_S = 60 + probes.STARTUP_TIMEOUT_S * len(probes.warm_up(probes.Env()))


@dataclass
class Outcome:
    output: torch.Tensor | None  # None when the probe failed in the child
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


def run_probes(code_dir: Path, hidden_seed: int, timeout_s: int, memory_bytes: int, fresh_copy: bool) -> dict:
    """{probe name: Outcome} for every probe, whatever the code does. `fresh_copy` copies `code_dir`
    before each child (for submissions); the reference runs on the grader's own tree in place."""
    outcomes = {}
    with tempfile.TemporaryDirectory(prefix="synckit-probes-") as scratch:
        scratch = Path(scratch)
        runner = scratch / "runner" / "probes.py"
        runner.parent.mkdir()
        shutil.copy(probes.__file__, runner)
        for attempt in range(len(probes.PROBES) + 1):
            remaining = [name for name in probes.PROBES if name not in outcomes]
            if not remaining:
                break
            workspace = code_dir
            if fresh_copy:
                workspace = scratch / f"workspace-{attempt}"
                shutil.copytree(code_dir, workspace)
            out_dir = scratch / f"out-{attempt}"
            out_dir.mkdir()
            command = [sys.executable, str(runner), str(workspace), str(out_dir), str(hidden_seed),
                       "--timeout", str(timeout_s), "--skip", *outcomes]
            result = run_limited(command, cwd=workspace, timeout_s=STARTUP_S + timeout_s * len(remaining),
                                 memory_bytes=memory_bytes)
            found, running = read_progress(out_dir)
            outcomes.update(found)
            if running is not None:
                outcomes[running] = Outcome(None, f"the grading process stopped during this check ({stopped(result)})")
            elif not found:  # the child died before its first probe
                message = f"the code could not be started ({stopped(result)}):\n{result.output[-1500:]}"
                return {name: outcomes.get(name, Outcome(None, message)) for name in probes.PROBES}
    return outcomes


def stopped(result) -> str:
    if result.timed_out:
        return "stopped at the time limit"
    if result.returncode == -25:  # SIGXFSZ
        return "killed for writing more than the file-size limit (printing megabytes?)"
    if result.returncode and result.returncode < 0:
        return f"killed by signal {-result.returncode} (out of memory?)"
    return f"the process exited with code {result.returncode}: graded code must return, not exit"


def judge(outcome: Outcome, reference: Outcome) -> tuple:
    """(passed, message) for one probe against the solution's output on the same inputs."""
    if reference.output is None:
        raise RuntimeError(f"the reference solution failed a probe: {reference.message}")
    if outcome.output is None:
        return False, outcome.message
    got, want = outcome.output, reference.output
    if got.shape != want.shape:
        return False, f"returned shape {list(got.shape)}, expected {list(want.shape)}"
    if not torch.isfinite(got).all():
        return False, "returned NaN or inf"
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
        worst = (got - want).abs().max().item()
        return False, f"values differ from the expected ones (largest difference {worst:.3g})"
    return True, "matches"
