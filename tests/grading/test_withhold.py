"""The second guard: no line of the rubric or of the solution's regions reaches results.json."""

from grading.release import REPO_ROOT
from grading.rubric import RUBRIC_PATH
from grading.withhold import NOTICE, secret_lines, withhold

SOLUTION_LINE = "        return (xts - sigmas[timestep] * eps) / alphas[timestep]"  # compute_tweedie's


def test_rubric_and_solution_lines_are_withheld_and_the_rest_kept():
    rubric_line = next(line for line in RUBRIC_PATH.read_text().splitlines() if line.startswith("hidden_seed"))
    assert SOLUTION_LINE in (REPO_ROOT / "guidance" / "base_model.py").read_text()
    document = {"score": 1.0, "output": f"header\nleaked: {rubric_line}\nfooter", "tests": [
        {"name": "a check", "score": 0, "max_score": 1, "output": f"RuntimeError: {SOLUTION_LINE.strip()}\n  at x.py:3"},
        {"name": "another", "score": 1, "max_score": 1, "output": "matches"},
    ]}
    cleaned = withhold(document, secret_lines(RUBRIC_PATH, REPO_ROOT))
    assert cleaned["output"] == f"header\n{NOTICE}\nfooter"
    assert cleaned["tests"][0]["output"] == f"{NOTICE}\n  at x.py:3"
    assert cleaned["tests"][1] == document["tests"][1] and cleaned["score"] == 1.0
    assert rubric_line in document["output"]  # the original is left as it was


def test_short_common_lines_are_not_secrets():
    secrets = secret_lines(RUBRIC_PATH, REPO_ROOT)
    assert secrets and all(len(line) >= 16 for line in secrets)
    text = "returned shape [2, 3], expected [2, 4]\nvalues differ from the expected ones (largest difference 0.5)"
    assert withhold({"output": text, "tests": []}, secrets)["output"] == text
