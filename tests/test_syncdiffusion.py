"""Extension task 6: SyncDiffusion (--syncdiffusion_weight). The gradient step on stand-in functions (each window
descends its own gradient, the anchor stays), its schedule and flags, the LPIPS it uses offline and the one error
without the VGG16 weights, and on the tiny models: one guided step brings every window closer to the anchor, and a
weight of 0 is MultiDiffusion bit for bit."""

import json
from pathlib import Path

import lpips
import numpy as np
import pytest
import torch
from torchvision.models import VGG16_Weights

import main
from configs.wide_image_config import load_wide_image_config
from guidance.circular_wide_image_model import CircularWideImageModel
from guidance.fusion import with_gvcf
from guidance.syncdiffusion import load_lpips, step_weight, syncdiffusion_step, with_syncdiffusion
from guidance.wide_image_model import WideImageModel
from synckit.models import ModelLoadError

PROMPT = "snowy mountains under an orange sky with a sun"  # a toy-world prompt: the tiny models know its words
# A narrow tiny panorama, 64×128 px: 9 windows of 8 latent px with stride 1 (the anchor is window 4), so that a
# gradient pass through the UNet, the VAE decoder and LPIPS' VGG16 takes a fraction of a second on a CPU.
NARROW = ["--panorama_width", "128", "--eval_pos", "0"]
ANCHOR = 4


def config(*flags):
    return load_wide_image_config(["--tiny", "--prompt", PROMPT, "--num_inference_steps", "2", *NARROW, *flags])


# --- syncdiffusion_step, on stand-ins whose gradient is known -------------------------------------------------------

def first_channels(windows):
    """A stand-in for the decoded x̂0: the windows' first three channels as the image."""
    return windows[:, :3]


def squared_distance_plus_brightness(images, anchor_image):
    """A stand-in loss per window: Σ (I − I_a)² + Σ I. Its gradient, 2(I − I_a) + 1, is not 0 at the anchor itself,
    so a step that moved the anchor would show."""
    return (images - anchor_image).square().sum(dim=(1, 2, 3)) + images.sum(dim=(1, 2, 3))


