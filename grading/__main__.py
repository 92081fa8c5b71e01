"""Course tools.

    python -m grading release OUT_DIR                 write the student starter code (instructor)
    python -m grading check RELEASE_DIR SUBMISSION    list edits outside the TODO regions
"""

import argparse
import sys
from pathlib import Path

from grading.integrity import check_integrity
from grading.release import ReleaseError, release

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    release_cmd = commands.add_parser("release", help="write the student version of the repo to a new folder")
    release_cmd.add_argument("out_dir", type=Path)
    check_cmd = commands.add_parser("check", help="list every line a submission changed outside the TODO regions")
    check_cmd.add_argument("release_dir", type=Path)
    check_cmd.add_argument("submission_dir", type=Path)
    args = parser.parse_args(argv)

    if args.command == "check":
        check(args.release_dir, args.submission_dir)
        return
    try:
        stubbed = release(REPO_ROOT, args.out_dir)
    except ReleaseError as err:
        sys.exit(f"error: {err}")
    for path, regions in sorted(stubbed.items()):
        print(f"{path}: {regions} TODO region(s)")
    print(f"student release written to {args.out_dir}")


def check(release_dir: Path, submission_dir: Path) -> None:
    for folder in (release_dir, submission_dir):
        if not folder.is_dir():
            sys.exit(f"error: {folder} is not a folder")
    findings = check_integrity(release_dir, submission_dir)
    for finding in findings:
        print(finding)
    if findings:
        sys.exit(f"{len(findings)} change(s) outside the TODO regions: restore them from the release")
    print("no changes outside the TODO regions")


if __name__ == "__main__":
    main()
