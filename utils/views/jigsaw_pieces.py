"""Jigsaw piece masks for an n x n board, generated in code.

The board is an n x n grid of square cells. Every interior edge between two
neighbouring cells carries one round tab: a disk centred a little past the
edge, inside the neighbour, whose pixels in the neighbour are handed to the
tab's owner (for the neighbour that is a round blank). Each pixel belongs to
exactly one piece, so the pieces partition the image.

The tab pattern is invariant under a quarter turn of the whole board: edges
come in orbits of four under rotation, a seeded coin picks which side owns
the tab on one edge of each orbit, and the other three edges copy that choice
rotated. A turned board therefore has exactly the same piece outlines, which
is what lets JigsawView move a piece to another slot of its rotation orbit.

Geometry uses doubled pixel-centre coordinates, X = 2*col + 1 - S and
Y = 2*row + 1 - S: pixel centres measured from the board centre, times two,
so they are integers. A clockwise quarter turn of the board is then exactly
(X, Y) -> (-Y, X), and all disk tests are exact integer arithmetic, so every
rotated copy of a tab covers exactly the rotated pixels.
"""

import functools

import torch


def rotate_cell_cw(cell, n):
    """Cell (row, col) after turning the n x n board 90 degrees clockwise."""
    r, c = cell
    return (c, n - 1 - r)


def _rotate_edge_cw(edge, n):
    a, b = edge
    return tuple(sorted((rotate_cell_cw(a, n), rotate_cell_cw(b, n))))


def _interior_edges(n):
    """Pairs of horizontally or vertically adjacent cells, each pair sorted."""
    edges = []
    for r in range(n):
        for c in range(n):
            if c + 1 < n:
                edges.append(((r, c), (r, c + 1)))
            if r + 1 < n:
                edges.append(((r, c), (r + 1, c)))
    return edges


def tab_owners(n, seed=0):
    """{edge: cell that owns the tab on that edge}, invariant under rotation."""
    generator = torch.Generator().manual_seed(seed)
    owner = {}
    for edge in _interior_edges(n):
        if edge in owner:
            continue  # already set as the rotated copy of an earlier edge
        cell = edge[int(torch.randint(2, (1,), generator=generator))]
        # No edge is mapped to itself by a quarter or half turn, so the orbit
        # has exactly four edges; give each the rotated owner.
        for _ in range(4):
            owner[edge] = cell
            edge, cell = _rotate_edge_cw(edge, n), rotate_cell_cw(cell, n)
    return owner


@functools.lru_cache(maxsize=None)
def jigsaw_labels(img_size, n=4, seed=0):
    """LongTensor [img_size, img_size]: the piece (r * n + c) each pixel is in.

    Computed once per (size, n, seed) and cached; do not modify the result.
    """
    if img_size % n:
        raise ValueError(f"a {n}x{n} jigsaw needs an image side divisible by {n}, got {img_size}")
    S, p = img_size, img_size // n
    rows, cols = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    base = (rows // p) * n + (cols // p)  # plain square cells
    X, Y = 2 * cols + 1 - S, 2 * rows + 1 - S

    # Tab disk in doubled units: centre 0.12 of a cell past the edge, radius
    # 0.22 of a cell. Small enough that no two tab disks touch and each stays
    # within its two cells; big enough to be visible at 16-pixel cells.
    offset, radius = round(0.24 * p), round(0.44 * p)

    def centre(cell):  # doubled coordinates of a cell centre
        return (2 * cell[1] + 1) * p - S, (2 * cell[0] + 1) * p - S

    # One row per tab: disk centre (edge midpoint, stepped `offset` towards
    # the neighbour), the owner's label and the neighbour's label.
    tabs = []
    for (a, b), own in tab_owners(n, seed).items():
        other = b if own == a else a
        (ox, oy), (tx, ty) = centre(own), centre(other)
        ux, uy = (tx > ox) - (tx < ox), (ty > oy) - (ty < oy)  # unit step
        cx, cy = (ox + tx) // 2 + ux * offset, (oy + ty) // 2 + uy * offset
        tabs.append((cx, cy, own[0] * n + own[1], other[0] * n + other[1]))
    if not tabs:  # a 1x1 "board" has no interior edges
        return base
    cx, cy, owner, neighbour = (torch.tensor(column)[:, None, None] for column in zip(*tabs))

    # All tabs at once, [num_tabs, S, S]: the neighbour's pixels inside the
    # disk go to the owner. Tab disks never overlap, so a pixel is in at most
    # one tab and argmax picks that one.
    in_tab = ((X - cx) ** 2 + (Y - cy) ** 2 < radius ** 2) & (base == neighbour)
    labels = torch.where(in_tab.any(dim=0), owner[in_tab.int().argmax(dim=0), 0, 0], base)
    return labels


def jigsaw_piece_masks(img_size, n=4, seed=0):
    """BoolTensor [n*n, img_size, img_size]: mask k is piece k (cell r * n + c)."""
    labels = jigsaw_labels(img_size, n, seed)
    return labels[None] == torch.arange(n * n)[:, None, None]
