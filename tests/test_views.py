"""Tasks 2 and 3: utils.views, and the anagram mappings built on them.

Task 2: Rotate90CWView, and AmbiguousImageModel.forward_mapping /
inverse_mapping. Task 3: get_circle_mask and inner_rotate_func_with_mask.

Expected results come from geometry stated in the tests (where a clockwise
turn puts a pixel, what a disk is), never from running the code under test.
"""

import math

import pytest
import torch

from utils.views import VIEW_MAP, BaseView, get_views
from utils.views.jigsaw_pieces import jigsaw_piece_masks, rotate_cell_cw
from utils.views.view_inner_rotate import (
    InnerRotateView,
    get_circle_mask,
    inner_rotate_func_with_mask,
)
from utils.views.view_patch_permute import PatchPermuteView
from utils.views.view_rotate import Rotate90CWView
from utils.views.view_skew import SkewView

# Views that move pixels (or flip signs) without resampling: their inverse is exact.
EXACT_VIEWS = ["identity", "flip", "rotate_cw", "negate", "skew", "patch_permute",
               "pixel_permute", "jigsaw", "square_hinge", "inner_rotate"]
# The pure pixel permutations among them (negate changes the values).
PERMUTATION_VIEWS = [name for name in EXACT_VIEWS if name != "negate"]


def make_view(name):
    # inner_rotate at 90 degrees is an exact permutation of the disk pixels.
    return get_views([name], rotate_angle=90)[0]


def clockwise(row, col, size):
    """Where a quarter turn clockwise (as displayed, row 0 on top) sends pixel (row, col)."""
    return col, size - 1 - row


def counter_clockwise(row, col, size):
    return size - 1 - col, row


def position_of_max(im):
    _, W = im.shape[-2:]
    flat = int(im[0].argmax())
    return flat // W, flat % W


def distinct_image(channels, size, dtype=torch.float32):
    # All values distinct, so any permutation is visible and none is hidden
    # by equal values (checked in float32; float16 may repeat a few values).
    generator = torch.Generator().manual_seed(1234)
    return torch.randn(channels, size, size, generator=generator).to(dtype)


# ---------------------------------------------------------------- rotate_cw

@pytest.mark.parametrize("size", [16, 64])
def test_rotate_view_is_clockwise(size):
    im = torch.zeros(3, size, size)
    im[:, 1, 2] = 1.0  # near the top-left corner; the image has no symmetry
    row, col = position_of_max(Rotate90CWView().view(im))
    assert (row, col) == clockwise(1, 2, size)
    assert row < size // 4 and col >= 3 * size // 4, "top-left must go to the top-right"


@pytest.mark.parametrize("size", [16, 64])
def test_rotate_inverse_view_is_counter_clockwise(size):
    im = torch.zeros(3, size, size)
    im[:, 1, 2] = 1.0
    row, col = position_of_max(Rotate90CWView().inverse_view(im))
    assert (row, col) == counter_clockwise(1, 2, size)
    assert row >= 3 * size // 4 and col < size // 4, "top-left must go to the bottom-left"


def test_rotate_four_times_is_identity():
    x = distinct_image(3, 64)
    view, y = Rotate90CWView(), x
    for _ in range(4):
        y = view.view(y)
    assert torch.equal(y, x)
    assert not torch.equal(view.view(x), x)


# --------------------------------------------- anagram mappings (Task 2)

class ShiftRight(BaseView):
    """A view that is not its own inverse: every row moves one pixel right (circularly)."""

    def view(self, im, **kwargs):
        return im.roll(1, dims=-1)

    def inverse_view(self, im, **kwargs):
        return im.roll(-1, dims=-1)


@pytest.fixture
def three_views(ambiguous_model, monkeypatch):
    """The tiny anagram model with three views whose inverses differ: identity, ShiftRight and negate."""
    monkeypatch.setattr(ambiguous_model, "views", [*get_views(["identity"]), ShiftRight(), *get_views(["negate"])])
    return ambiguous_model


