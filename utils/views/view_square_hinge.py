"""Square hinge: a 3×3 grid of squares, each turned a quarter turn in place (Visual Anagrams' design).

The image is cut into nine squares of side S // 3 (for S = 64 or 256 the last row and column of pixels,
S mod 3 of them, are outside the grid and stay where they are). Squares on the checkerboard's "even"
cells, (row + column) even, turn clockwise and the others counter-clockwise, like hinged tiles. Quarter
turns of squares only move pixels: an exact permutation, and inverse_view (the opposite turns) undoes it.
"""

import torch

from .view_base import BaseView

GRID = 3


def _turn_squares(im, even_clockwise):
    """Turn every square of the grid a quarter turn: clockwise on even cells if `even_clockwise`, else the other way."""
    H, W = im.shape[-2:]
    if H != W or H < GRID:
        raise ValueError(f"SquareHingeView needs a square image of at least {GRID}x{GRID} pixels, got {H}x{W}")
    side = H // GRID
    out = im.clone()
    for row in range(GRID):
        for col in range(GRID):
            clockwise = ((row + col) % 2 == 0) == even_clockwise
            cell = (..., slice(row * side, (row + 1) * side), slice(col * side, (col + 1) * side))
            # torch.rot90 over (H, W) turns counter-clockwise as displayed for k = 1, clockwise for k = -1
            out[cell] = torch.rot90(im[cell], -1 if clockwise else 1, dims=(-2, -1))
    return out


class SquareHingeView(BaseView):
    """Turns the nine squares of a 3×3 grid a quarter turn each, in place: clockwise where (row + column) is
    even, counter-clockwise elsewhere (an exact pixel permutation; inverse_view applies the opposite turns)."""

    def view(self, im, **kwargs):
        return _turn_squares(im, even_clockwise=True)

    def inverse_view(self, im, **kwargs):
        return _turn_squares(im, even_clockwise=False)
