"""How visible the borders of a panorama are: the picture's step from one pixel column to the next, at the places
where a seam could be against everywhere else (scripts/toy_world_report.py, tests/test_circular_panorama.py)."""

import numpy as np
import torch

from utils.image_utils import tensor_to_pil


def seam_ratio(image, period: int) -> float:
    """Mean |horizontal gradient| across the borders between tiles of `period` px (columns period·k − 1 | period·k)
    over its mean across every other pair of neighbouring columns: ≈ 1 where borders look like anywhere else,
    > 1 where the picture jumps at them."""
    pixels = np.asarray(image, dtype=np.float64)
    gradient = np.abs(np.diff(pixels, axis=1)).mean(axis=(0, 2))  # [width − 1]: between column c and c + 1
    at_border = np.zeros_like(gradient, dtype=bool)
    at_border[period - 1::period] = True
    return float(gradient[at_border].mean() / gradient[~at_border].mean())


def wrap_seam_ratio(image) -> float:
    """seam_ratio of the one border a 360° panorama adds, its last column | its first, against every other pair of
    neighbouring columns: turned by half its width (rounded up), the picture has that border in the middle, as the
    only border seam_ratio sees at that period."""
    pixels = np.asarray(image)
    turn = pixels.shape[1] - pixels.shape[1] // 2
    return seam_ratio(np.roll(pixels, turn, axis=1), period=turn)


def decode_windows_apart(model) -> None:
    """Turn a wide-image model whose windows do not overlap (--window_stride = the window size) into the baseline of
    independent windows: each window's latent decoded alone and the pictures put side by side, as if every window
    were an image sampled and decoded on its own. (One VAE call over the whole latent would blend the borders the
    baseline is there to show: the decoder sees across them.)"""
    size = model.config.latent_instance_size

    def decode(z0):
        windows = [model.vae_decode(z0[..., left:left + size]) for left in range(0, z0.shape[-1], size)]
        return tensor_to_pil(torch.cat(windows, dim=-1)[0])

    model.decode = decode
