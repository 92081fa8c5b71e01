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
from utils.image_utils import tensor_to_pil

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


def test_vae_tiling_decodes_the_panorama_in_tiles():
    _, whole = panorama()
    tiled_model, tiled = panorama("--vae_tiling")
    assert tiled_model.model.vae.use_tiling
    assert tiled.shape == whole.shape == (64, 384, 3)
    assert np.abs(tiled - whole).max() > 0  # the tiles were really decoded apart and blended

    # diffusers' tiles are one window (8x8 latent px) and start every 6 latent px, across and down; the first tile
    # alone makes the picture's top-left 48x48 px, the blends starting where the next tiles overlap it. How far the blended picture is from the
    # one-call decode depends on the VAE: the toy one's GroupNorm statistics change from tile to tile, so on it
    # tiling changes the picture as much as another seed (README: not for submitted images).
    latents = []
    decode = tiled_model.vae_decode
    tiled_model.vae_decode = lambda z0: latents.append(z0) or decode(z0)
    # within a grey level, not bit for bit: the order of a convolution's float sums follows the CPU threads free
    assert np.abs(np.asarray(tiled_model("a lake", progress=False), dtype=np.int16) - tiled).max() <= 1
    first_tile = tiled_model.vae_decode(latents[0][..., :8])  # 8x8 latents: one tile, decoded in one call
    first_tile = np.asarray(tensor_to_pil(first_tile[0]), dtype=np.int16)
    assert np.abs(tiled[:48, :48] - first_tile[:48, :48]).max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: where networks wait between runs")
def test_offloaded_networks_wait_on_the_cpu_between_runs():
    kept, kept_views = anagram("--offload", "none")
    offloaded, offloaded_views = anagram("--offload", "model")
    for network in (offloaded.stage_1.text_encoder, offloaded.stage_1.unet, offloaded.stage_2.unet):
        assert next(network.parameters()).device.type == "cpu"
    assert next(kept.stage_1.unet.parameters()).device.type == "cuda"
    for kept_view, offloaded_view in zip(kept_views, offloaded_views, strict=True):
        assert np.array_equal(kept_view, offloaded_view)
