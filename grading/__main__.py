"""Course tools: `python -m grading COMMAND ...`; `python -m grading COMMAND --help` for a command's options.

Each command is a module with `add_arguments(parser)` and `run(args)`, imported only when its command runs.
A command whose module is absent is not offered: the student release ships only `collect`.
"""

import argparse
import importlib
import importlib.util
import signal
import sys

# command: (its module, one line of help). Adding a command is one line here plus its module.
COMMANDS = {
    "collect": ("grading.collect", "pack your code, report and images into NAME_ID.zip for Gradescope"),
    "release": ("grading.release", "write the student version of the repo to a new folder"),
    "check": ("grading.integrity", "list every line a submission changed outside the TODO regions"),
    "similarity": ("grading.similarity", "compare the students' TODO code with copydetect (HTML + CSV report)"),
    "gradescope": ("grading.gradescope", "build the Gradescope autograder zip (CPU unit stage)"),
    "references": ("grading.references", "compute the solution's outputs on every check into a root-only file"),
    "grade": ("grading.grade", "grade one submission into Gradescope's results.json (unit or gpu stage)"),
    "batch": ("grading.batch", "grade a folder of submissions, resumable, optionally one shard of them"),
    "merge": ("grading.merge", "join the results of batch shards into one gradebook CSV"),
    "walkthroughs": ("grading.walkthroughs", "copy the zips' walkthrough notebooks into nbgrader's submitted/"),
}


def available() -> dict:
    return {name: entry for name, entry in COMMANDS.items() if importlib.util.find_spec(entry[0]) is not None}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = available()
    parser = argparse.ArgumentParser(
        prog="python -m grading", description="Course tools; `python -m grading COMMAND --help` shows a command's options.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_line) in commands.items():
        command = subparsers.add_parser(name, help=help_line, description=help_line)
        if argv and argv[0] == name:  # only the chosen command's module (and its dependencies) is imported
            importlib.import_module(module).add_arguments(command)
    args = parser.parse_args(argv)
    # SIGTERM (`timeout`, a stopped job) ends a command as Ctrl-C would: its temporary folders are removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    importlib.import_module(commands[args.command][0]).run(args)


if __name__ == "__main__":
    main()
