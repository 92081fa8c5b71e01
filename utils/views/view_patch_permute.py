"""Shuffle square patches of the image with a fixed, seeded permutation.

The permutation comes from a private torch.Generator with a fixed seed, so
every run (and every fresh instance) shuffles the same way, and the global
random state is left alone. (An unseeded shuffle would give a different view
in each process: an image generated with one shuffle could not be viewed with
another.) Moving whole patches is an exact permutation of pixels, so
inverse_view(view(x)) == x bit for bit.
"""

import torch

from .view_base import BaseView


def _shuffle_patches(im, order, num_patches):
    """Output patch slot s gets input patch order[s] (patches in row-major order)."""
    *lead, H, W = im.shape
    if H % num_patches or W % num_patches:
        raise ValueError(
            f"patch permutation with num_patches={num_patches} needs an image side "
            f"divisible by {num_patches}, got {H}x{W}")
    n, ph, pw = num_patches, H // num_patches, W // num_patches
    # [..., n, ph, n, pw] -> [..., n, n, ph, pw] -> [..., n*n, ph, pw]
    patches = im.reshape(*lead, n, ph, n, pw).transpose(-3, -2).reshape(*lead, n * n, ph, pw)
    patches = patches[..., order.to(im.device), :, :]
    return patches.reshape(*lead, n, n, ph, pw).transpose(-3, -2).reshape(im.shape)


class PatchPermuteView(BaseView):
    """Splits the image into num_patches x num_patches square patches and
    shuffles them with a permutation seeded by `seed` (exact, invertible).
    The image side must be divisible by num_patches (ValueError otherwise).
    """

    def __init__(self, num_patches=8, seed=0):
        self.num_patches = num_patches
        generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(num_patches * num_patches, generator=generator)
        # Undo the shuffle: the patch that went to slot s came from order[s].
        self.inverse_order = torch.argsort(self.order)

    def view(self, im, **kwargs):
        return _shuffle_patches(im, self.order, self.num_patches)

    def inverse_view(self, im, **kwargs):
        return _shuffle_patches(im, self.inverse_order, self.num_patches)
