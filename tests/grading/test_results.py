"""results.json: documents follow Gradescope's schema, and whatever happens a valid file is written."""

import json

import pytest

from grading.results import Check, results_document, schema_problems, write_results


def test_document_sums_scores_and_sets_status():
    document = results_document(
        [Check("Task 1 unit tests", 5, 5), Check("Task 1 CLIP score", 2.5, 5, "0.271: half"), Check("hidden", 0, 1, visibility="hidden")],
        output="graded", execution_time=3.14159,
    )
    assert document["score"] == 7.5 and document["execution_time"] == 3.14
    assert [test["status"] for test in document["tests"]] == ["passed", "failed", "failed"]
    assert schema_problems(document) == []


def test_a_check_records_its_task_as_data():
    assert Check("Task 2 · CLIP score tier", 5, 5, task=2).entry()["extra_data"] == {"task": 2}
    assert "extra_data" not in Check("a check of no task", 1, 1).entry()


@pytest.mark.parametrize("document, problem", [
    ({"score": float("nan")}, "score must be a finite number"),
    ({"tests": [{"name": "a", "score": 2, "max_score": 1}]}, "outside 0..1"),
    ({"tests": [{"name": "a", "score": True}]}, "finite number"),
    ({"tests": [{"name": "", "score": 0}]}, "name must be"),
    ({"tests": [{"name": "a", "visibility": "secret"}]}, "visibility must be"),
    ({"tests": [{"name": "a", "status": "ok"}]}, "status must be"),
    ({"tests": "all"}, "tests must be a list"),
    ({"extra_data": ["stage", "unit"]}, "extra_data must be an object"),
    ({"tests": [{"name": "a", "extra_data": 1}]}, "tests[0].extra_data must be an object"),
    ([], "not a JSON object"),
])
def test_schema_problems_are_named(document, problem):
    assert any(problem in found for found in schema_problems(document))


def test_valid_document_is_written_as_is(tmp_path):
    document = results_document([Check("a", 1, 1)])
    write_results(tmp_path / "results" / "results.json", document)
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == document
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["results.json"]  # no temporary left behind


def test_invalid_document_still_gives_a_valid_zero_score_file(tmp_path):
    written = write_results(tmp_path / "results.json", {"score": float("inf"), "tests": [{"name": "x", "score": float("nan")}]})
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == written and on_disk["score"] == 0 and "invalid result" in on_disk["output"]
    assert schema_problems(on_disk) == []