def test_anagram_forward_mapping_stacks_one_view_per_instance(three_views):
    z = distinct_image(3, 8)[None]
    instances = three_views.forward_mapping(z, bg=None)
    assert instances.shape == (3, 3, 8, 8), "one [C, S, S] entry per view, stacked (not concatenated)"
    assert torch.equal(instances[0], z[0])
    assert torch.equal(instances[1], torch.cat([z[0, :, :, -1:], z[0, :, :, :-1]], dim=-1))  # last column first
    assert torch.equal(instances[2], -z[0])


def test_anagram_inverse_mapping_undoes_each_view_and_averages(three_views):
    # three instances that disagree: each counts once, after its own view is undone (not applied again)
    a, b, c = distinct_image(9, 8).reshape(3, 3, 8, 8)
    b_undone = torch.cat([b[:, :, 1:], b[:, :, :1]], dim=-1)  # ShiftRight undone: the first column goes last
    canonical = three_views.inverse_mapping(torch.stack([a, b, c]), var_type="tweedie")
    assert canonical.shape == (1, 3, 8, 8), "the canonical image keeps its batch axis of 1"
    torch.testing.assert_close(canonical, ((a + b_undone - c) / 3)[None])


def test_anagram_mappings_give_views_of_one_image_back_and_keep_float16(three_views):
    z = distinct_image(3, 8, torch.float16)[None]
    back = three_views.inverse_mapping(three_views.forward_mapping(z))
    assert back.dtype == torch.float16, "the GPU samples in float16"
    torch.testing.assert_close(back, z)


# ------------------------------------------------------ all exact views

@pytest.mark.parametrize("name", EXACT_VIEWS)
@pytest.mark.parametrize("size", [64, 256])
@pytest.mark.parametrize("channels", [3, 4])
def test_inverse_is_exact(name, size, channels):
    x = distinct_image(channels, size)
    view = make_view(name)
    y = view.view(x)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    back = view.inverse_view(y)
    assert back.shape == x.shape and back.dtype == x.dtype and back.device == x.device
    assert torch.equal(back, x)
    # ...and the other way round: view undoes inverse_view.
    assert torch.equal(view.view(view.inverse_view(x)), x)


@pytest.mark.parametrize("name", EXACT_VIEWS)
def test_float16_and_extra_kwargs(name):
    x = distinct_image(4, 64, torch.float16)
    view = make_view(name)
    y = view.view(x, bg=None, var_type="fixed_small", stage_2=False)
    assert y.dtype == torch.float16 and y.shape == x.shape
    assert torch.equal(view.inverse_view(y, bg=None, stage_2=True), x)


@pytest.mark.parametrize("name", PERMUTATION_VIEWS)
@pytest.mark.parametrize("size", [64, 256])
def test_permutation_views_permute(name, size):
    x = distinct_image(3, size)
    y = make_view(name).view(x)
    assert torch.equal(torch.sort(y.flatten()).values, torch.sort(x.flatten()).values)
    # Every channel is moved the same way: channel differences move along.
    x2 = x.clone()
    x2[1] = x[0] + 1
    y2 = make_view(name).view(x2)
    assert torch.equal(y2[1], y2[0] + 1)


@pytest.mark.parametrize("name", [n for n in PERMUTATION_VIEWS if n != "identity"])
def test_permutation_views_do_something(name):
    x = distinct_image(3, 64)
    assert not torch.equal(make_view(name).view(x), x)


def test_negate_flips_sign():
    x = distinct_image(3, 64)
    assert torch.equal(make_view("negate").view(x), -x)


def test_flip_is_upside_down():
    im = torch.zeros(3, 64, 64)
    im[:, 1, 2] = 1.0
    assert position_of_max(make_view("flip").view(im)) == (62, 2)


@pytest.mark.parametrize("name", ["patch_permute", "pixel_permute", "jigsaw"])
def test_shuffles_are_seeded(name):
    x = distinct_image(3, 64)
    torch.manual_seed(1)
    first = make_view(name).view(x)
    torch.manual_seed(2)  # the global random state must not matter
    second = make_view(name).view(x)
    assert torch.equal(first, second)


