"""Similarity of the code students wrote:

    python -m grading similarity SUBMISSIONS_DIR --release RELEASE_DIR --out REPORT_DIR

SUBMISSIONS_DIR holds one zip or folder per student (named after the student). Only their own code is
compared: the bodies of the TODO regions, gathered into one file per student (REPORT_DIR/code/NAME.py).
copydetect fingerprints the token stream, where every name becomes the same symbol, so renaming variables
does not hide a copy. The release's files with TODO regions are its boilerplate: an untouched stub, or a
line repeated from the given code, never counts as a match.

Writes to REPORT_DIR: similarity.html (copydetect's report: pairs above the display threshold, copied code
highlighted), similarity.csv (every pair, most similar first), code/ and starter_code.py (what was compared,
and the release's stubs gathered the same way), and skipped.txt for submissions that could not be read.
"""

import csv
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

from grading.integrity import todo_files, todo_parts
from grading.markers import BEGIN_TODO, MarkerError, Region
from grading.submission import SubmissionError, submission_entries, unpack

DISPLAY_THRESHOLD = 0.33  # copydetect's default: the HTML shows pairs at least this similar
CSV_COLUMNS = ("student_a", "student_b", "similarity", "share_of_a", "share_of_b", "overlapping_tokens")


class SimilarityError(ValueError):
    """The comparison cannot run as asked; the message says what to do."""


def add_arguments(parser) -> None:
    parser.add_argument("submissions_dir", type=Path, help="one .zip or folder per student")
    parser.add_argument("--release", type=Path, required=True, help="the student release (python -m grading release)")
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder for the report")
    parser.add_argument("--display_threshold", type=float, default=DISPLAY_THRESHOLD,
                        help=f"the HTML shows pairs at least this similar (default {DISPLAY_THRESHOLD})")


def run(args) -> None:
    try:
        rows, skipped = compare_submissions(args.submissions_dir, args.release, args.out, args.display_threshold)
    except SimilarityError as err:
        sys.exit(f"error: {err}")
    for name, reason in skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    for row in rows[:5]:
        print(f"{row['similarity']:.2f}  {row['student_a']}  {row['student_b']}")
    print(f"{len(rows)} pairs compared; report in {args.out / 'similarity.html'} and {args.out / 'similarity.csv'}")


def student_code(code_root: Path, paths) -> str:
    """The bodies of every TODO region of a submission, each under a comment saying where it was."""
    parts = []
    for path in paths:
        submitted = code_root / path
        if not submitted.is_file():
            parts.append(f"# {path}: missing from the submission\n")
            continue
        text = submitted.read_text(errors="replace")
        try:
            regions = [part for part in todo_parts(text, str(path)) if isinstance(part, Region)]
        except MarkerError as err:
            # Compare the whole file: the given code in it is boilerplate, so only the student's lines count.
            parts += [f"# {err}: the whole file is compared\n", text]
            continue
        for number, region in enumerate(regions, 1):
            parts += [f"# {path}, TODO region {number} (line {region.line})\n", textwrap.dedent("".join(region.body))]
    return "".join(parts)


def check_inputs(submissions_dir: Path, release_dir: Path, out_dir: Path) -> tuple:
    """(submissions, the release's files with TODO regions); every reason not to start, before any work."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise SimilarityError(f"{out_dir} already exists and is not empty; give a new folder for the report")
    if not submissions_dir.is_dir():
        raise SimilarityError(f"{submissions_dir} is not a folder; give the folder with one zip or folder per student")
    if not release_dir.is_dir():
        raise SimilarityError(f"--release {release_dir} is not a folder; write one with `python -m grading release DIR`")
    paths = todo_files(release_dir)
    if not paths:
        raise SimilarityError(f"{release_dir} has no {BEGIN_TODO} regions: pass the student release, not the solution repo")
    try:
        entries = submission_entries(submissions_dir)
    except SubmissionError as err:
        raise SimilarityError(str(err)) from None
    if len(entries) < 2:
        raise SimilarityError(f"{submissions_dir} holds {len(entries)} submission(s); comparing needs at least two")
    return entries, paths


def extract_all(entries, paths, code_dir: Path) -> tuple:
    """Write each student's TODO code to code_dir/NAME.py; returns (written files, [(name, why skipped)])."""
    written, skipped = [], []
    code_dir.mkdir(parents=True)
    for entry in entries:
        with tempfile.TemporaryDirectory(prefix="synckit-similarity-") as scratch:
            try:
                root = unpack(entry, Path(scratch) / "submission")
            except SubmissionError as err:
                skipped.append((entry.stem, str(err)))
                continue
            target = code_dir / f"{entry.stem}.py"
            target.write_text(student_code(root, paths))
            written.append(target)
    return written, skipped


def pair_rows(detector) -> list:
    """One row per pair of students from copydetect's matrices, most similar first."""
    names = [Path(path).stem for path in detector.test_files]
    rows = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            share_a, share_b = (float(value) for value in detector.similarity_matrix[i, j])
            rows.append({"student_a": names[i], "student_b": names[j], "similarity": round(max(share_a, share_b), 4),
                         "share_of_a": round(share_a, 4), "share_of_b": round(share_b, 4),
                         "overlapping_tokens": int(detector.token_overlap_matrix[i, j])})
    return sorted(rows, key=lambda row: (-row["similarity"], row["student_a"], row["student_b"]))


def compare_submissions(submissions_dir: Path, release_dir: Path, out_dir: Path,
                        display_threshold: float = DISPLAY_THRESHOLD) -> tuple:
    """Write the HTML and CSV reports to the new folder `out_dir`; returns (CSV rows, skipped submissions).

    A pair's similarity is the larger of the two shares (how much of a's code matches b's, and the other way
    round), so a short submission copied whole into a longer one still ranks high.
    """
    submissions_dir, release_dir, out_dir = Path(submissions_dir), Path(release_dir), Path(out_dir)
    entries, paths = check_inputs(submissions_dir, release_dir, out_dir)
    from copydetect import CopyDetector  # imports matplotlib: only once the inputs are known to be fine

    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = extract_all(entries, paths, out_dir / "code")
    if skipped:
        (out_dir / "skipped.txt").write_text("".join(f"{name}: {reason}\n" for name, reason in skipped))
    if len(written) < 2:
        raise SimilarityError(f"only {len(written)} submission(s) could be read; "
                              f"the others are listed in {out_dir / 'skipped.txt'}")
    detector = CopyDetector(force_language="python", display_t=display_threshold, autoopen=False, silent=True,
                            out_file=str(out_dir / "similarity.html"))
    for path in written:
        detector.add_file(str(path), type="testref")  # in this order: row i of the matrices is written[i]
    # Boilerplate: the release's files, and its stubs gathered like a student's code, since a run of untouched
    # stubs back to back (as in code/NAME.py) appears nowhere in the release's files.
    starter = out_dir / "starter_code.py"
    starter.write_text(student_code(release_dir, paths))
    for path in [starter] + [release_dir / path for path in paths]:
        detector.add_file(str(path), type="boilerplate")
    detector.run()
    with warnings.catch_warnings():  # copydetect 0.5 reads its template with a deprecated importlib call
        warnings.simplefilter("ignore", DeprecationWarning)
        detector.generate_html_report()
    rows = pair_rows(detector)
    with open(out_dir / "similarity.csv", "w", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows, skipped
