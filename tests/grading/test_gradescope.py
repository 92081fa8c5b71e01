"""The Gradescope autograder zip: its layout, and run_autograder leaving a valid results.json whatever happens."""

import importlib.metadata
import json
import os
import re
import stat
import sys
import zipfile
from pathlib import Path

import pytest
from gradescope_layout import run_autograder, unpack_like_gradescope

from grading.gradescope import GradescopeError, build_autograder
from grading.markers import BEGIN_SOLUTION, BEGIN_TODO
from grading.results import schema_problems

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    build_autograder(REPO, out)
    return out


def test_the_scripts_are_executable_at_the_root(autograder_zip):
    infos = {info.filename: info for info in zipfile.ZipFile(autograder_zip).infolist()}
    for name in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[name].external_attr >> 16) == 0o755
    setup = zipfile.ZipFile(autograder_zip).read("setup.sh").decode()
    assert "download.pytorch.org/whl/cpu" in setup and "grading/autograder/requirements.txt" in setup


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


def lock_pins() -> dict:
    """{marker: {package: version}} from the Gradescope lock file."""
    pins = {}
    for line in (REPO / "grading" / "autograder" / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement, marker = (part.strip() for part in line.split(";"))
            name, version = requirement.split("==")
            pins.setdefault(marker, {})[name] = version
    return pins


def test_the_gradescope_lock_pins_every_runtime_package_for_both_pythons():
    pins = lock_pins()
    assert set(pins) == {'python_version >= "3.11"', 'python_version < "3.11"'}
    project = (REPO / "pyproject.toml").read_text()
    runtime = re.findall(r'^    "([A-Za-z0-9_]+)[><=]', project.split("dependencies = [")[1].split("]")[0], re.M)
    # CLIP: the GPU stage only; lpips: SyncDiffusion's sampling only (its unit checks pass a stand-in loss);
    # torchmetrics and torch-fidelity: synckit.compare's FID/KID, which the grader never runs
    not_graded = {"open-clip-torch", "lpips", "torchmetrics", "torch-fidelity"}
    needed = {re.sub(r"[-_.]+", "-", name).lower() for name in runtime} - not_graded
    for marker, pinned in pins.items():
        assert needed - {"tomli"} <= set(pinned), (marker, needed - set(pinned))
        assert pinned["torch"].endswith("+cpu")  # from PyTorch's CPU index, not PyPI's CUDA build
    assert "tomli" in pins['python_version < "3.11"']


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the lock's tested versions are those for Python 3.11 and newer")
@pytest.mark.skipif(os.environ.get("CI") != "true",
                    reason="compares this environment with the lock, which CI installs as constraints (.ci/run); "
                           "a plain `pip install -e .` takes PyPI's newest versions")
def test_the_gradescope_lock_is_what_the_kit_is_tested_with():
    drifted = {name: (version, importlib.metadata.version(name))
               for name, version in lock_pins()['python_version >= "3.11"'].items()
               if importlib.metadata.version(name) != version.split("+")[0]}
    assert not drifted, f"update grading/autograder/requirements.txt to the tested versions: {drifted}"
