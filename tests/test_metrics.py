"""synckit/metrics.py on synthetic panoramas whose answer is known: identical crops are 0 apart, a pasted seam or a
style change across crops scores higher, Intra-Style-L sums over crop pairs where Intra-LPIPS averages, and FID
between sets whose features differ by a known shift is that shift squared."""

import numpy as np
import pytest
import torch
from PIL import Image

from guidance.syncdiffusion import load_lpips
from synckit import metrics

SIDE = 32  # the crops' side (the tiny panorama's are 64 px): small, so that the VGGs run in a blink


def picture(pixels) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def noise_tile(seed, mean=128.0, spread=30.0):
    return np.random.default_rng(seed).normal(mean, spread, (SIDE, SIDE, 3))


def stripes_tile():
    """Another style: hard vertical stripes, 8 px wide, black and white."""
    return np.tile((np.arange(SIDE) // 8 % 2 * 255.0)[None, :, None], (SIDE, 1, 3))


def panorama(*tiles) -> Image.Image:
    return picture(np.concatenate(tiles, axis=1))


@pytest.fixture(scope="module")
def lpips_model():
    return load_lpips(False, "cpu")  # the --tiny LPIPS: lpips' code with a seeded random VGG16 trunk


@pytest.fixture(scope="module")
def style_net():
    return metrics.load_style_net(pretrained=False)


def test_square_crops_are_the_panoramas_non_overlapping_squares():
    columns = np.tile(np.arange(6 * SIDE + 10)[None, :, None] % 256, (SIDE, 1, 3))  # 10 columns past the last crop
    crops = metrics.square_crops(picture(columns))
    assert crops.shape == (6, 3, SIDE, SIDE)
    assert [round(float(crop[0, 0, 0]) * 255) for crop in crops] == [0, 32, 64, 96, 128, 160]  # crop k starts at 32·k


def test_identical_crops_are_zero_apart(lpips_model, style_net):
    same = panorama(*[noise_tile(0)] * 6)
    assert metrics.intra_lpips(same, lpips_model) == 0
    assert metrics.intra_style(same, style_net) == 0


def test_a_style_change_across_crops_scores_higher(lpips_model, style_net):
    one_style = panorama(*[noise_tile(seed) for seed in range(6)])  # same statistics, different pixels
    two_styles = panorama(*[noise_tile(seed) for seed in range(3)], *[stripes_tile()] * 3)
    assert metrics.intra_style(two_styles, style_net) > 2 * metrics.intra_style(one_style, style_net)
    assert metrics.intra_lpips(two_styles, lpips_model) > metrics.intra_lpips(one_style, lpips_model)


def test_style_is_summed_over_crop_pairs_and_lpips_averaged(lpips_model, style_net):
    # crops X, X, Y have the pairs (X, X), (X, Y), (X, Y): twice the one pair of X, Y in a sum, 2/3 of it in a mean
    x, y = noise_tile(1), stripes_tile()
    style_xy = metrics.intra_style(panorama(x, y), style_net)
    assert metrics.intra_style(panorama(x, x, y), style_net) == pytest.approx(2 * style_xy, rel=1e-5)
    lpips_xy = metrics.intra_lpips(panorama(x, y), lpips_model)
    assert metrics.intra_lpips(panorama(x, x, y), lpips_model) == pytest.approx(2 / 3 * lpips_xy, rel=1e-5)


def round_trip():
    """Up one grey level per column, then down one back to the start: a step of 1 between any two neighbouring
    columns, the last and the first too."""
    wave = np.minimum(np.arange(6 * SIDE), 6 * SIDE - np.arange(6 * SIDE))
    return np.tile(wave[None, :, None], (SIDE, 1, 3))


def test_a_pasted_seam_scores_higher():
    smooth = round_trip()
    pasted = smooth.copy()
    pasted[:, 2 * SIDE:3 * SIDE] = smooth[:, :SIDE]  # the first window pasted as the third: jumps of 63 and 65
    assert metrics.seam_score(picture(smooth), SIDE) == pytest.approx(1.0)
    assert metrics.seam_score(picture(pasted), SIDE) > 10


def test_the_wrap_seam_of_a_picture_that_comes_round_is_none():
    closed = round_trip()
    assert metrics.wrap_seam_score(picture(closed)) == pytest.approx(1.0)
    cut = closed[:, : 5 * SIDE]  # the last part cut off: the right edge no longer continues into the left
    assert metrics.wrap_seam_score(picture(cut)) > 10


def test_random_crops_are_squares_of_the_panorama_drawn_from_the_seed():
    columns = picture(np.tile(np.arange(4 * SIDE)[None, :, None] % 256, (SIDE, 1, 3)))
    crops = metrics.random_crops(columns, 5, np.random.default_rng(7))
    for crop in crops:
        row = np.asarray(crop)[0, :, 0]
        assert crop.size == (SIDE, SIDE) and list(row) == list(range(row[0], row[0] + SIDE))
    again = metrics.random_crops(columns, 5, np.random.default_rng(7))
    assert [np.asarray(crop)[0, 0, 0] for crop in again] == [np.asarray(crop)[0, 0, 0] for crop in crops]


class ChannelMeans(torch.nn.Module):
    """A stand-in for Inception: every image's mean grey level per channel, 3 features."""

    def forward(self, images):
        return images.float().mean(dim=(2, 3)) / 255  # Inception's features are of order 1 too: KID's cubic kernel


def test_fid_of_sets_whose_features_differ_by_a_known_shift():
    levels = torch.from_numpy(np.random.default_rng(0).uniform(0.2, 0.7, (200, 3, 1, 1)))
    real = levels.expand(200, 3, 8, 8).float()
    same = metrics.fid_kid(real, real, ChannelMeans())
    assert same["fid"] == pytest.approx(0, abs=1e-9)
    # every image 40 grey levels brighter: same covariance, means 40/255 apart in each of the 3 features, FID = 3·(40/255)²
    brighter = metrics.fid_kid(real + 40 / 255, real, ChannelMeans())
    assert brighter["fid"] == pytest.approx(3 * (40 / 255) ** 2, rel=1e-3)
    # KID's unbiased estimate is 0 only on average (off by O(1/n) on two equal sets); the shift is far above that
    assert brighter["kid"] > 10 * abs(same["kid"])


def test_missing_weights_are_named_with_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(metrics.MetricWeightsError, match=f"{metrics.INCEPTION_URL} to {tmp_path}"):
        metrics.load_inception()
    assert metrics.missing_weights([metrics.VGG19_URL]) == [f"{metrics.VGG19_URL} -> {tmp_path / 'hub' / 'checkpoints' / 'vgg19-dcbb9e9d.pth'}"]


def test_the_style_net_loads_torchvisions_vgg19_features_and_only_those(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    shapes = {index: layer.weight.shape for index, layer in enumerate(metrics.load_style_net(False)) if hasattr(layer, "weight")}
    state = {f"features.{index}.weight": torch.full(shape, float(index)) for index, shape in shapes.items()}
    state.update({f"features.{index}.bias": torch.full(shape[:1], -float(index)) for index, shape in shapes.items()})
    state["features.12.weight"] = torch.zeros(256, 256, 3, 3)  # conv3_2 and the classifier: past the style layers
    state["classifier.0.weight"] = torch.zeros(2, 2)
    metrics.hub_file(metrics.VGG19_URL).parent.mkdir(parents=True)
    torch.save(state, metrics.hub_file(metrics.VGG19_URL))
    net = metrics.load_style_net(True)
    assert [int(net[index].weight.unique()) for index in shapes] == list(metrics.STYLE_LAYERS)
    assert [int(net[index].bias.unique()) for index in shapes] == [-index for index in metrics.STYLE_LAYERS]
