"""Extension task 4: 360° panoramas (--circular). Windows wrap past the right edge, every latent column lies in the
same number of windows, and the decode wraps too: turning the noise turns the panorama, and the wrap is no seam."""

import dataclasses

import numpy as np
import pytest
import torch

import main
from configs.wide_image_config import load_wide_image_config
from guidance.circular_wide_image_model import CircularWideImageModel, get_circular_windows
from guidance.wide_image_model import WideImageModel
from synckit.seams import wrap_seam_ratio

PROMPT = "snowy mountains under an orange sky with a sun"  # a toy-world prompt: the tiny models know its words
FEW_STEPS = ["--num_inference_steps", "4"]
VAE_FACTOR = 8  # px per latent column


def circular_model(*flags):
    return CircularWideImageModel(load_wide_image_config(["--tiny", "--circular", "--prompt", PROMPT, *flags]))


@pytest.fixture(scope="module")
def model():
    """The tiny geometry: a 64×384 panorama, 8×48 latents, 48 windows of 8 latent px with stride 1."""
    return circular_model(*FEW_STEPS)


@pytest.fixture(scope="module")
def tall_model():
    """Two windows high and a coarser stride: 16×48 latents, rows 0, 4, 8, windows every 4 columns."""
    return circular_model("--panorama_height", "128", "--window_stride", "4")


def covering(model, row, column) -> list:
    """The windows that hold latent pixel (row, column), their columns taken round the cylinder."""
    return [i for i, (h0, h1, w0, _) in enumerate(model.mapper)
            if h0 <= row < h1 and (column - w0) % model.latent_width < model.config.latent_instance_size]


# --- the windows and the geometry (given code) ----------------------------------------------------------------

def test_windows_start_every_stride_all_the_way_round(model, tall_model):
    assert [w0 for _, _, w0, _ in model.mapper] == list(range(48))
    assert all((h0, h1, w1 - w0) == (0, 8, 8) for h0, h1, w0, w1 in model.mapper)
    assert sorted({(h0, w0) for h0, _, w0, _ in tall_model.mapper}) == [(h, w) for h in (0, 4, 8) for w in range(0, 48, 4)]


def test_the_course_geometry_has_48_windows_of_64_with_stride_8():
    course = load_wide_image_config(["--circular", "--prompt", PROMPT])
    assert (course.panorama_width, course.latent_instance_size, course.window_stride) == (3072, 64, 8)
    windows = get_circular_windows(64, 384, 64, 8)  # the course's latent geometry, without SD2 to load
    assert [w0 for _, _, w0, _ in windows] == list(range(0, 384, 8)) and windows[-1] == (0, 64, 376, 440)


