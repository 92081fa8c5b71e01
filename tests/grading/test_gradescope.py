"""The Gradescope autograder zip: its layout, and run_autograder leaving a valid results.json whatever happens."""

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from submissions import add_placeholder_outputs, solved_submission

from grading.gradescope import GradescopeError, build_autograder
from grading.markers import BEGIN_SOLUTION, BEGIN_TODO
from grading.results import schema_problems

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    build_autograder(REPO, out)
    return out


def unpack_like_gradescope(archive: Path, root: Path) -> Path:
    """Gradescope unzips the autograder into /autograder/source; `root` stands in for /autograder."""
    kit = root / "source"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(kit)
        for info in zf.infolist():  # zipfile drops the modes that unzip keeps
            os.chmod(kit / info.filename, (info.external_attr >> 16) & 0o777 or 0o644)
    return kit


def run_autograder(root: Path, timeout: int):
    env = {**os.environ, "AUTOGRADER_ROOT": str(root),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # python3 is this python
    return subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_scripts_are_executable_at_the_root(autograder_zip):
    infos = {info.filename: info for info in zipfile.ZipFile(autograder_zip).infolist()}
    for name in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[name].external_attr >> 16) == 0o755
    setup = zipfile.ZipFile(autograder_zip).read("setup.sh").decode()
    assert "download.pytorch.org/whl/cpu" in setup and 'pip install --no-cache-dir -e ./source' in setup


def test_source_is_the_whole_repo_and_release_has_no_solution(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        assert not [name for name in names if ".git/" in name or "__pycache__" in name]
        assert {"source/grading/gradescope.py", "source/tests/grading/test_release.py", "source/pyproject.toml"} <= set(names)
        assert BEGIN_SOLUTION in zf.read("source/guidance/base_model.py").decode()
        released = [name for name in names if name.startswith("release/")]
        assert "release/grading/collect.py" in released and "release/grading/release.py" not in released
        for name in released:
            if name.endswith(".py"):  # no solution region: a marker line (tests may name the marker in a string)
                assert BEGIN_SOLUTION not in {line.strip() for line in zf.read(name).decode().splitlines()}, name
        assert BEGIN_TODO in zf.read("release/guidance/base_model.py").decode()


def test_an_existing_zip_is_refused(autograder_zip):
    before = autograder_zip.stat().st_mtime_ns
    with pytest.raises(GradescopeError, match="already exists"):
        build_autograder(REPO, autograder_zip)
    assert autograder_zip.stat().st_mtime_ns == before


def test_a_failing_grade_still_writes_a_valid_results_json(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    kit = unpack_like_gradescope(autograder_zip, root)
    (kit / "source" / "grading" / "__main__.py").unlink()  # a broken install: `python -m grading` cannot start
    (root / "submission").mkdir()
    run_autograder(root, timeout=60)
    document = json.loads((root / "results" / "results.json").read_text())
    assert schema_problems(document) == []
    assert document["score"] == 0 and "exit status 1" in document["output"] and "grading" in document["output"]


@pytest.mark.slow
def test_the_solution_gets_full_marks_through_run_autograder(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    kit = unpack_like_gradescope(autograder_zip, root)
    add_placeholder_outputs(solved_submission(kit / "release", root / "submission"), kit / "release" / "data")
    done = run_autograder(root, timeout=900)
    document = json.loads((root / "results" / "results.json").read_text())
    assert schema_problems(document) == []
    assert document["tests"], done.stdout[-3000:] + document["output"]
    scored = [test for test in document["tests"] if test["max_score"] > 0]
    assert scored and all(test["status"] == "passed" for test in document["tests"]), document["output"]
    assert document["score"] == pytest.approx(sum(test["max_score"] for test in scored))