def test_patch_permute_needs_divisible_side():
    with pytest.raises(ValueError, match="divisible"):
        PatchPermuteView(num_patches=8).view(torch.zeros(3, 60, 60))


def test_patch_permute_moves_whole_patches():
    x = distinct_image(3, 64)
    y = PatchPermuteView(num_patches=8).view(x)
    # Every 8x8 block of the output is some 8x8 block of the input.
    blocks_in = {tuple(x[:, r:r + 8, c:c + 8].flatten().tolist())
                 for r in range(0, 64, 8) for c in range(0, 64, 8)}
    for r in range(0, 64, 8):
        for c in range(0, 64, 8):
            assert tuple(y[:, r:r + 8, c:c + 8].flatten().tolist()) in blocks_in


# ---------------------------------------------------------------- get_views

def test_get_views_builds_instances():
    views = get_views(["identity", "rotate_cw", "inner_rotate"], rotate_angle=45)
    assert [type(v).__name__ for v in views] == ["IdentityView", "Rotate90CWView", "InnerRotateView"]
    assert views[2].angle == 45


def test_get_views_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        get_views(["identity", "rotate_ccw"])
    message = str(info.value)
    assert "rotate_ccw" in message
    for name in VIEW_MAP:
        assert name in message


# -------------------------------------------------------------- circle mask

@pytest.mark.parametrize("size", [64, 256, 65])
def test_circle_mask_shape_and_symmetry(size):
    r = size * 3 / 8
    mask = get_circle_mask(size, r)
    assert mask.shape == (1, size, size)
    assert set(torch.unique(mask).tolist()) <= {0, 1}
    assert torch.equal(torch.flip(mask, dims=[-1]), mask)
    assert torch.equal(torch.flip(mask, dims=[-2]), mask)
    assert torch.equal(mask.transpose(-1, -2), mask)
    assert torch.equal(torch.rot90(mask, 1, dims=(-2, -1)), mask)
    area = float(mask.sum())
    assert abs(area - math.pi * r * r) < 0.03 * math.pi * r * r


def test_circle_mask_is_centred_and_strict():
    # Odd size: pixel centres are integers, so (3, 4) and (5, 0) lie exactly on
    # the circle of radius 5 and must be outside (strict <).
    mask = get_circle_mask(11, 5)[0].bool()
    centre = 5
    assert mask[centre, centre]
    assert not mask[centre + 4, centre + 3]  # x=3, y=4: on the circle
    assert not mask[centre, centre + 5]      # x=5, y=0: on the circle
    assert mask[centre + 2, centre + 4]      # x=4, y=2: 20 < 25
    assert mask[centre + 4, centre + 2]
    assert mask.sum() == sum(1 for x in range(-5, 6) for y in range(-5, 6) if x * x + y * y < 25)


def test_circle_mask_even_size_corners_of_the_disk():
    # At 64 px with r = 24 the pixel-centre coordinates are half-integers.
    mask = get_circle_mask(64, 24)[0].bool()
    assert mask[31, 31] and mask[32, 32]          # the four central pixels
    assert mask[32, 32 + 23] and not mask[32, 32 + 24]  # x = 23.5 inside, 24.5 outside
    assert mask[32 - 24, 32] and not mask[32 - 25, 32]  # y = -23.5 inside, -24.5 outside


# ------------------------------------------------------------- inner rotate

@pytest.mark.parametrize("size", [64, 256])
def test_inner_rotate_90_is_rot90_inside_the_mask(size):
    x = distinct_image(3, size)
    mask = get_circle_mask(size, size * 3 / 8)
    inside = mask[0].bool()
    out = inner_rotate_func_with_mask(x, mask, 90)
    # Positive angle = counter-clockwise on screen = torch.rot90 with k=1.
    ccw = torch.rot90(x, 1, dims=(-2, -1))
    assert torch.equal(out[:, inside], ccw[:, inside])
    assert torch.equal(out[:, ~inside], x[:, ~inside])
    assert torch.equal(torch.sort(out.flatten()).values, torch.sort(x.flatten()).values)
    # -90 is clockwise.
    cw = torch.rot90(x, -1, dims=(-2, -1))
    assert torch.equal(inner_rotate_func_with_mask(x, mask, -90)[:, inside], cw[:, inside])


