"""The results.json Gradescope gets when the grade command did not finish: zero points, and why.

    python3 -m grading.grade_failed RESULTS_JSON LOG EXIT_STATUS

grading/autograder/run_autograder calls this when `python -m grading grade` fails, hangs or is missing, so
the student reads what went wrong instead of "The autograder failed to execute correctly".
"""

import sys
from pathlib import Path

from grading.results import results_document, write_results
from grading.rubric import RUBRIC_PATH
from grading.withhold import secret_lines, withhold
from synckit.layout import REPO_ROOT

LOG_TAIL_CHARS = 3000  # the end of the output, where the error is
TIMED_OUT = ("124", "137")  # timeout's status when it stopped the command, and when it had to kill it


def failure_document(log_text: str, status: str) -> dict:
    reason = "it ran out of time" if status in TIMED_OUT else f"exit status {status}"
    return results_document([], f"The grader stopped before finishing ({reason}); please contact the course staff.\n"
                                f"The end of its output:\n{log_text[-LOG_TAIL_CHARS:]}")


def main(argv) -> None:
    results, log, status = argv
    log_path = Path(log)
    log_text = log_path.read_text(errors="replace") if log_path.is_file() else "(no output was recorded)"
    write_results(Path(results), withhold(failure_document(log_text, status), secret_lines(RUBRIC_PATH, REPO_ROOT)))


if __name__ == "__main__":
    main(sys.argv[1:])
