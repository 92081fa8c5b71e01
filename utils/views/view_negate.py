"""Colour negation, for images with values in [-1, 1]: x -> -x.

Negating is exact in floating point, so inverse_view(view(x)) == x bit for bit.
It is a sign flip, not a pixel permutation: the set of values changes.
"""

from .view_base import BaseView


class NegateView(BaseView):
    """x -> -x (a photographic negative when pixels live in [-1, 1])."""

    def view(self, im, **kwargs):
        return -im

    def inverse_view(self, im, **kwargs):
        return -im