def test_inner_rotate_positive_angle_is_counter_clockwise():
    size = 64
    im = torch.zeros(1, size, size)
    im[:, 22, 32] = 1.0  # 10 px above the centre, inside the disk
    out = inner_rotate_func_with_mask(im, get_circle_mask(size, 24), 90)
    row, col = position_of_max(out)
    assert (row, col) == counter_clockwise(22, 32, size)
    assert col < size // 2 - 5, "above the centre must go to the left"


def test_inner_rotate_reads_the_documented_source_pixel():
    # The docstring's mapping, rows counted downward: output (row, col) at u = col - S/2 + 0.5, v = row - S/2 + 0.5
    # reads the input pixel nearest to (u cos a - v sin a, u sin a + v cos a). At 30 degrees the source points
    # are irrational, so rounding never meets a tie.
    size, angle = 64, math.radians(30)
    x = distinct_image(1, size)
    out = inner_rotate_func_with_mask(x, torch.ones(1, size, size), 30)
    for row, col in [(5, 40), (20, 32), (32, 20), (40, 50), (63, 0)]:
        u, v = col - size / 2 + 0.5, row - size / 2 + 0.5
        u_src, v_src = u * math.cos(angle) - v * math.sin(angle), u * math.sin(angle) + v * math.cos(angle)
        source_row = min(max(math.floor(v_src + size / 2 - 0.5 + 0.5), 0), size - 1)
        source_col = min(max(math.floor(u_src + size / 2 - 0.5 + 0.5), 0), size - 1)
        assert out[0, row, col] == x[0, source_row, source_col], (row, col)


def test_inner_rotate_view_uses_radius_24_at_64px():
    x = distinct_image(3, 64)
    changed = (InnerRotateView(90).view(x) != x).any(dim=0)
    # A quarter turn of the half-integer pixel grid fixes no pixel, so with
    # distinct values exactly the disk pixels change.
    assert torch.equal(changed, get_circle_mask(64, 24)[0].bool())


@pytest.mark.parametrize("size", [64, 256])
def test_inner_rotate_view_is_clockwise_inside_the_disk(size):
    im = torch.zeros(3, size, size)
    row0, col0 = size // 2 - size // 8, size // 2  # above the centre, in the disk
    im[:, row0, col0] = 1.0
    view = InnerRotateView(90)
    row, col = position_of_max(view.view(im))
    assert (row, col) == clockwise(row0, col0, size)
    assert col > size // 2, "above the centre must go to the right"
    assert position_of_max(view.inverse_view(im)) == counter_clockwise(row0, col0, size)


def test_inner_rotate_45_nearest_is_not_a_permutation():
    # Teaching point: off-grid angles resample, reading some pixels twice and
    # dropping others, so the view is neither a permutation nor exactly invertible.
    x = distinct_image(1, 64)
    mask = get_circle_mask(64, 24)
    out = inner_rotate_func_with_mask(x, mask, 45)
    inside = mask[0].bool()
    assert torch.equal(out[:, ~inside], x[:, ~inside])
    assert torch.unique(out[:, inside]).numel() < int(inside.sum())
    view = InnerRotateView(45)
    assert not torch.equal(view.inverse_view(view.view(x)), x)


