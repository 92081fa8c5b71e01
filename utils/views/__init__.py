"""Views for visual anagrams.

Every view has `view(im, **kwargs)` and `inverse_view(im, **kwargs)` on
[C, H, W] tensors (see view_base.BaseView).

Exact (inverse_view(view(x)) == x bit for bit): identity, flip, rotate_cw,
negate, skew, patch_permute, pixel_permute, jigsaw, square_hinge, and
inner_rotate with an angle that is a multiple of 90. All of these except negate
are pixel permutations; negate is a sign flip.
Approximate (resampling, not a permutation): inner_rotate with other angles.
"""

from functools import partial

from .view_base import BaseView  # noqa: F401 - for students' own views
from .view_flip import FlipView
from .view_identity import IdentityView
from .view_inner_rotate import InnerRotateView
from .view_jigsaw import JigsawView
from .view_negate import NegateView
from .view_patch_permute import PatchPermuteView
from .view_rotate import Rotate90CWView
from .view_skew import SkewView
from .view_square_hinge import SquareHingeView

# name -> constructor. inner_rotate takes the angle in degrees; the others
# take no arguments.
VIEW_MAP = {
    "identity": IdentityView,
    "flip": FlipView,
    "rotate_cw": Rotate90CWView,
    "negate": NegateView,
    "skew": SkewView,
    "patch_permute": partial(PatchPermuteView, num_patches=8),
    "pixel_permute": partial(PatchPermuteView, num_patches=64),
    "jigsaw": JigsawView,
    "square_hinge": SquareHingeView,
    "inner_rotate": InnerRotateView,
}


def get_views(view_names, rotate_angle=90):
    """Instantiate views by name; `rotate_angle` (degrees) is for inner_rotate."""
    if isinstance(view_names, str):
        view_names = [view_names]
    views = []
    for name in view_names:
        if name not in VIEW_MAP:
            raise ValueError(f"unknown view {name!r}; valid views: {', '.join(VIEW_MAP)}")
        if name == "inner_rotate":
            views.append(VIEW_MAP[name](rotate_angle))
        else:
            views.append(VIEW_MAP[name]())
    return views
