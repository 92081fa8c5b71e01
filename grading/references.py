"""The solution's outputs on every probe: what submissions are judged against.

They are computed before any student code runs, from the grader's own tree, and kept where only the
grader can read them: in the grading process's memory, or in a root-only file written once when the
grading machine is set up (Gradescope's setup.sh), so that no submission ever runs next to a reference
it could change and no per-submission child loads the models a second time.

    python -m grading references OUT.safetensors [--rubric RUBRIC]

The file records a fingerprint of what the outputs depend on (the hidden seed, the probes, the solution's
files); `grade --references` refuses a file made from anything else.
"""

import hashlib
import os
import sys
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from grading import probes
from grading.markers import BEGIN_SOLUTION, files_with_regions
from grading.rubric import RUBRIC_PATH, RubricError, load_rubric
from grading.unit import run_probes
from synckit.layout import REPO_ROOT



class ReferenceError(ValueError):
    """The references cannot be made or used as asked; the message says what to do."""


def fingerprint(rubric) -> str:
    digest = hashlib.sha256(f"{rubric['unit']['hidden_seed']}\n{sorted(probes.PROBES)}\n".encode())
    for path in [Path(probes.__file__), *(REPO_ROOT / name for name in files_with_regions(REPO_ROOT, BEGIN_SOLUTION))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def compute(rubric) -> dict:
    """{probe name: the solution's output}; raises ReferenceError if the solution fails a probe."""
    outcomes = run_probes(REPO_ROOT, probes.probe_seeds(rubric["unit"]["hidden_seed"]), rubric["unit"], user=None,
                          fresh_copy=False)
    failed = {name: outcome.message for name, outcome in outcomes.items() if outcome.output is None}
    if failed:
        raise ReferenceError(f"the solution fails its own checks: {failed}")
    return {name: outcome.output for name, outcome in outcomes.items()}


def save(references: dict, rubric, out: Path) -> None:
    """Write a new root-only file (mode 600); an existing one is never replaced."""
    if out.exists():
        raise ReferenceError(f"{out} already exists; remove it or give a new name")
    partial = out.with_name(f".{out.name}.partial")
    save_file(references, partial, metadata={"fingerprint": fingerprint(rubric)})
    os.chmod(partial, 0o600)
    os.link(partial, out)  # fails if `out` appeared meanwhile, instead of replacing it
    partial.unlink()


def load(path: Path, rubric) -> dict:
    try:
        references = load_file(path)
        with safe_open(path, framework="numpy") as handle:
            recorded = (handle.metadata() or {}).get("fingerprint")
    except (OSError, SafetensorError, ValueError) as err:
        raise ReferenceError(f"cannot read the references {path}: {err}") from err
    if recorded != fingerprint(rubric) or set(references) != set(probes.PROBES):
        raise ReferenceError(f"{path} was made from another solution, rubric seed or set of checks; make it anew "
                             "with `python -m grading references` (Gradescope: rebuild the autograder)")
    return references


def add_arguments(parser) -> None:
    parser.add_argument("out", type=Path, help="the references file to write (a new .safetensors file)")
    parser.add_argument("--rubric", type=Path, default=RUBRIC_PATH, help="the grading table (default: grading/rubric.toml)")


def run(args) -> None:
    try:
        rubric = load_rubric(args.rubric)
        save(compute(rubric), rubric, args.out)
    except (ReferenceError, RubricError) as err:
        sys.exit(f"error: {err}")
    print(f"wrote {args.out}: the solution's outputs on {len(probes.PROBES)} checks")