@pytest.mark.parametrize("geometry", ["model", "tall_model"])
def test_every_column_lies_in_the_same_number_of_windows(geometry, request):
    chosen = request.getfixturevalue(geometry)
    size, stride = chosen.config.latent_instance_size, chosen.config.window_stride
    counts = {column: len(covering(chosen, 0, column)) for column in range(chosen.latent_width)}
    assert set(counts.values()) == {size // stride}


@pytest.mark.parametrize("flags, message", [
    (["--panorama_width", "3080"], "--circular: windows every 8 latent px do not come round"),  # 385 latent columns
    (["--window_stride", "5", "--panorama_width", "3200"], "choose a --window_stride that divides 64"),
    (["--panorama_height", "520"], "do not cover --panorama_height"),  # wraps horizontally only
])
def test_a_geometry_that_cannot_wrap_evenly_is_refused_before_any_model_loads(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_wide_image_config(["--circular", "--prompt", PROMPT, *flags])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_circular_is_off_by_default_and_each_model_takes_only_its_own_configs():
    plain = load_wide_image_config(["--tiny", "--prompt", PROMPT])
    assert plain.circular is False and type(main.build_model(plain)) is WideImageModel
    circular = load_wide_image_config(["--tiny", "--circular", "--prompt", PROMPT])
    assert type(main.build_model(circular)) is CircularWideImageModel
    with pytest.raises(ValueError, match="main.build_model picks the right model"):
        WideImageModel(circular)


# --- the TODO functions: forward_mapping and inverse_mapping ----------------------------------------------------

@pytest.mark.parametrize("geometry", ["model", "tall_model"])
def test_forward_mapping_takes_the_columns_past_the_right_edge_from_the_left(geometry, request):
    chosen = request.getfixturevalue(geometry)
    z = torch.randn(1, 4, chosen.latent_height, chosen.latent_width)
    crops = chosen.forward_mapping(z)
    size = chosen.config.latent_instance_size
    assert crops.shape == (len(chosen.mapper), 4, size, size)
    for crop, (h0, h1, w0, _) in zip(crops, chosen.mapper):
        # turning the cylinder left by w0 brings the window's first column to column 0
        torch.testing.assert_close(crop, torch.roll(z, -w0, dims=-1)[0, :, h0:h1, :size], rtol=0, atol=0)


@pytest.mark.parametrize("geometry", ["model", "tall_model"])
def test_inverse_mapping_averages_the_windows_round_the_cylinder(geometry, request):
    chosen = request.getfixturevalue(geometry)
    count, size = len(chosen.mapper), chosen.config.latent_instance_size
    # window i holds the constant i; a latent pixel is the mean of the windows that cover it, wrapped ones included
    windows = torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 4, size, size)
    canvas = chosen.inverse_mapping(windows)
    assert canvas.shape == (1, 4, chosen.latent_height, chosen.latent_width)
    for row in {0, chosen.latent_height - 1}:
        for column in [0, 1, size - 1, chosen.latent_width // 2, chosen.latent_width - size, chosen.latent_width - 1]:
            expected = float(np.mean(covering(chosen, row, column)))
            torch.testing.assert_close(canvas[0, :, row, column], torch.full((4,), expected))


@pytest.mark.parametrize("geometry", ["model", "tall_model"])
def test_inverse_of_forward_is_identity(geometry, request):
    chosen = request.getfixturevalue(geometry)
    z = torch.randn(1, 4, chosen.latent_height, chosen.latent_width)
    torch.testing.assert_close(chosen.inverse_mapping(chosen.forward_mapping(z)), z)


# --- whole panoramas on the tiny models ---------------------------------------------------------------------------

def sample(chosen, noise, monkeypatch) -> np.ndarray:
    """The panorama sampled from the canonical noise `noise` (what canonical_noise, the seed's draw, would give)."""
    monkeypatch.setattr(chosen, "canonical_noise", lambda: noise)
    return np.asarray(chosen(PROMPT, progress=False), dtype=np.float64)


def worst_column_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest mean |difference| (grey levels) of one pixel column: a turn that misses one place shows there."""
    return float(np.abs(a - b).mean(axis=(0, 2)).max())


# Measured (2026-12, tiny models, 4 steps): the turned panorama is at most 0.9 grey levels off in a column; 4.3 with
# 8 latent columns of decode context (diffusers'), 26 with none, 35 with windows that do not wrap.
TURN_TOLERANCE = 3.0


@pytest.mark.parametrize("turn", [5, 20])  # latent columns: within a window of the wrap, and well past it
def test_turning_the_noise_turns_the_panorama(turn, model, monkeypatch):
    noise = model.canonical_noise()
    panorama = sample(model, noise, monkeypatch)
    turned = sample(model, torch.roll(noise, turn, dims=-1), monkeypatch)
    assert worst_column_difference(turned, np.roll(panorama, VAE_FACTOR * turn, axis=1)) <= TURN_TOLERANCE


def test_without_wrapping_windows_turning_the_noise_does_not_turn_the_panorama(monkeypatch):
    # the property above is no accident of the tiny models: the plain panorama breaks it by far
    plain = WideImageModel(load_wide_image_config(["--tiny", "--prompt", PROMPT, *FEW_STEPS]))
    noise = plain.canonical_noise()
    panorama = sample(plain, noise, monkeypatch)
    turned = sample(plain, torch.roll(noise, 20, dims=-1), monkeypatch)
    assert worst_column_difference(turned, np.roll(panorama, VAE_FACTOR * 20, axis=1)) > 5 * TURN_TOLERANCE


@pytest.mark.slow  # four panoramas (3 s); the quick suite turns the noise
def test_the_wrap_is_no_stronger_a_seam_than_any_other_column(model, monkeypatch):
    # One pair of columns steps as far as whatever the trained models drew there (a sun's rim, a peak), so the wrap's
    # seam ratio is averaged over seeds. Measured (4 steps, seeds 1-4): 1.48 on average (0.9 to 2.0 per seed); the
    # plain panorama's edges, joined, 21 (14 to 30); 16 with the old random tiny models and an unwrapped decode.
    ratios = []
    for seed in range(1, 5):
        monkeypatch.setattr(model, "config", dataclasses.replace(model.config, seed=seed))
        ratios.append(wrap_seam_ratio(model(PROMPT, progress=False)))
    assert np.mean(ratios) <= 2.5
