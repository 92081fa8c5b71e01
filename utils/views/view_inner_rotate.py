"""Rotate only a central disk of the image, leaving the border as it is.

Coordinates use the pixel-centre convention: pixel index i sits at
i - size/2 + 0.5 from the image centre, for columns (growing to the right)
and rows (growing DOWNWARD, as the image is displayed). The pixel centres
are then symmetric about the centre, so a disk mask is exactly symmetric and a
90-degree rotation maps pixel centres onto pixel centres: it is an exact
permutation of the disk pixels (the same as torch.rot90 inside the disk).

Other angles (e.g. 45 degrees) land between pixel centres and must be
resampled: with nearest-neighbour some pixels are read twice and others never,
so the result is NOT a permutation and the inverse is only approximate.
"""

import functools
import math

import torch
import torch.nn.functional as F

from .view_base import BaseView


def get_circle_mask(img_size, r):
    """Disk mask of radius `r` pixels centred in an img_size x img_size image.

    Returns a float32 tensor of shape [1, img_size, img_size]: 1.0 for pixels
    whose centre (x, y) satisfies x**2 + y**2 < r**2 (strictly), 0.0 elsewhere,
    with x = ix - img_size/2 + 0.5 and y = iy - img_size/2 + 0.5.
    Float (not bool) so it can be blended directly: im * (1 - mask) + new * mask.
    """
    # TODO: build the mask with torch.arange and broadcasting (no loops).
    ### BEGIN SOLUTION
    # float64 keeps the half-integer coordinates and their squares exact, so
    # the mask is exactly symmetric under flips, transposes and rot90.
    coords = torch.arange(img_size, dtype=torch.float64) - img_size / 2 + 0.5
    y = coords[:, None]  # rows
    x = coords[None, :]  # columns
    inside = x**2 + y**2 < r**2
    return inside.to(torch.float32)[None]
    ### END SOLUTION


def inner_rotate_func_with_mask(im, mask, angle, interpolate=False):
    """Rotate `im` ([C, H, W]) by `angle` degrees about the image centre, but
    only inside `mask` ([1, H, W], 1 = rotate); pixels outside stay unchanged.

    The mapping, with rows counted DOWNWARD (row 0 at the top) and a = angle
    in radians: output pixel (row, col) has the centred coordinates
        u = col - W/2 + 0.5   (to the right),   v = row - H/2 + 0.5   (down),
    and reads the input at the source point
        u_src = cos(a) * u - sin(a) * v,        v_src = sin(a) * u + cos(a) * v,
    that is at row v_src + H/2 - 0.5 and column u_src + W/2 - 0.5: the
    nearest pixel there (rounded, clamped to the image) by default, or
    bilinear resampling if `interpolate`. Then inside `mask` the output takes
    that value, and outside it keeps its own pixel.

    So positive angles turn the picture COUNTER-CLOCKWISE as displayed: at
    90 degrees the output pixel d rows above the centre (u = 0, v = -d)
    reads the input d columns right of the centre (u_src = d, v_src = 0).
    Multiples of 90 degrees hit pixel centres exactly, so they are exact
    permutations. Returns a tensor with the shape, dtype and device of `im`.
    """
    # TODO: for every output pixel, find where it comes from (the source
    # point above), read the input there (nearest pixel, or grid_sample when
    # interpolate=True), then blend with the mask.
    ### BEGIN SOLUTION
    _, H, W = im.shape
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)

    # Output pixel centres relative to the image centre, y pointing UP so that
    # a positive angle is counter-clockwise on screen. float64 so that a
    # 90-degree turn rounds back to exact pixel positions.
    xs = torch.arange(W, dtype=torch.float64, device=im.device) - W / 2 + 0.5
    ys = -(torch.arange(H, dtype=torch.float64, device=im.device) - H / 2 + 0.5)
    y, x = torch.meshgrid(ys, xs, indexing="ij")

    # "Pull" resampling: an output pixel reads the input at the point that the
    # rotation carries onto it, i.e. its own position rotated by -angle.
    x_src = cos * x + sin * y
    y_src = -sin * x + cos * y

    if interpolate:
        # grid_sample with align_corners=False uses the same pixel-centre
        # convention: normalised coordinate = 2 * (offset from centre) / size,
        # with the y axis pointing DOWN (row direction).
        grid = torch.stack([2 * x_src / W, -2 * y_src / H], dim=-1)[None]
        # grid_sample has no half-precision kernel on CPU: work in float32.
        work = im.float() if im.dtype in (torch.float16, torch.bfloat16) else im
        rotated = F.grid_sample(work[None], grid.to(work.dtype), mode="bilinear",
                                padding_mode="border", align_corners=False)[0]
        rotated = rotated.to(im.dtype)
    else:
        # Back from centred coordinates to (row, col) indices of the nearest
        # pixel. Clamping only matters outside a disk mask, which is discarded.
        col = torch.round(x_src + W / 2 - 0.5).long().clamp(0, W - 1)
        row = torch.round(-y_src + H / 2 - 0.5).long().clamp(0, H - 1)
        rotated = im[:, row, col]

    mask = mask.to(device=im.device, dtype=im.dtype)
    return im * (1 - mask) + rotated * mask
    ### END SOLUTION


@functools.lru_cache(maxsize=None)
def _disk_mask(img_size):
    # Radius 3/8 of the side (24 px at 64, 96 px at 256): the disk stays well
    # inside the square, so the corners never move. Cached: one mask per size.
    return get_circle_mask(img_size, img_size * 3 / 8)


class InnerRotateView(BaseView):
    """Rotates a central disk (radius 3/8 of the side) by `angle` degrees:
    view turns it CLOCKWISE, inverse_view counter-clockwise.

    Exact (a pixel permutation) when `angle` is a multiple of 90; otherwise
    nearest-neighbour resampling makes inverse_view(view(x)) only roughly x.
    """

    def __init__(self, angle):
        self.angle = angle

    def view(self, im, **kwargs):
        # inner_rotate_func_with_mask is counter-clockwise for positive
        # angles, so clockwise means passing -angle.
        return inner_rotate_func_with_mask(im, _disk_mask(im.shape[-1]), -self.angle)

    def inverse_view(self, im, **kwargs):
        return inner_rotate_func_with_mask(im, _disk_mask(im.shape[-1]), self.angle)
