"""Upside-down flip: reverse the order of the rows."""

import torch

from .view_base import BaseView


class FlipView(BaseView):
    """Vertical flip (along H): row 0 becomes the last row.

    A flip is its own inverse, and it only moves pixels, so
    inverse_view(view(x)) == x exactly.
    """

    def view(self, im, **kwargs):
        return torch.flip(im, dims=[-2])

    def inverse_view(self, im, **kwargs):
        return torch.flip(im, dims=[-2])
