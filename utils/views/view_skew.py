"""Horizontal skew (shear): each row slides sideways, more the further it is
from the middle row.

This view resamples and is NOT a permutation: pixels pushed past the left or
right edge are lost, and the strip uncovered on the other side is filled by
repeating the edge pixel. inverse_view(view(x)) therefore equals x only where
the shifted row stayed inside the frame; near the side edges it does not.
"""

import functools

import torch

from .view_base import BaseView


@functools.lru_cache(maxsize=None)
def _skew_indices(img_size, skew_factor, device):
    """Flat gather indices (forward, inverse) for an img_size x img_size image.

    Computed once per (size, skew_factor, device) and cached.
    """
    # Row centres measured from the image centre (pixel-centre convention),
    # so rows above the middle shift left and rows below shift right.
    y = torch.arange(img_size, dtype=torch.float64) - img_size / 2 + 0.5
    # skew_factor / 4 pixels of shift per row: at the default 1.5 the top and
    # bottom rows move about 19% of the width, whatever the image size.
    # Rounding to whole pixels is the nearest-neighbour resampling.
    shift = torch.round(skew_factor / 4 * y).long()[:, None]  # [S, 1]
    rows = torch.arange(img_size)[:, None]
    cols = torch.arange(img_size)[None, :]
    # Output (row, col) reads input column col - shift (clamped to the edge).
    forward = rows * img_size + (cols - shift).clamp(0, img_size - 1)
    inverse = rows * img_size + (cols + shift).clamp(0, img_size - 1)
    return forward.reshape(-1).to(device), inverse.reshape(-1).to(device)


class SkewView(BaseView):
    """Shears rows horizontally by skew_factor / 4 pixels per row away from the
    middle row (nearest neighbour, edge pixels repeated). Not a permutation:
    its inverse is exact only away from the left and right edges.
    """

    def __init__(self, skew_factor=1.5):
        self.skew_factor = skew_factor

    def view(self, im, **kwargs):
        forward, _ = _skew_indices(im.shape[-1], self.skew_factor, im.device)
        return im.flatten(-2)[..., forward].reshape(im.shape)

    def inverse_view(self, im, **kwargs):
        _, inverse = _skew_indices(im.shape[-1], self.skew_factor, im.device)
        return im.flatten(-2)[..., inverse].reshape(im.shape)
