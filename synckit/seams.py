"""How visible the borders of a panorama are: the picture's step from one pixel column to the next, at the places
where a seam could be against everywhere else (scripts/toy_world_report.py, tests/test_circular_panorama.py)."""

import numpy as np


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
