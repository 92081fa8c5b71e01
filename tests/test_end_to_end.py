"""Whole runs on the tiny models: the files the handout asks for, at the right sizes, reproducible by seed."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

import main
from guidance.wide_image_model import WideImageModel
from synckit.layout import WIDE_APP, data_file, read_prompts


def test_wide_image_run_writes_panorama_crops_and_record(tmp_path):
    prompt = "snowy mountains under an orange sky with a sun"  # a toy world's caption, as --tiny wants
    folder = main.main([
        "--app", "wide_image", "--tiny", "--prompt", prompt,
        "--save_top_dir", str(tmp_path), "--tag", "wide", "--num_inference_steps", "3",
    ])
    name = "snowy_mountains_under_an_orange_sky_with_a_sun"
    assert Image.open(folder / f"{name}.png").size == (384, 64)
    eval_pos = read_prompts(WIDE_APP, data_file(WIDE_APP, toy=True))[name]["eval_pos"]  # --tiny's prompt file
    for pos in eval_pos:
        assert Image.open(folder / f"{name}_{pos}.png").size == (64, 64)
    record = json.loads((folder / "run.json").read_text())
    assert record["settings"]["seed"] == 1 and record["jobs"][0]["eval_pos"] == eval_pos
    assert record["settings"]["sd_path"].endswith("stable-diffusion-2-base-tiny")


def test_ambiguous_image_run_writes_views_side_by_side_and_gif(tmp_path):
    folder = main.main([
        "--app", "ambiguous_image", "--tiny", "--prompts", "a red arrow pointing up", "a red arrow pointing right",
        "--save_top_dir", str(tmp_path), "--tag", "amb", "--num_inference_steps", "3",
    ])
    for prompt in ("a_red_arrow_pointing_up", "a_red_arrow_pointing_right"):
        image = Image.open(folder / f"{prompt}.png")
        assert image.size == (128, 128) and image.mode == "RGB"  # the tiny IF: 32 px, then 128 px
    gif = Image.open(folder / "a_red_arrow_pointing_up-a_red_arrow_pointing_right.gif")
    assert gif.is_animated and gif.n_frames > 2
    assert Image.open(folder / "a_red_arrow_pointing_up-a_red_arrow_pointing_right_side_by_side.png").width > 2 * 128


@pytest.mark.slow  # samples every target twice; the quick suite samples the default target elsewhere
@pytest.mark.parametrize("target", ["eps", "x0", "xt"])
def test_wide_image_every_target_is_reproducible(target, wide_model):
    first, second = (np.asarray(wide_model("a city", progress=False, sync_target=target)) for _ in range(2))
    assert first.shape == (64, 384, 3)
    np.testing.assert_array_equal(first, second)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["eps", "x0", "xt"])
def test_ambiguous_image_every_target_is_reproducible(target, ambiguous_model):
    first, second = ([np.asarray(view) for view in ambiguous_model(["a horse", "a village"], progress=False, sync_target=target)]
                     for _ in range(2))
    assert [view.shape for view in first] == [(128, 128, 3)] * 2  # the tiny IF: 32 px, then 128 px
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_ambiguous_views_are_views_of_one_image(ambiguous_model):
    # the saved instance image is the canonical one seen through the view (rotated 90° clockwise)
    canonical, rotated = (np.asarray(view) for view in ambiguous_model(["a horse", "a village"], progress=False))
    np.testing.assert_array_equal(np.rot90(canonical, k=-1), rotated)


def test_different_seeds_differ(wide_model):
    first = np.asarray(wide_model("a city", progress=False))
    other_seed = WideImageModel(dataclasses.replace(wide_model.config, seed=2))
    assert not np.array_equal(first, np.asarray(other_seed("a city", progress=False)))


def test_deepfloyd_output_is_split_into_noise_and_variance(ambiguous_model, wide_model):
    # IF's UNet gives 6 channels for 3-channel images; only ε reaches the student's functions
    model = ambiguous_model
    embeds = model.stage_1.encode_prompt(["a horse", "a village"], do_classifier_free_guidance=True, device="cpu")
    xts = torch.randn(2, 3, 64, 64)
    raw = model.stage_1.unet(xts, 500, encoder_hidden_states=embeds[0]).sample
    assert raw.shape[1] == 6
    eps = model.compute_noise_preds(xts, 500, unet=model.stage_1.unet, prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1])
    assert eps.shape == xts.shape
    # a UNet without the variance channels (SD's) is refused with a message, not a shape error later
    sd_embeds = wide_model.model.encode_prompt(["a", "b"], "cpu", 1, True, negative_prompt=["", ""])
    with pytest.raises(ValueError, match="channels"):
        model.compute_noise_preds(torch.randn(2, 4, 8, 8), 500, unet=wide_model.model.unet,
                                  prompt_embeds=sd_embeds[0], negative_prompt_embeds=sd_embeds[1])


def test_a_student_function_returning_six_channels_fails_loudly(ambiguous_model, monkeypatch):
    model = ambiguous_model
    keep_variance = lambda xts, eps, timestep, alphas, sigmas, **kwargs: torch.cat([xts, xts], dim=1)  # noqa: E731
    monkeypatch.setattr(model, "compute_tweedie", keep_variance)
    with pytest.raises(ValueError, match=r"compute_tweedie gave \(2, 6, 32, 32\).*channel"):
        model(["a horse", "a village"], progress=False)


def test_both_apps_fill_one_submission_folder(tmp_path):
    # `--all_prompts --tag submission` for each app, as the README says; two prompts each to stay fast
    wide = {k: v for k, v in list(json.load(open("data/wide_image_prompts.json")).items())[:2]}
    pairs = {k: v for k, v in list(json.load(open("data/ambiguous_image_prompts.json")).items())[:1]}
    (tmp_path / "wide.json").write_text(json.dumps(wide))
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    common = ["--tiny", "--all_prompts", "--num_inference_steps", "2", "--save_top_dir", str(tmp_path), "--tag", "submission"]
    main.main(["--app", "wide_image", "--prompts_file", str(tmp_path / "wide.json"), *common])
    main.main(["--app", "ambiguous_image", "--prompts_file", str(tmp_path / "pairs.json"), *common])
    submission = tmp_path / "submission"
    assert sorted(p.name for p in submission.iterdir()) == ["ambiguous_images", "wide_images"]
    for key, entry in wide.items():
        assert (submission / "wide_images" / f"{key}.png").is_file()
        assert all((submission / "wide_images" / f"{key}_{pos}.png").is_file() for pos in entry["eval_pos"])
    entry = next(iter(pairs.values()))
    for prompt in (entry["canonical_prompt"], entry["instance_prompt"]):
        assert (submission / "ambiguous_images" / f"{prompt.replace(' ', '_')}.png").is_file()
    with pytest.raises(SystemExit, match="already has files"):  # a second wide run would overwrite: refused
        main.main(["--app", "wide_image", "--prompts_file", str(tmp_path / "wide.json"), *common])
