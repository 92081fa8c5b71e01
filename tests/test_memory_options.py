"""--offload and --vae_tiling: options that save GPU memory must not change what the course's runs make.

On a CPU, `--offload model` installs diffusers' real offload hooks with the CPU as the execution device: the same
code path as on a GPU (weights moved to the device when a network runs, back when the next one runs), so the
pictures must be byte-identical to `--offload none`. The CUDA test checks where the networks wait.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from configs.ambiguous_image_config import load_ambiguous_image_config
from configs.wide_image_config import load_wide_image_config
from guidance.ambiguous_image_model import AmbiguousImageModel
from guidance.wide_image_model import WideImageModel
from synckit.models import resolve_offload

STEPS = ["--num_inference_steps", "3"]
PROMPTS = ["a painting of a deer", "a painting of a truck"]


def panorama(*flags):
    model = WideImageModel(load_wide_image_config(["--tiny", "--prompt", "a lake", *STEPS, *flags]))
    return model, np.asarray(model("a lake", progress=False), dtype=np.int16)


def anagram(*flags):
    model = AmbiguousImageModel(load_ambiguous_image_config(["--tiny", "--prompts", *PROMPTS, *STEPS, *flags]))
    return model, [np.asarray(view, dtype=np.int16) for view in model(PROMPTS, progress=False)]


def test_auto_offloads_on_a_gpu_only():
    assert resolve_offload(SimpleNamespace(offload="auto"), torch.device("cuda", 1)) == "model"
    assert resolve_offload(SimpleNamespace(offload="auto"), torch.device("cpu")) == "none"
    assert resolve_offload(SimpleNamespace(offload="none"), torch.device("cuda", 0)) == "none"
    assert resolve_offload(SimpleNamespace(offload="model"), torch.device("cpu")) == "model"


def test_offloading_the_panorama_changes_no_pixel():
    kept, kept_image = panorama("--offload", "none")
    offloaded, offloaded_image = panorama("--offload", "model")
    assert not kept.model._all_hooks and offloaded.model._all_hooks  # the hooks really ran the offloaded one
    assert np.array_equal(kept_image, offloaded_image)


def test_offloading_the_anagram_changes_no_pixel():
    kept, kept_views = anagram("--offload", "none")
    offloaded, offloaded_views = anagram("--offload", "model")
    assert offloaded.stage_1._all_hooks and offloaded.stage_2._all_hooks
    assert not kept.stage_1._all_hooks
    for kept_view, offloaded_view in zip(kept_views, offloaded_views, strict=True):
        assert np.array_equal(kept_view, offloaded_view)


def test_vae_tiling_decodes_in_tiles_close_to_the_one_call_decode():
    _, whole = panorama()
    tiled_model, tiled = panorama("--vae_tiling")
    assert tiled_model.model.vae.use_tiling
    assert tiled.shape == whole.shape == (64, 384, 3)
    difference = np.abs(tiled - whole)
    assert difference.max() > 0  # the tiles were really decoded apart and blended
    # Measured on the tiny (random) VAE: a mean of 6.4 grey levels; the blend only touches the tiles' overlaps.
    assert difference.mean() < 16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: where networks wait between runs")
def test_offloaded_networks_wait_on_the_cpu_between_runs():
    kept, kept_views = anagram("--offload", "none")
    offloaded, offloaded_views = anagram("--offload", "model")
    for network in (offloaded.stage_1.text_encoder, offloaded.stage_1.unet, offloaded.stage_2.unet):
        assert next(network.parameters()).device.type == "cpu"
    assert next(kept.stage_1.unet.parameters()).device.type == "cuda"
    for kept_view, offloaded_view in zip(kept_views, offloaded_views, strict=True):
        assert np.array_equal(kept_view, offloaded_view)