def test_inner_rotate_bilinear_runs_and_matches_at_90():
    x = distinct_image(3, 64)
    mask = get_circle_mask(64, 24)
    inside = mask[0].bool()
    for dtype in (torch.float32, torch.float16):
        out = inner_rotate_func_with_mask(x.to(dtype), mask, 90, interpolate=True)
        assert out.dtype == dtype and out.shape == x.shape
        ccw = torch.rot90(x.to(dtype), 1, dims=(-2, -1))
        # Bilinear sampling exactly at pixel centres reproduces the pixels.
        assert torch.allclose(out[:, inside].float(), ccw[:, inside].float(), atol=1e-3)
    smooth = inner_rotate_func_with_mask(x, mask, 45, interpolate=True)
    assert torch.equal(smooth[:, ~inside], x[:, ~inside])


# --------------------------------------------------------------------- skew

def test_skew_rolls_each_column_by_its_distance_from_the_middle():
    size = 64
    # Every column holds its row index, so out[r, j] tells which row it was read from.
    im = torch.arange(size, dtype=torch.float32)[:, None].expand(1, size, size).clone()
    out = SkewView(1.5).view(im)
    for j in (0, 20, 32, 45, 63):
        expected_shift = int(1.5 * (j - size / 2))  # Visual Anagrams' definition, truncated towards zero
        rows = torch.arange(size, dtype=torch.float32)
        assert torch.equal(out[0, :, j], torch.roll(rows, expected_shift)), j
    assert torch.equal(out[0, :, 32], im[0, :, 32]), "the middle column stays"


# ------------------------------------------------------------------- jigsaw

@pytest.mark.parametrize("size", [64, 256])
def test_jigsaw_masks_partition_the_image(size):
    masks = jigsaw_piece_masks(size)
    assert masks.shape == (16, size, size)
    assert torch.equal(masks.sum(dim=0), torch.ones(size, size, dtype=torch.long))
    cell = size // 4
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    squares = ((rows // cell) * 4 + cols // cell)[None] == torch.arange(16)[:, None, None]
    # Each piece is its square cell plus tabs minus blanks: mostly the cell,
    # but never exactly it (every piece has at least two neighbours).
    assert torch.all((masks & squares).sum(dim=(1, 2)) > 0.6 * cell * cell)
    assert torch.all((masks != squares).any(dim=2).any(dim=1))


@pytest.mark.parametrize("size", [64, 256])
def test_jigsaw_partition_is_rotation_invariant(size):
    masks = jigsaw_piece_masks(size)
    for k in range(16):
        r, c = rotate_cell_cw(divmod(k, 4), 4)
        turned = torch.rot90(masks[k], -1, dims=(0, 1))  # clockwise board turn
        assert torch.equal(turned, masks[r * 4 + c])


def test_jigsaw_view_moves_turned_pieces():
    size = 64
    x = distinct_image(1, size)
    y = make_view("jigsaw").view(x)
    masks = jigsaw_piece_masks(size)
    for k in range(16):
        # Each output slot holds some input piece turned by a multiple of 90
        # degrees about the board centre.
        piece_out = y[0][masks[k]]
        matches = [j for j in range(4)
                   if torch.equal(torch.rot90(x[0], -j, dims=(0, 1))[masks[k]], piece_out)]
        assert matches, f"slot {k} does not hold a turned piece"


# ------------------------------------------------------------- square_hinge

@pytest.mark.parametrize("size", [64, 256])
def test_square_hinge_turns_the_nine_squares_of_a_3x3_grid_in_a_checkerboard(size):
    side = size // 3
    x = distinct_image(2, size)
    out = make_view("square_hinge").view(x)
    for row in range(3):
        for col in range(3):
            cell = (slice(None), slice(row * side, (row + 1) * side), slice(col * side, (col + 1) * side))
            square = x[cell]
            # clockwise as displayed: the square's first row becomes its last column
            turned = square.transpose(-2, -1).flip(-1) if (row + col) % 2 == 0 else square.transpose(-2, -1).flip(-2)
            assert torch.equal(out[cell], turned), (row, col)
    # the S mod 3 pixels past the grid stay where they were
    assert torch.equal(out[:, 3 * side:, :], x[:, 3 * side:, :]) and torch.equal(out[:, :, 3 * side:], x[:, :, 3 * side:])
