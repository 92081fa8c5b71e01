"""Grading a folder of submissions (one zip or folder per student) into OUT/<student>/results.json and a
gradebook CSV. Resumable: a student whose results.json of the same stage exists is not graded again, so a
killed run continues where it stopped. `--shard i/n` takes every n-th student from the i-th, for several
GPUs or Slurm array tasks; `python -m grading merge` joins the shards' folders into one CSV.
"""

import json
import sys
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from grading.grade import SETUP_ERRORS, STAGES, check_stage, grade
from grading.merge import MergeError, gradebook_rows, write_csv
from grading.release import release
from grading.submission import SubmissionError, student_of, submission_entries
from synckit.layout import REPO_ROOT


class BatchError(ValueError):
    pass


def parse_shard(text: str) -> tuple:
    """'2/4' -> (2, 4): the second of four shards."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise BatchError(f"--shard must look like 2/4 (shard 2 of 4), got {text!r}") from None
    if not 1 <= index <= count:
        raise BatchError(f"--shard {text}: the shard number must be between 1 and {count}")
    return index, count


def submissions_in(folder: Path) -> list:
    if not folder.is_dir():
        raise BatchError(f"{folder} is not a folder of submissions")
    try:
        entries = submission_entries(folder)
    except SubmissionError as err:
        raise BatchError(str(err)) from None
    if not entries:
        raise BatchError(f"{folder} holds no .zip files or folders to grade")
    return entries


def already_graded(results: Path, stage: str, tiny: bool) -> bool:
    try:
        extra = json.loads(results.read_text()).get("extra_data", {})
    except (OSError, ValueError, AttributeError):
        return False
    return extra.get("stage") == stage and extra.get("tiny") == tiny


def run_batch(submissions_dir: Path, out_dir: Path, stage: str, tiny: bool, shard=(1, 1),
              release_dir: Path | None = None, csv_path: Path | None = None) -> list:
    """Grade this shard's students; returns the gradebook rows of the shard."""
    index, count = shard
    entries = submissions_in(submissions_dir)[index - 1::count]
    students = [student_of(entry) for entry in entries]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="synckit-batch-") as scratch:
        if release_dir is None:
            release_dir = Path(scratch) / "release"
            release(REPO_ROOT, release_dir)
        for entry, student in zip(tqdm(entries, desc=f"grading shard {index}/{count}"), students):
            results = out_dir / student / "results.json"
            if not already_graded(results, stage, tiny):
                grade(entry, results, stage=stage, tiny=tiny, release_dir=release_dir)  # raises only for the setup
    rows = gradebook_rows([out_dir / student / "results.json" for student in students])
    if csv_path is not None:
        write_csv(csv_path, rows)
    return rows


def add_arguments(parser) -> None:
    parser.add_argument("submissions_dir", type=Path, help="one .zip or folder per student, named after the student")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="OUT/<student>/results.json (default: grades)")
    parser.add_argument("--csv", type=Path, help="also write this shard's gradebook CSV")
    parser.add_argument("--stage", choices=STAGES, default="unit")
    parser.add_argument("--tiny", action="store_true", help="the gpu stage on the tiny models, on a CPU")
    parser.add_argument("--shard", default="1/1", help="i/n: grade every n-th student starting at the i-th")
    parser.add_argument("--release", type=Path, help="the student release (default: built from this repo)")


def run(args) -> None:
    try:
        check_stage(args.stage, args.tiny)
        rows = run_batch(args.submissions_dir, args.out, args.stage, args.tiny, parse_shard(args.shard),
                         args.release, args.csv)
    except (BatchError, MergeError, *SETUP_ERRORS) as err:
        sys.exit(f"error: {err}")
    print(f"graded {len(rows)} submission(s) into {args.out}" + (f"; gradebook {args.csv}" if args.csv else ""))
