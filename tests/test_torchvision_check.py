"""torch and torchvision as one pair: the error that names a mismatch, and the bounds and commands that avoid one."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

from synckit.torchvision_check import (PYTORCH_INDEX, TESTED_TORCH, TESTED_TORCHVISION, fix_command,
                                       mismatch_message, wheel_index)

REPO = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# What `import torchvision` raised in a fresh venv holding torch 2.13.0+cpu (PyTorch's CPU build) and PyPI's
# torchvision 0.28.0, whose version.py says 0.28.0+cu130; transformers reported it as
# "Could not import module 'CLIPImageProcessor'".
REAL_ERROR = RuntimeError("operator torchvision::nms does not exist")


def test_the_message_names_both_builds_the_error_and_the_fix():
    message = mismatch_message("2.13.0+cpu", "0.28.0+cu130", REAL_ERROR, CPU_INDEX)
    first_line, *_, last_line = message.splitlines()
    assert first_line == ("torchvision 0.28.0+cu130 does not import beside torch 2.13.0+cpu "
                          "(RuntimeError: operator torchvision::nms does not exist).")
    assert "Could not import module 'CLIPImageProcessor'" in message  # the words a student searched for
    assert last_line.strip() == (f"pip install --force-reinstall --no-deps torch=={TESTED_TORCH} "
                                 f"torchvision=={TESTED_TORCHVISION} --index-url {CPU_INDEX}")


@pytest.mark.parametrize("system, cuda_available, torch_cuda, index", [
    ("Linux", False, None, f"{PYTORCH_INDEX}/cpu"),
    ("Linux", False, "13.0", f"{PYTORCH_INDEX}/cpu"),  # PyPI's CUDA torch on a laptop: the CPU pair, not GBs of CUDA
    ("Linux", True, "13.0", f"{PYTORCH_INDEX}/cu130"),
    ("Windows", True, "12.6", f"{PYTORCH_INDEX}/cu126"),
    ("Windows", False, None, f"{PYTORCH_INDEX}/cpu"),
    ("Darwin", False, None, None),  # PyPI's macOS wheels are the CPU/MPS build
])
def test_the_fix_keeps_the_build_the_machine_can_use(system, cuda_available, torch_cuda, index):
    assert wheel_index(system, cuda_available, torch_cuda) == index


def test_the_fix_without_an_index_takes_the_pair_from_pypi():
    assert fix_command(None) == (f"pip install --force-reinstall --no-deps torch=={TESTED_TORCH} "
                                 f"torchvision=={TESTED_TORCHVISION}")


def torch_requirement() -> Requirement:
    dependencies = project_table()["dependencies"]
    return next(Requirement(line) for line in dependencies if Requirement(line).name == "torch")


def project_table() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_pyproject_admits_torch_up_to_the_tested_release_and_no_further():
    # torchvision 0.29.x asks only for torch>=2.14.0: torch's upper bound is what keeps pip on released pairs.
    tested = Version(TESTED_TORCH)
    specifier = torch_requirement().specifier
    assert specifier.contains(TESTED_TORCH)
    assert not specifier.contains(f"{tested.major}.{tested.minor + 1}.0")


def test_the_readme_installs_the_tested_pair():
    readme = (REPO / "README.md").read_text()
    pair = f"pip install torch=={TESTED_TORCH} torchvision=={TESTED_TORCHVISION}"
    assert f"{pair} --index-url {CPU_INDEX}\n" in readme


def test_ci_installs_the_tested_pair():
    ci = REPO / ".ci" / "run"
    if not ci.is_file():
        pytest.skip("no .ci/run: a student release")
    assert f'"torch=={TESTED_TORCH}" "torchvision=={TESTED_TORCHVISION}"' in ci.read_text()


@pytest.mark.slow  # pip fetches a torchvision wheel (7 MB), then a fresh interpreter imports torch: ~5 s
def test_a_torchvision_built_for_another_torch_stops_the_kit_with_the_message(tmp_path):
    # The torchvision of the previous release pair, shadowing the installed one: a real mismatch, no new venv.
    installed = Version(torch.__version__)
    older_torchvision = f"0.{installed.minor + 15 - 1}.0"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp_path),
                    f"torchvision=={older_torchvision}"], check=True)
    imported = subprocess.run([sys.executable, "-c", "import synckit.models"], capture_output=True, text=True,
                              cwd=REPO, env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])})
    assert imported.returncode != 0
    assert f"{os.sep}diffusers{os.sep}" not in imported.stderr  # stopped before diffusers could hide it
    error = imported.stderr[imported.stderr.index("TorchvisionMismatchError: "):]
    assert error.startswith(f"TorchvisionMismatchError: torchvision {older_torchvision}")
    assert f"beside torch {torch.__version__}" in error
    index = wheel_index(platform.system(), torch.cuda.is_available(), torch.version.cuda)
    assert error.rstrip().endswith(fix_command(index))


@pytest.mark.slow  # pip resolves every dependency from the configured indexes: ~25 s
def test_pip_resolves_the_project_to_a_released_pair(tmp_path):
    report = tmp_path / "report.json"
    # Without this machine's own cap on torch (PIP_CONSTRAINT), so that pyproject.toml's bounds are what is tested.
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                    "--report", str(report), "-e", str(REPO)],
                   check=True, env={**os.environ, "PIP_CONSTRAINT": os.devnull})
    versions = {item["metadata"]["name"]: Version(item["metadata"]["version"]) for item in json.loads(report.read_text())["install"]}
    torch_version, torchvision_version = versions["torch"], versions["torchvision"]
    assert torchvision_version.minor == torch_version.minor + 15, (torch_version, torchvision_version)
    assert torch_version.release[:2] == Version(TESTED_TORCH).release[:2]
