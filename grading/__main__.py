"""Instructor tools: `python -m grading release OUT_DIR` writes the student starter code."""

import argparse
import sys
from pathlib import Path

from grading.release import ReleaseError, release

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    release_cmd = commands.add_parser("release", help="write the student version of the repo to a new folder")
    release_cmd.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)

    try:
        stubbed = release(REPO_ROOT, args.out_dir)
    except ReleaseError as err:
        sys.exit(f"error: {err}")
    for path, regions in sorted(stubbed.items()):
        print(f"{path}: {regions} TODO region(s)")
    print(f"student release written to {args.out_dir}")


if __name__ == "__main__":
    main()
