"""synckit/seams.py: the seam measures see jumps at the borders they look at, and nothing where there are none."""

import numpy as np
import pytest
from PIL import Image

from synckit.seams import seam_ratio, wrap_seam_ratio


def picture(pixels) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def test_the_seam_ratio_sees_jumps_at_tile_borders_only():
    stripes = np.tile((np.arange(384) % 2 * 10 + 100)[None, :, None], (64, 1, 3))  # a step of 10 between all columns
    assert seam_ratio(picture(stripes), 64) == pytest.approx(1.0)
    tiles = stripes.copy()
    tiles[:, 64:128] += 100  # one tile brighter: jumps at its two borders
    assert seam_ratio(picture(tiles), 64) > 3  # (two of the five borders jump by 100 where every step is 10: 4.6)


@pytest.mark.parametrize("width", [384, 385])
def test_the_wrap_seam_ratio_sees_the_jump_from_the_last_column_to_the_first_only(width):
    # up by one grey level per column, then down by one back to the start: no seam at the wrap; a ramp jumps back
    wave = np.minimum(np.arange(width), width - np.arange(width))
    assert wrap_seam_ratio(picture(np.tile(wave[None, :, None], (8, 1, 3)))) == pytest.approx(1.0, abs=0.01)
    ramp = np.tile((np.arange(width) * 0.5)[None, :, None], (8, 1, 3))  # steps of 0.5, then back by 192 at the wrap
    assert wrap_seam_ratio(picture(ramp)) > 100
    ramp[:, width // 3] += 40  # a jump elsewhere is not the wrap's
    assert wrap_seam_ratio(picture(ramp)) > 100
