"""Skew: each column slides vertically, more the further it is from the middle, wrapping around.

Visual Anagrams' definition: column i is rolled (circularly) by int(skew_factor · (i − S/2)) pixels, so
what leaves the bottom of a column comes back at its top. Every pixel moves and none is lost or copied:
an exact pixel permutation, and inverse_view (the opposite rolls) undoes it bit for bit. Noise stays
noise under it, which averaging ε̂ across views relies on.
"""

import functools

import torch

from .view_base import BaseView


@functools.lru_cache(maxsize=None)
def _skew_indices(img_size, skew_factor, device):
    """Flat gather indices (forward, inverse) for an img_size x img_size image, cached per size and device."""
    # int() truncates towards zero, as Visual Anagrams' int(skew_factor * (i - S/2)).
    shift = torch.tensor([int(skew_factor * (i - img_size / 2)) for i in range(img_size)])[None, :]  # [1, S]
    rows = torch.arange(img_size)[:, None]
    cols = torch.arange(img_size)[None, :]
    # Rolling column j down by shift[j]: output row r reads input row (r - shift[j]) mod S.
    forward = ((rows - shift) % img_size) * img_size + cols
    inverse = ((rows + shift) % img_size) * img_size + cols
    return forward.reshape(-1).to(device), inverse.reshape(-1).to(device)


class SkewView(BaseView):
    """Rolls column i down by int(skew_factor · (i − S/2)) pixels, wrapping around (an exact permutation;
    inverse_view rolls each column back)."""

    def __init__(self, skew_factor=1.5):
        self.skew_factor = skew_factor

    def view(self, im, **kwargs):
        forward, _ = _skew_indices(im.shape[-1], self.skew_factor, im.device)
        return im.flatten(-2)[..., forward].reshape(im.shape)

    def inverse_view(self, im, **kwargs):
        _, inverse = _skew_indices(im.shape[-1], self.skew_factor, im.device)
        return im.flatten(-2)[..., inverse].reshape(im.shape)
