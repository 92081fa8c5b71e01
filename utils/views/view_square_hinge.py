"""Square hinge: turn each quadrant of the image a quarter turn in place.

Design: split the image into 2x2 quadrants; view turns the top-left and
bottom-right quadrants 90 degrees clockwise and the other two 90 degrees
counter-clockwise (a checkerboard of opposite turns, like four hinged tiles),
each about its own centre. Quarter turns of squares only move pixels, so this
is an exact permutation and inverse_view (the opposite turns) undoes it exactly.
"""

import torch

from .view_base import BaseView


def _turn_quadrants(im, clockwise_first):
    """Turn TL and BR quadrants one way, TR and BL the other way."""
    H, W = im.shape[-2:]
    if H != W or H % 2:
        raise ValueError(f"SquareHingeView needs a square image with an even side, got {H}x{W}")
    h = H // 2
    # k=-1 is clockwise for torch.rot90 over (H, W) dims, k=+1 counter-clockwise.
    k = -1 if clockwise_first else 1
    top = torch.cat([torch.rot90(im[..., :h, :h], k, dims=(-2, -1)),
                     torch.rot90(im[..., :h, h:], -k, dims=(-2, -1))], dim=-1)
    bottom = torch.cat([torch.rot90(im[..., h:, :h], -k, dims=(-2, -1)),
                        torch.rot90(im[..., h:, h:], k, dims=(-2, -1))], dim=-1)
    return torch.cat([top, bottom], dim=-2)


class SquareHingeView(BaseView):
    """Turns the 2x2 quadrants a quarter turn each, in place: top-left and
    bottom-right clockwise, top-right and bottom-left counter-clockwise (an
    exact pixel permutation; inverse_view applies the opposite turns).
    """

    def view(self, im, **kwargs):
        return _turn_quadrants(im, clockwise_first=True)

    def inverse_view(self, im, **kwargs):
        return _turn_quadrants(im, clockwise_first=False)
