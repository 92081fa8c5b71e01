"""Extension task 5: GVCFDiffusion (--fusion guided|vcf|gvcf, --sampler ddpm, --style_align α). The cone weight map,
variance-corrected fusion keeping the injected noise at unit variance, the slerp, and each option end to end on the
tiny models, with the defaults still today's plain panorama."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler

import main
from configs.common import TINY_MODELS_DIR
from configs.wide_image_config import load_wide_image_config
from guidance.circular_wide_image_model import CircularWideImageModel
from guidance.fusion import cone_weights, ddpm_posterior, slerp, variance_corrected_fusion, with_gvcf
from guidance.wide_image_model import WideImageModel

PROMPT = "snowy mountains under an orange sky with a sun"  # a toy-world prompt: the tiny models know its words
FEW_STEPS = ["--num_inference_steps", "2"]


# --- cone_weights: the guided fusion's weight map -----------------------------------------------------------------

@pytest.mark.parametrize("size, centre, edge_middle", [
    # pixel-centre offsets from the middle: (±0.5, ±0.5) at the centre of 8 px, a corner at (3.5, 3.5), so the
    # centre is 1 − (0.5·√2)/(3.5·√2) = 6/7; the edge pixel (0, 3) is at (−3.5, −0.5), √12.5 / √24.5 = 5/7 of the way
    (8, 6 / 7, 2 / 7),
    (64, 1 - 1 / 63, None),
    # odd: the middle pixel is the centre itself; edge pixel (0, 2) of 5 px is at (−2, 0), 2/(2·√2) of the way
    (5, 1.0, 1 - 1 / math.sqrt(2)),
])
def test_the_cone_is_highest_at_the_centre_and_epsilon_at_every_corner(size, centre, edge_middle):
    epsilon = 0.01
    weights = cone_weights(size, epsilon)
    assert weights.shape == (size, size)
    middle = [size // 2] if size % 2 else [size // 2 - 1, size // 2]
    for row in middle:
        for column in middle:
            assert weights[row, column].item() == pytest.approx(centre + epsilon, abs=1e-6)
    assert weights.max().item() == pytest.approx(centre + epsilon, abs=1e-6)
    for row, column in [(0, 0), (0, size - 1), (size - 1, 0), (size - 1, size - 1)]:
        assert weights[row, column].item() == pytest.approx(epsilon, abs=1e-6)
    if edge_middle is not None:
        assert weights[0, (size - 1) // 2].item() == pytest.approx(edge_middle + epsilon, abs=1e-6)
    torch.testing.assert_close(weights, weights.flip(0).flip(1).T)  # the same seen from every side


def test_no_pixel_of_the_default_cone_has_zero_weight():
    assert cone_weights(8).min().item() > 0


# --- variance_corrected_fusion -------------------------------------------------------------------------------------

CANVAS, WINDOW, STRIDE = (8, 48), 8, 2  # the tiny latent with 21 windows every 2 columns: up to 4 on a pixel


def sum_windows(x_ts):
    """Windows [N, C, 8, 8] pasted every STRIDE columns onto the canvas, summed where they overlap (F.fold)."""
    return F.fold(x_ts.reshape(len(x_ts), -1).T[None], CANVAS, WINDOW, stride=STRIDE)


def window_columns():
    return [range(w0, w0 + WINDOW) for w0 in range(0, CANVAS[1] - WINDOW + 1, STRIDE)]


def overlapped_columns():
    """The canvas columns that lie in two windows or more, where averaging changes anything."""
    counts = np.zeros(CANVAS[1])
    for columns in window_columns():
        counts[list(columns)] += 1
    return np.flatnonzero(counts >= 2)


VARIANCE_TOLERANCE = 0.05  # the estimate's standard error is below 0.01 here; a naive average gives 0.3 to 0.5


# equal weights (VCF), and uneven ones as a cone's (GVCF), made here so that this test needs no cone_weights
@pytest.mark.parametrize("weights", [torch.ones(WINDOW, WINDOW),
                                     torch.rand(WINDOW, WINDOW, generator=torch.Generator().manual_seed(6)) + 0.01],
                         ids=["vcf", "gvcf"])
def test_the_fused_noise_keeps_unit_variance_where_a_naive_average_halves_it(weights):
    draws = 512  # independent noises per window, as channels: every one is fused alike
    generator = torch.Generator().manual_seed(0)
    noises = torch.randn(len(window_columns()), draws, WINDOW, WINDOW, generator=generator)
    fused = variance_corrected_fusion(torch.zeros_like(noises), noises, 1.0, weights, sum_windows)
    assert fused.shape == (1, draws, *CANVAS)
    columns = overlapped_columns()
    variance = fused[0][..., columns].var(dim=0).mean().item()  # per pixel over the draws, then over the pixels
    assert abs(variance - 1) < VARIANCE_TOLERANCE
    # the tolerance has teeth: averaging the same noises by the weights loses most of their variance
    naive = sum_windows(weights * noises) / sum_windows(weights.expand_as(noises))
    assert abs(naive[0][..., columns].var(dim=0).mean().item() - 1) > 5 * VARIANCE_TOLERANCE


def test_the_fused_mean_is_the_weighted_average_of_the_windows_means():
    count = len(window_columns())
    mus = torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 3, WINDOW, WINDOW)
    weights = torch.rand(WINDOW, WINDOW, generator=torch.Generator().manual_seed(1)) + 0.1
    fused = variance_corrected_fusion(mus, torch.randn(mus.shape), 0.0, weights, sum_windows)  # σ_t = 0: no noise
    for row in (0, 5):
        for column in (0, 1, 7, 20, 47):
            covering = [(i, column - columns.start) for i, columns in enumerate(window_columns()) if column in columns]
            expected = sum(i * weights[row, offset].item() for i, offset in covering) / sum(
                weights[row, offset].item() for _, offset in covering)
            torch.testing.assert_close(fused[0, :, row, column], torch.full((3,), expected))


def test_the_noise_is_scaled_by_sigma():
    noises = torch.randn(len(window_columns()), 2, WINDOW, WINDOW)
    zeros, weights = torch.zeros_like(noises), torch.ones(WINDOW, WINDOW)
    torch.testing.assert_close(variance_corrected_fusion(zeros, noises, 0.3, weights, sum_windows),
                               0.3 * variance_corrected_fusion(zeros, noises, 1.0, weights, sum_windows))


# --- slerp ----------------------------------------------------------------------------------------------------------

def test_slerp_starts_at_z1_and_ends_at_z2():
    z1, z2 = torch.randn(1, 4, 8, 48), torch.randn(1, 4, 8, 48)
    torch.testing.assert_close(slerp(z1, z2, 0.0), z1)
    torch.testing.assert_close(slerp(z1, z2, 1.0), z2)


def test_slerp_halfway_between_orthogonal_unit_vectors():
    e1, e2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    torch.testing.assert_close(slerp(e1, e2, 0.5), torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))
    torch.testing.assert_close(slerp(e1, e2, 1 / 3), torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6), 0.0]))


@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.9])
def test_slerp_keeps_the_norm_where_a_straight_line_loses_it(alpha):
    z1 = torch.randn(1, 4, 8, 48, generator=torch.Generator().manual_seed(2))
    z2 = torch.randn(1, 4, 8, 48, generator=torch.Generator().manual_seed(3))
    z2 = z2 * z1.norm() / z2.norm()
    assert slerp(z1, z2, alpha).norm().item() == pytest.approx(z1.norm().item(), rel=1e-4)


# --- the DDPM step (given) --------------------------------------------------------------------------------------------

def test_the_ddpm_step_is_diffusers_on_the_same_strided_schedule():
    config = DDIMScheduler.load_config(TINY_MODELS_DIR / "stable-diffusion-2-base-tiny" / "scheduler")
    ddim = DDIMScheduler.from_config(config)  # the kit's scheduler (synckit.models)
    ddpm = DDPMScheduler.from_config(config, prediction_type="sample", variance_type="fixed_small", clip_sample=False)
    ddim.set_timesteps(10)
    ddpm.set_timesteps(10)
    assert ddim.timesteps.tolist() == ddpm.timesteps.tolist()
    xts, x0s = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    for t in ddim.timesteps[[0, 4, -1]]:
        mus, sigma = ddpm_posterior(ddim, xts, x0s, t)
        ours = mus + sigma * torch.randn(xts.shape, generator=torch.Generator().manual_seed(5))
        theirs = ddpm.step(x0s, t, xts, generator=torch.Generator().manual_seed(5)).prev_sample
        torch.testing.assert_close(ours, theirs)


# --- the flags ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (["--fusion", "vcf", "--sync_target", "xt"], "the deterministic --sampler ddim injects none: add --sampler ddpm"),
    (["--fusion", "gvcf", "--sampler", "ddpm"], "not --sync_target x0: add --sync_target xt"),
    (["--style_align", "1.5"], "--style_align is the slerp's ALPHA, within 0..1"),
    (["--style_align", "0.5", "--panorama_width", "392"], "do not tile its 8x49 latent px"),
])
def test_combinations_that_make_no_sense_are_refused_before_any_model_loads(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_wide_image_config(["--tiny", "--prompt", PROMPT, *flags])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def config(*flags):
    return load_wide_image_config(["--tiny", "--prompt", PROMPT, *FEW_STEPS, *flags])


def test_each_model_takes_only_its_own_configs():
    assert type(main.build_model(config())) is WideImageModel  # the defaults: today's model, none of this code
    assert type(main.build_model(config("--fusion", "guided"))) is with_gvcf(WideImageModel)
    assert type(main.build_model(config("--style_align", "0.3", "--circular"))) is with_gvcf(CircularWideImageModel)
    with pytest.raises(ValueError, match="--sampler, --style_align need GVCFDiffusion's fusions"):
        WideImageModel(config("--sampler", "ddpm", "--style_align", "0.3"))


def guided_model():
    """Built in the test, not in a fixture: until cone_weights is written, building it is the test that fails."""
    return main.build_model(config("--fusion", "guided"))


def covering(model, row, column) -> list:
    """(window, row, column in the window) of every window that holds latent pixel (row, column)."""
    return [(i, row - h0, (column - w0) % model.latent_width) for i, (h0, h1, w0, _) in enumerate(model.mapper)
            if h0 <= row < h1 and (column - w0) % model.latent_width < h1 - h0]


def test_the_guided_inverse_mapping_weights_every_window_by_its_map(monkeypatch):
    guided = guided_model()
    size = guided.config.latent_instance_size
    weights = torch.rand(size, size, generator=torch.Generator().manual_seed(4)) + 0.1
    monkeypatch.setattr(guided, "window_weights", weights)
    windows = torch.randn(len(guided.mapper), 4, size, size)
    canvas = guided.inverse_mapping(windows)
    for row, column in [(0, 0), (3, 5), (7, 20), (4, 47)]:
        held = covering(guided, row, column)
        expected = sum(weights[r, c] * windows[i, :, r, c] for i, r, c in held) / sum(weights[r, c] for _, r, c in held)
        torch.testing.assert_close(canvas[0, :, row, column], expected)


@pytest.mark.parametrize("flags", [[], ["--circular", "--panorama_height", "128", "--window_stride", "4"]],
                         ids=["plain", "360"])
def test_sum_windows_adds_every_window_that_covers_a_pixel(flags):
    model = main.build_model(config("--fusion", "vcf", "--sampler", "ddpm", "--sync_target", "xt", *flags))
    size = model.config.latent_instance_size
    windows = torch.randn(len(model.mapper), 2, size, size)
    canvas = model.sum_windows(windows)
    for row in (0, model.latent_height - 1):
        for column in (0, 3, model.latent_width - 2, model.latent_width - 1):
            expected = sum(windows[i, :, r, c] for i, r, c in covering(model, row, column))
            torch.testing.assert_close(canvas[0, :, row, column], expected)


def test_style_alignment_slerps_towards_one_windows_noise_tiled():
    plain_noise = WideImageModel(config()).canonical_noise()
    assert torch.equal(guided_model().canonical_noise(), plain_noise)  # without --style_align: today's z_T
    aligned = main.build_model(config("--style_align", "1"))
    tiled, size = aligned.canonical_noise(), aligned.config.latent_instance_size
    for start in range(size, aligned.latent_width, size):
        torch.testing.assert_close(tiled[..., start:start + size], tiled[..., :size])
    assert not torch.equal(tiled[..., :size], plain_noise[..., :size])  # the window's own draw, after z_T's


# --- whole panoramas on the tiny models ---------------------------------------------------------------------------------

def test_with_every_flag_at_its_default_the_gvcf_model_is_todays_panorama_bit_for_bit():
    plain = np.asarray(WideImageModel(config())(PROMPT, progress=False))
    assert np.array_equal(np.asarray(with_gvcf(WideImageModel)(config())(PROMPT, progress=False)), plain)


@pytest.mark.parametrize("flags", [
    ["--fusion", "guided"],
    ["--sampler", "ddpm"],
    ["--sampler", "ddpm", "--fusion", "vcf", "--sync_target", "xt"],
    ["--sampler", "ddpm", "--fusion", "gvcf", "--sync_target", "xt"],
    ["--style_align", "0.5"],
    ["--circular", "--sampler", "ddpm", "--fusion", "gvcf", "--sync_target", "xt", "--style_align", "0.5"],
], ids=["guided", "ddpm", "vcf", "gvcf", "style_align", "360-gvcf-style_align"])
def test_each_option_runs_from_main_and_is_recorded(flags, tmp_path):
    folder = main.main(["--app", "wide_image", "--tiny", "--prompt", PROMPT, *FEW_STEPS, "--save_top_dir",
                        str(tmp_path), *flags])
    record = json.loads((folder / "run.json").read_text())
    assert len(record["jobs"][0]["files"]) == 9  # the panorama and its eight crops
    settings = {key: record["settings"][key] for key in ("fusion", "sampler", "style_align", "sync_target")}
    valued = [flag for flag in flags if flag != "--circular"]  # the flags that take a value, each with its value
    given = dict(zip(valued[::2], valued[1::2]))
    assert settings == {"fusion": given.get("--fusion", "mean"), "sampler": given.get("--sampler", "ddim"),
                        "style_align": float(given.get("--style_align", 0)),
                        "sync_target": given.get("--sync_target", "x0")}


def test_the_ddpm_sampler_draws_its_noise_from_the_seed():
    model = main.build_model(config("--sampler", "ddpm"))
    first, second = (np.asarray(model(PROMPT, progress=False)) for _ in range(2))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, np.asarray(WideImageModel(config())(PROMPT, progress=False)))
