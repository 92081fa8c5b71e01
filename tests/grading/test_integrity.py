"""Integrity check: edits outside TODO regions, and changed hyperparameters, are found and named by line."""


import pytest
from submissions import REPO, edit, solved_submission

from grading.integrity import check_integrity
from grading.release import release


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("integrity") / "release"
    release(REPO, out)
    return out


@pytest.fixture
def solved(release_dir, tmp_path):
    """A submission as a student who solved everything would hand it in."""
    return solved_submission(release_dir, tmp_path / "submission")


def test_untouched_release_and_a_full_solution_pass(release_dir, solved):
    assert check_integrity(release_dir, release_dir) == []
    assert check_integrity(release_dir, solved) == []


def test_trailing_whitespace_is_not_a_change(release_dir, solved):
    edit(solved / "main.py", "import json\n", "import json   \n")
    assert check_integrity(release_dir, solved) == []


def test_a_changed_given_line_is_named_with_its_line_number(release_dir, solved):
    path = solved / "guidance" / "base_model.py"
    edit(path, 'eps_preds = self.compute_noise_preds(xts, timestep, **kwargs)',
         'eps_preds = self.compute_noise_preds(xts, timestep, **kwargs)[:, :3]')
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "[:, :3]" in text)
    findings = check_integrity(release_dir, solved)
    assert len(findings) == 1
    assert findings[0].startswith(f"guidance/base_model.py:{line}: changed") and "[:, :3]" in findings[0]


def test_a_changed_fixed_hyperparameter_is_found(release_dir, solved):
    edit(solved / "configs" / "wide_image_config.py", "guidance_scale=7.5", "guidance_scale=12.0")
    findings = check_integrity(release_dir, solved)
    assert len(findings) == 1 and "configs/wide_image_config.py" in findings[0] and "12.0" in findings[0]


def test_edited_data_file_removed_marker_and_missing_file_are_found(release_dir, solved):
    edit(solved / "data" / "wide_image_prompts.json", "2535", "0")
    rotate = solved / "utils" / "views" / "view_rotate.py"
    rotate.write_text(rotate.read_text().replace("        ### END TODO\n", "", 1))
    (solved / "synckit" / "models.py").unlink()
    findings = "\n".join(check_integrity(release_dir, solved))
    assert "data/wide_image_prompts.json" in findings
    assert "utils/views/view_rotate.py" in findings
    assert "synckit/models.py: missing from the submission" in findings


def test_check_command_reports_and_fails_on_changes(release_dir, solved, capsys):
    from grading.__main__ import main

    main(["check", str(release_dir), str(solved)])
    assert "no changes" in capsys.readouterr().out
    edit(solved / "configs" / "ambiguous_image_config.py", 'default=90.0', 'default=45.0')
    with pytest.raises(SystemExit, match="1 change"):
        main(["check", str(release_dir), str(solved)])
    assert "configs/ambiguous_image_config.py:" in capsys.readouterr().out


def test_transplant_runs_the_students_regions_inside_the_courses_code(release_dir, solved):
    from grading.integrity import transplant

    path = "guidance/base_model.py"
    released, submitted = (release_dir / path).read_text(), (solved / path).read_text()
    # the submission also edited given code: the transplant keeps the course's line
    tampered = submitted.replace("check_like(x_t_1, xts,", "pass  # check_like(x_t_1, xts,")
    result = transplant(released, tampered, path)
    assert result == submitted  # the solution's regions, the release's given code
    assert "pass  # check_like" not in result


def test_transplant_refuses_missing_markers(release_dir, solved):
    from grading.integrity import transplant

    path = "utils/views/view_rotate.py"
    damaged = (solved / path).read_text().replace("### BEGIN TODO", "", 1).replace("### END TODO", "", 1)
    with pytest.raises(ValueError, match="2 TODO region"):
        transplant((release_dir / path).read_text(), damaged, path)
