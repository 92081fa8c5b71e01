"""Rotate the whole image by 90 degrees clockwise.

A quarter turn of a square image only moves pixels around (an exact
permutation), so inverse_view(view(x)) == x bit for bit.
"""

import torch

from .view_base import BaseView


class Rotate90CWView(BaseView):
    """view: 90 degrees clockwise as the image is displayed (row 0 at the top),
    so the top-left pixel ends up in the top-right corner.
    inverse_view: 90 degrees counter-clockwise.
    """

    def view(self, im, **kwargs):
        # TODO: rotate `im` ([C, H, W]) 90 degrees clockwise with torch.rot90.
        # Check which way torch.rot90 turns for k=1 before you pick k and dims.
        ### BEGIN SOLUTION
        # torch.rot90 with k=1 turns from the first of `dims` towards the
        # second. With dims=(H, W) that takes the top-right corner to the
        # top-left one: counter-clockwise on screen (like np.rot90).
        # Clockwise is therefore k=-1.
        return torch.rot90(im, k=-1, dims=(-2, -1))
        ### END SOLUTION

    def inverse_view(self, im, **kwargs):
        # TODO: undo `view`: rotate 90 degrees counter-clockwise.
        ### BEGIN SOLUTION
        return torch.rot90(im, k=1, dims=(-2, -1))
        ### END SOLUTION
