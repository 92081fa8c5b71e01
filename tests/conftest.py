"""Shared fixtures: the tiny models, loaded once per session through the real loading code.

Sampling tests use a few steps: they check files, shapes and reproducibility; the schedules themselves are
tested step by step at the course's step counts in test_ddim.py.
"""

import os

# Tests never touch the network: a hub id fails at once instead of waiting for DNS.
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

from configs.ambiguous_image_config import load_ambiguous_image_config  # noqa: E402
from configs.wide_image_config import load_wide_image_config  # noqa: E402
from guidance.ambiguous_image_model import AmbiguousImageModel  # noqa: E402
from guidance.wide_image_model import WideImageModel  # noqa: E402

# pytest-xdist's workers share the cores: more torch threads than cores make every one of them spin and wait.
# The processes the tests start (main.py runs, the grader's children, notebooks) get the same share.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, torch.get_num_threads() // WORKERS))
torch.set_num_threads(THREADS)
if WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))
FEW_STEPS = ["--num_inference_steps", "4"]


@pytest.fixture(scope="session")
def wide_model():
    return WideImageModel(load_wide_image_config(["--tiny", "--prompt", "a test panorama", *FEW_STEPS]))


@pytest.fixture(scope="session")
def course_geometry_model():
    """The tiny SD weights with the course's real geometry: 512×3072 px, 64-latent windows, stride 8."""
    return WideImageModel(load_wide_image_config([
        "--tiny", "--prompt", "a test panorama", "--rgb_instance_size", "512", "--latent_instance_size", "64",
        "--window_stride", "8", "--panorama_height", "512", "--panorama_width", "3072",
    ]))


@pytest.fixture(scope="session")
def ambiguous_model():
    return AmbiguousImageModel(load_ambiguous_image_config(["--tiny", "--prompts", "a horse", "a village", *FEW_STEPS]))