@pytest.mark.parametrize("chunk_size", [1, 4, 9, 100], ids=["one", "uneven", "all", "more"])
def test_every_window_but_the_anchor_descends_its_own_gradient(chunk_size):
    xts = torch.randn(9, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    weight = 0.3
    updated = syncdiffusion_step(xts, ANCHOR, weight, first_channels, squared_distance_plus_brightness, chunk_size)
    expected = xts.clone()
    for i in range(len(xts)):
        if i != ANCHOR:
            expected[i, :3] -= weight * (2 * (xts[i, :3] - xts[ANCHOR, :3]) + 1)
    torch.testing.assert_close(updated, expected)
    assert torch.equal(updated[ANCHOR], xts[ANCHOR])
    assert not updated.requires_grad


# --- the schedule and the flags ------------------------------------------------------------------------------------

def test_the_schedule_is_the_official_codes():
    course = load_wide_image_config(["--prompt", PROMPT, "--syncdiffusion_weight", "20"])
    # sample_syncdiffusion()'s defaults: every step of 50, weight 20·0.95^i
    assert [step_weight(course, i) for i in (0, 1, 49, 50)] == [20, 20 * 0.95, 20 * 0.95**49, None]
    sparse = load_wide_image_config(["--prompt", PROMPT, "--syncdiffusion_weight", "20", "--syncdiffusion_freq", "2",
                                     "--syncdiffusion_last_step", "5", "--syncdiffusion_decay", "0.5"])
    # steps 2 and 4 (counted from 1) of the first 5
    assert [step_weight(sparse, i) for i in range(7)] == [None, 10, None, 2.5, None, None, None]


def test_the_defaults_are_off_and_the_tiny_pass_takes_every_window():
    course = load_wide_image_config(["--prompt", PROMPT])
    assert (course.syncdiffusion_weight, course.syncdiffusion_decay, course.syncdiffusion_freq,
            course.syncdiffusion_last_step, course.syncdiffusion_batch_size) == (0, 0.95, 1, 50, 1)
    assert load_wide_image_config(["--tiny", "--prompt", PROMPT]).syncdiffusion_batch_size == 41


@pytest.mark.parametrize("flags, message", [
    (["--syncdiffusion_weight", "-1"], "--syncdiffusion_weight must be 0 (off) or a positive number"),
    (["--syncdiffusion_weight", "nan"], "--syncdiffusion_weight must be 0 (off) or a positive number"),
    (["--syncdiffusion_decay", "0"], "--syncdiffusion_decay is the weight's factor per step, within (0, 1]"),
    (["--syncdiffusion_decay", "1.5"], "--syncdiffusion_decay is the weight's factor per step, within (0, 1]"),
    (["--syncdiffusion_freq", "0"], "--syncdiffusion_freq must be at least 1"),
    (["--syncdiffusion_last_step", "0"], "--syncdiffusion_last_step must be at least 1"),
    (["--syncdiffusion_batch_size", "0"], "--syncdiffusion_batch_size must be at least 1"),
    (["--syncdiffusion_weight", "20", "--syncdiffusion_freq", "3"], "--syncdiffusion_freq 3 guides no step of the first 2"),
    (["--syncdiffusion_weight", "20", "--offload", "model"], "SyncDiffusion's backward pass runs through both"),
])
def test_bad_flags_are_refused_before_any_model_loads(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        config(*flags)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_each_model_takes_only_its_own_configs():
    assert type(main.build_model(config())) is WideImageModel  # the default: today's model, none of this code
    with pytest.raises(ValueError, match="--syncdiffusion_weight needs SyncDiffusion's gradient step"):
        WideImageModel(config("--syncdiffusion_weight", "20"))


@pytest.mark.slow  # loads LPIPS (its random VGG16 takes a second to build) and the tiny SD
def test_it_adds_to_the_360_and_gvcf_models():
    built = main.build_model(config("--syncdiffusion_weight", "20", "--circular", "--fusion", "guided"))
    assert type(built) is with_syncdiffusion(with_gvcf(CircularWideImageModel)) and built.anchor == 8  # of 16


# --- LPIPS ---------------------------------------------------------------------------------------------------------

@pytest.mark.slow  # two random VGG16s, a second each
def test_the_tiny_lpips_is_the_packages_with_a_seeded_random_trunk_offline():
    rng_before = torch.random.get_rng_state()
    first, second = load_lpips(False, torch.device("cpu")), load_lpips(False, torch.device("cpu"))
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # its seed does not reset the run's random stream
    for (name, value), (_, again) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(value, again), name
    calibrated = torch.load(Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth", map_location="cpu")
    for name, value in calibrated.items():  # the linear layers fitted to human judgments ship with the package
        assert torch.equal(first.state_dict()[name], value), name
    assert not any(parameter.requires_grad for parameter in first.parameters())


def test_without_the_vgg16_weights_the_real_path_stops_with_one_message_before_sampling(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected_file = tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    with pytest.raises(ModelLoadError) as error:
        load_lpips(True, torch.device("cpu"))
    # the file lpips' trunk asks torchvision for (pretrained=True is VGG16_Weights.IMAGENET1K_V1)
    assert str(expected_file) in str(error.value) and VGG16_Weights.IMAGENET1K_V1.url in str(error.value)
    tiny_weights = str(Path(main.__file__).parent / "tiny_models" / "stable-diffusion-2-base-tiny")
    with pytest.raises(SystemExit) as exit_info:
        main.main(["--app", "wide_image", "--prompt", PROMPT, "--syncdiffusion_weight", "20", "--device", "cpu",
                   "--sd_path", tiny_weights, "--save_top_dir", str(tmp_path / "out")])
    assert str(exit_info.value) == f"error: {error.value}"
    assert not (tmp_path / "out" / "wide_image").exists()  # nothing sampled, no folder left behind


# --- on the tiny models ----------------------------------------------------------------------------------------------

def first_step(model):
    """x_T of every window, the first timestep and the keyword arguments of a step, as WideImageModel.__call__."""
    prompt_embeds, negative_prompt_embeds = model.model.encode_prompt(
        PROMPT, model.device, num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt="")
    model.scheduler.set_timesteps(model.config.num_inference_steps)
    alphas, sigmas = model.noise_schedule()
    xts = model.forward_mapping(model.canonical_noise())
    return xts, model.scheduler.timesteps[0], alphas, sigmas, dict(
        prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds)


@torch.no_grad()
def distances_to_the_anchor(model, xts, timestep, alphas, sigmas, kwargs):
    images = model.decoded_x0(xts, timestep, alphas, sigmas, **kwargs)
    return model.lpips_distance(images, images[ANCHOR:ANCHOR + 1]).flatten()


def guided_first_step(weight):
    """The LPIPS distances of the windows' decoded x̂0 to the anchor's before and after the first step's gradient
    step, of the windows but the anchor; and whether the anchor stayed exactly where it was."""
    model = main.build_model(config("--syncdiffusion_weight", weight))
    assert model.anchor == ANCHOR
    xts, timestep, alphas, sigmas, kwargs = first_step(model)
    guided = model.guide(xts, timestep, alphas, sigmas, **kwargs)
    others = [i for i in range(len(xts)) if i != ANCHOR]
    before = distances_to_the_anchor(model, xts, timestep, alphas, sigmas, kwargs)[others]
    after = distances_to_the_anchor(model, guided, timestep, alphas, sigmas, kwargs)[others]
    return before, after, torch.equal(guided[ANCHOR], xts[ANCHOR])


@pytest.mark.slow  # the tiny SD and LPIPS (3 s); the quick suite checks the step on stand-ins
def test_one_small_guided_step_brings_every_window_but_the_anchor_closer_to_it():
    before, after, anchor_kept = guided_first_step("1")  # small enough for the gradient's first-order promise
    assert anchor_kept
    assert (after < before).all(), (before, after)


@pytest.mark.slow  # a second guided first step
def test_one_step_of_the_official_weight_brings_the_windows_closer_to_the_anchor_on_average():
    before, after, anchor_kept = guided_first_step("20")  # it overshoots for some windows
    assert anchor_kept
    assert after.mean() < before.mean(), (before, after)


@pytest.mark.slow  # two panoramas, one with the gradient pass
def test_a_zero_weight_is_multidiffusion_bit_for_bit():
    flags = ["--sync_target", "xt"]  # MultiDiffusion: the windows' x_(t-1) averaged
    synced = with_syncdiffusion(WideImageModel)(config(*flags))
    assert step_weight(synced.config, 0) == 0  # a step the schedule guides, with weight 0: the whole pass runs
    plain = np.asarray(WideImageModel(config(*flags))(PROMPT, progress=False))
    assert np.array_equal(np.asarray(synced(PROMPT, progress=False)), plain)


@pytest.mark.slow  # a guided panorama
def test_it_runs_from_main_and_is_recorded(tmp_path):
    folder = main.main(["--app", "wide_image", "--tiny", "--prompt", PROMPT, "--num_inference_steps", "2", *NARROW,
                        "--syncdiffusion_weight", "20", "--save_top_dir", str(tmp_path)])
    record = json.loads((folder / "run.json").read_text())
    assert len(record["jobs"][0]["files"]) == 2  # the panorama and its one crop
    assert {key: record["settings"][key] for key in record["settings"] if key.startswith("syncdiffusion")} == {
        "syncdiffusion_weight": 20, "syncdiffusion_decay": 0.95, "syncdiffusion_freq": 1,
        "syncdiffusion_last_step": 50, "syncdiffusion_batch_size": 41}
