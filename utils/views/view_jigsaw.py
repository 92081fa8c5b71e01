"""Jigsaw view: move pieces of a jigsaw to other slots and turn them.

Each piece moves to another slot of its rotation orbit (the cells that a
quarter, half or three-quarter turn of the board carries it to), turned by the
matching k * 90 degrees. That is the same as rotating the piece's pixels by
k * 90 degrees about the board centre. Because the piece outlines are
invariant under board rotation (see jigsaw_pieces.py), the moved pieces tile
the board again: the view is an exact pixel permutation, and inverse_view
undoes it exactly.

The original course code loaded piece masks from PNG files that were missing;
here they are generated in code, lazily for each image size, and cached.
"""

import functools

import torch

from .jigsaw_pieces import jigsaw_labels, rotate_cell_cw
from .view_base import BaseView


def _rotation_orbits(n):
    """Cell orbits under quarter turns: lists [s, rot(s), rot^2(s), ...]."""
    seen, orbits = set(), []
    for r in range(n):
        for c in range(n):
            if (r, c) in seen:
                continue
            orbit = [(r, c)]
            while rotate_cell_cw(orbit[-1], n) != orbit[0]:
                orbit.append(rotate_cell_cw(orbit[-1], n))
            seen.update(orbit)
            orbits.append(orbit)  # 4 cells, or 1 (the centre of an odd board)
    return orbits


def quarter_turns_per_slot(n, seed=0):
    """LongTensor [n*n]: clockwise quarter turns given to the piece that lands
    in each slot (fixed by `seed`, and the same for every image size)."""
    generator = torch.Generator().manual_seed(seed + 1)  # independent of the tab draw
    turns = torch.zeros(n * n, dtype=torch.long)
    for orbit in _rotation_orbits(n):
        if len(orbit) == 1:
            # The centre piece is rotation invariant: it turns in place.
            r, c = orbit[0]
            turns[r * n + c] = int(torch.randint(1, 4, (1,), generator=generator))
            continue
        # Slot i sends its piece to slot sigma[i]. A derangement, so every
        # piece moves; any permutation of the orbit keeps the map bijective.
        while True:
            sigma = torch.randperm(4, generator=generator).tolist()
            if all(sigma[i] != i for i in range(4)):
                break
        for i, j in enumerate(sigma):
            # orbit[j] is orbit[i] turned (j - i) times clockwise.
            r, c = orbit[j]
            turns[r * n + c] = (j - i) % 4
    return turns


@functools.lru_cache(maxsize=None)
def _jigsaw_indices(img_size, n, seed, device):
    """Flat gather indices (forward, inverse), cached per size and device."""
    labels = jigsaw_labels(img_size, n, seed)
    turns = quarter_turns_per_slot(n, seed)[labels]  # [S, S], per output pixel
    flat = torch.arange(img_size * img_size).reshape(img_size, img_size)
    # turned[k][o] is the pixel that a k-fold clockwise board turn carries onto
    # o (torch.rot90 with k=-1 over (H, W) is clockwise). An output pixel in a
    # slot whose piece was turned k times reads from exactly there.
    turned = torch.stack([torch.rot90(flat, -k, dims=(0, 1)) for k in range(4)])
    forward = turned.gather(0, turns[None])[0].reshape(-1)
    inverse = torch.argsort(forward)  # inverse[forward[o]] = o
    return forward.to(device), inverse.to(device)


class JigsawView(BaseView):
    """Rearranges the n x n pieces of a rotation-invariant jigsaw: each piece
    moves to another slot of its rotation orbit, turned to fit (exact pixel
    permutation; fixed by `seed`). The image side must be divisible by n.
    """

    def __init__(self, n=4, seed=0):
        self.n = n
        self.seed = seed

    def view(self, im, **kwargs):
        forward, _ = _jigsaw_indices(im.shape[-1], self.n, self.seed, im.device)
        return im.flatten(-2)[..., forward].reshape(im.shape)

    def inverse_view(self, im, **kwargs):
        _, inverse = _jigsaw_indices(im.shape[-1], self.n, self.seed, im.device)
        return im.flatten(-2)[..., inverse].reshape(im.shape)
