"""Extension task 7: region prompts (MultiDiffusion's region-based generation, --regions LAYOUT.json). The fusion's
known answers, bootstrapping's formula and its first N steps, every refused layout (before any model loads), the
example layouts, and a run from main that writes the image and its mask overlay."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import guidance.regions
import main
from configs.wide_image_config import load_wide_image_config
from guidance.regions import bootstrap_regions, region_fusion, with_regions
from guidance.wide_image_model import WideImageModel
from synckit.layout import DATA_DIR
from synckit.regions import read_layout

BACKGROUND = "a desert under a blue sky"  # toy-world prompts: the tiny models know their words
NIGHT = "a desert under a night sky with a moon"
SEA = "the sea under a blue sky"
# A narrow tiny canvas, 64×128 px (8×16 latent px, 9 windows of 8 with stride 1), so that a run takes a moment
NARROW = ["--panorama_width", "128"]


def write_layout(folder, layout, name="layout.json"):
    path = folder / name
    path.write_text(json.dumps(layout, indent=2) if not isinstance(layout, str) else layout)
    return path


def region_config(path, *flags):
    return load_wide_image_config(["--tiny", "--regions", str(path), *NARROW, "--num_inference_steps", "4", *flags])


# --- region_fusion: known answers -----------------------------------------------------------------------------------

CANVAS, WINDOW, STRIDE = (4, 10), 4, 2  # 4 windows of 4×4 every 2 columns: up to 2 on a pixel


def sum_windows(x_ts):
    """Windows [N, C, 4, 4] pasted every STRIDE columns onto the canvas, summed where they overlap (F.fold)."""
    return F.fold(x_ts.reshape(len(x_ts), -1).T[None], CANVAS, WINDOW, stride=STRIDE)


def crops(canvases):
    """Every window of each canvas [P, C, H, W], [P, N, C, 4, 4] (F.unfold)."""
    prompts, channels = canvases.shape[:2]
    windows = F.unfold(canvases, WINDOW, stride=STRIDE)  # [P, C·4·4, N]
    return windows.transpose(1, 2).reshape(prompts, -1, channels, WINDOW, WINDOW)


def test_each_pixel_takes_the_prediction_of_the_prompts_whose_mask_covers_it():
    # three prompts' canvases, each a constant with its own ramp, so that a wrong window or prompt shows
    ramp = torch.arange(CANVAS[0] * CANVAS[1], dtype=torch.float32).reshape(CANVAS)
    canvases = torch.stack([torch.full(CANVAS, 1000.0), torch.full(CANVAS, 2000.0), torch.full(CANVAS, 4000.0)])
    canvases = (canvases + ramp)[:, None].expand(3, 2, *CANVAS).contiguous()  # 2 channels
    background, region_a, region_b = torch.zeros(3, *CANVAS)
    region_a[:, :6] = 1  # columns 0..5
    region_b[:, 4:] = 1  # columns 4..9: A and B overlap in 4, 5
    background[:] = (1 - region_a - region_b).clamp(min=0)  # none left here: the regions cover the canvas
    region_b[:2, 8:] = 0  # rows 0, 1 of columns 8, 9 in no region ...
    background[:2, 8:] = 1  # ... are the background's
    masks = torch.stack([background, region_a, region_b])[:, None]

    fused = region_fusion(crops(canvases), crops(masks), sum_windows)

    assert fused.shape == (1, 2, *CANVAS)
    expected = torch.empty(CANVAS)
    expected[:, :4] = 2000 + ramp[:, :4]  # only A: A's prediction
    expected[:, 4:6] = 3000 + ramp[:, 4:6]  # A and B: their mean
    expected[:, 6:] = 4000 + ramp[:, 6:]  # only B ...
    expected[:2, 8:] = 1000 + ramp[:2, 8:]  # ... but the background where no region is
    torch.testing.assert_close(fused[0, 0], expected)
    torch.testing.assert_close(fused[0, 1], expected)


def test_the_weights_are_normalized():
    masks = torch.zeros(2, 1, *CANVAS)
    masks[0] = 2.0  # weights other than 1: a pixel in both is (2·a + 1·b)/3, and a constant stays that constant
    masks[1, :, :, 3:] = 1.0
    canvases = torch.stack([torch.full((1, *CANVAS), 3.0), torch.full((1, *CANVAS), 9.0)])
    fused = region_fusion(crops(canvases), crops(masks), sum_windows)[0, 0]
    torch.testing.assert_close(fused[:, :3], torch.full((4, 3), 3.0))
    torch.testing.assert_close(fused[:, 3:], torch.full((4, 7), (2 * 3.0 + 9.0) / 3))
    same = region_fusion(torch.full((2, 4, 1, 4, 4), 7.0), crops(masks), sum_windows)
    torch.testing.assert_close(same, torch.full((1, 1, *CANVAS), 7.0))


# --- bootstrap_regions ----------------------------------------------------------------------------------------------

def test_bootstrapping_keeps_the_region_and_puts_a_noised_background_outside():
    generator = torch.Generator().manual_seed(0)
    xts, backgrounds, noise = (torch.randn(3, 4, 8, 8, generator=generator) for _ in range(3))
    masks = torch.zeros(3, 1, 8, 8)
    masks[:, :, 2:5, 1:7] = 1
    alpha, sigma = torch.tensor(0.6), torch.tensor(0.8)
    result = bootstrap_regions(xts, masks, backgrounds, noise, alpha, sigma)
    inside = masks.expand_as(xts).bool()
    assert torch.equal(result[inside], xts[inside])
    torch.testing.assert_close(result[~inside], (0.6 * backgrounds + 0.8 * noise)[~inside])


# --- the layout file ------------------------------------------------------------------------------------------------

def test_boxes_and_png_masks_become_masks_and_the_latent_takes_each_blocks_top_left_pixel(tmp_path):
    mask = np.zeros((64, 128), dtype=np.uint8)
    mask[40:64, 0:20] = 128  # grey 128 is inside (the official threshold, 0.5)
    mask[0:8, 100:128] = 127  # 127 is not
    Image.fromarray(mask).save(tmp_path / "sea.png")
    path = write_layout(tmp_path, {"background": BACKGROUND, "regions": [
        {"prompt": NIGHT, "box": [4, 0, 24, 32]}, {"prompt": SEA, "mask": "sea.png"}]})
    layout = read_layout(path, 64, 128, 8)
    assert layout.prompts == (BACKGROUND, NIGHT, SEA)
    assert layout.sources == ("background", "box [4, 0, 24, 32]", "mask sea.png")
    assert layout.regions[0].mask.sum() == 20 * 32 and layout.regions[0].mask[0:32, 4:24].all()
    assert layout.regions[1].mask.sum() == 24 * 20 and layout.regions[1].mask[40:64, 0:20].all()
    latent = layout.latent_masks(8)
    assert latent.shape == (2, 8, 16)
    assert np.argwhere(latent[0]).tolist() == [[row, column] for row in range(4) for column in (1, 2)]  # x 8, 16
    assert np.argwhere(latent[1]).tolist() == [[row, column] for row in (5, 6, 7) for column in (0, 1, 2)]


def refusal(path, capsys, *flags) -> str:
    with pytest.raises(SystemExit) as exit_info:
        region_config(path, *flags)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def box(left, top, right, bottom, prompt=NIGHT):
    return {"prompt": prompt, "box": [left, top, right, bottom]}


@pytest.mark.parametrize("layout, message", [
    ('{\n  "background": "a desert under a blue sky",\n  "regions": [\n    {"prompt": "x" "box": [0, 0, 8, 8]}\n  ]\n}',
     "layout.json, line 4 column 20: Expecting ',' delimiter"),
    ({"background": BACKGROUND, "regions": [box(0, 0, 8, 8)], "size": [64, 128]},
     "the layout has unknown key 'size'; its keys are 'background', 'regions'"),
    ({"background": BACKGROUND, "regions": [{**box(0, 0, 8, 8), "colour": "red"}]},
     "region 1 has unknown key 'colour'; its keys are 'prompt', 'box', 'mask'"),
    ({"background": BACKGROUND, "regions": [box(0, 0, 8, 8), box(120, 0, 136, 8)]},
     "region 2 ('a desert under a night sky with a moon')'s box [120, 0, 136, 8] is empty or reaches outside the "
     "128x64 canvas"),
    ({"background": BACKGROUND, "regions": [box(-8, 0, 8, 8)]}, "reaches outside the 128x64 canvas"),
    ({"background": BACKGROUND, "regions": [box(0, 0, 8, 72)]}, "reaches outside the 128x64 canvas"),
    ({"background": BACKGROUND, "regions": [box(8, 0, 8, 8)]}, "is empty or reaches outside"),
    ({"background": BACKGROUND, "regions": [{"prompt": NIGHT, "box": [0, 0, 8]}]},
     "box must be 4 whole numbers [left, top, right, bottom] in pixels, got [0, 0, 8]"),
    ({"background": BACKGROUND, "regions": [box(1, 1, 8, 8)]},
     "covers no latent pixel: the latent is 8x smaller and takes each 8x8 block's top-left pixel"),
    ({"regions": [box(0, 0, 64, 64), box(64, 0, 128, 60)]},
     "has no background prompt, and 256 of the canvas's 128x64 pixels lie in no region (the first at x=64, y=60)"),
    ({"background": BACKGROUND, "regions": []}, '"regions" must be a non-empty list of regions'),
    ({"background": "", "regions": [box(0, 0, 8, 8)]}, '"background" must be a non-empty prompt'),
    ({"background": BACKGROUND, "regions": [{"prompt": " ", "box": [0, 0, 8, 8]}]}, 'region 1 needs a "prompt"'),
    ({"background": BACKGROUND, "regions": [{"prompt": NIGHT}]}, 'needs exactly one of "box"'),
    ({"background": BACKGROUND, "regions": [{"prompt": NIGHT, "box": [0, 0, 8, 8], "mask": "m.png"}]},
     'needs exactly one of "box"'),
    ({"background": BACKGROUND, "regions": [{"prompt": NIGHT, "mask": "missing.png"}]},
     "missing.png does not exist (mask paths are relative to the layout file's folder)"),
], ids=["does-not-parse", "unknown-key", "unknown-region-key", "box-past-the-right-edge", "box-left-of-0",
        "box-below", "empty-box", "box-of-3", "no-latent-pixel", "uncovered-without-background", "no-regions",
        "empty-background", "empty-prompt", "neither-box-nor-mask", "both", "missing-mask"])
def test_a_bad_layout_is_refused_before_any_model_loads(layout, message, tmp_path, capsys):
    assert message in refusal(write_layout(tmp_path, layout), capsys)


@pytest.mark.parametrize("size, pixels, message", [
    ((64, 64), 255, "is 64x64 px, but the canvas is 128x64 (--panorama_width x --panorama_height)"),
    ((128, 64), 0, "'s mask sea.png covers no pixel"),
], ids=["wrong-size", "empty"])
def test_a_bad_png_mask_is_refused(size, pixels, message, tmp_path, capsys):
    Image.new("L", size, pixels).save(tmp_path / "sea.png")
    path = write_layout(tmp_path, {"background": BACKGROUND, "regions": [{"prompt": SEA, "mask": "sea.png"}]})
    assert message in refusal(path, capsys)


def test_a_missing_layout_file_is_named(tmp_path, capsys):
    assert f"layout file {tmp_path / 'none.json'} does not exist" in refusal(tmp_path / "none.json", capsys)


@pytest.mark.parametrize("flags, message", [
    (["--prompt", BACKGROUND], "drop --prompt"),
    (["--circular"], "drop --circular"),
    (["--fusion", "guided", "--syncdiffusion_weight", "20"], "drop --fusion, --syncdiffusion_weight"),
    (["--eval_pos", "0"], "drop --eval_pos"),
    (["--bootstrapping", "-1"], "--bootstrapping is a number of steps, 0 or more, got -1"),
])
def test_flags_that_do_not_go_with_regions_are_refused(flags, message, tmp_path, capsys):
    path = write_layout(tmp_path, {"background": BACKGROUND, "regions": [box(0, 0, 64, 32)]})
    assert message in refusal(path, capsys, *flags)


def test_the_example_layouts_fit_their_geometry():
    toy = load_wide_image_config(["--tiny", "--regions", str(DATA_DIR / "toy_region_layout.json")])
    course = load_wide_image_config(["--regions", str(DATA_DIR / "region_layout.json")])
    for config in (toy, course):
        (job,) = config.jobs
        assert job["masks"][0] == "background" and any(mask.startswith("mask ") for mask in job["masks"])
    assert (toy.panorama_height, toy.panorama_width, toy.bootstrapping) == (64, 384, 20)


# --- on the tiny models ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def layout_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("layout")
    return write_layout(folder, {"background": BACKGROUND, "regions": [box(64, 0, 128, 32), box(0, 32, 40, 64, SEA)]})


def test_regions_are_off_by_default_and_each_model_takes_only_its_own_configs(layout_path):
    plain = load_wide_image_config(["--tiny", "--prompt", BACKGROUND, *NARROW, "--eval_pos", "0"])
    assert plain.regions is None and plain.bootstrapping == 20
    assert type(main.build_model(plain)) is WideImageModel  # today's model, none of this code
    with pytest.raises(ValueError, match="--regions needs region prompts"):
        WideImageModel(region_config(layout_path))


def test_every_prompt_runs_on_every_window_and_the_background_fills_the_rest(layout_path):
    model = main.build_model(region_config(layout_path))
    assert type(model) is with_regions(WideImageModel)
    masks = model.instance_masks  # [3 prompts, 9 windows, 1, 8, 8]
    assert masks.shape == (3, 9, 1, 8, 8)
    torch.testing.assert_close(masks[0], 1 - masks[1] - masks[2])  # the regions do not overlap here
    z = torch.randn(1, 4, 8, 16, generator=torch.Generator().manual_seed(0))
    windows = model.forward_mapping(z)
    assert windows.shape == (27, 4, 8, 8) and torch.equal(windows[:9], windows[18:])
    torch.testing.assert_close(model.inverse_mapping(windows), z)  # crops of one canvas fuse back to it


def test_bootstrapping_happens_in_the_first_n_steps_only(layout_path, monkeypatch):
    model = main.build_model(region_config(layout_path, "--bootstrapping", "2"))  # of 4 steps
    calls = []

    def recording(xts, masks, backgrounds, noise, alpha, sigma):
        calls.append(float(alpha))
        return bootstrap_regions(xts, masks, backgrounds, noise, alpha, sigma)

    monkeypatch.setattr(guidance.regions, "bootstrap_regions", recording)
    model(progress=False)
    alphas, _ = model.noise_schedule()
    assert calls == [float(alphas[t]) for t in model.scheduler.timesteps[:2]]
    calls.clear()
    main.build_model(region_config(layout_path, "--bootstrapping", "0"))(progress=False)
    assert calls == []


def test_bootstrapping_changes_the_regions_windows_outside_their_masks_only(layout_path):
    model = main.build_model(region_config(layout_path))
    z = model.canonical_noise()
    noise = WideImageModel.forward_mapping(model, z)
    xts = model.forward_mapping(z)
    model.scheduler.set_timesteps(4)
    alphas, sigmas = model.noise_schedule()
    backgrounds = model.bootstrap_backgrounds()
    assert backgrounds.shape == (20, 4, 8, 8)
    changed = model.bootstrapped(xts, noise, backgrounds, model.scheduler.timesteps[0], alphas, sigmas) != xts
    masks = model.instance_masks.expand(3, 9, 4, 8, 8).flatten(0, 1).bool()
    assert not changed[:9].any()  # the background prompt's windows are never bootstrapped
    assert not changed[9:][masks[9:]].any() and changed[9:][~masks[9:]].all()


def test_a_run_from_main_writes_the_image_its_overlay_and_the_record(layout_path, tmp_path):
    folder = main.main(["--app", "wide_image", "--tiny", "--regions", str(layout_path), *NARROW,
                        "--num_inference_steps", "2", "--save_top_dir", str(tmp_path)])
    record = json.loads((folder / "run.json").read_text())
    (job,) = record["jobs"]
    assert job["files"] == ["layout.png", "layout_regions.png"]
    assert job["prompts"] == [BACKGROUND, NIGHT, SEA]
    assert job["masks"] == ["background", "box [64, 0, 128, 32]", "box [0, 32, 40, 64]"]
    assert record["settings"]["bootstrapping"] == 20 and record["settings"]["regions"] == str(layout_path)
    image = np.asarray(Image.open(folder / "layout.png"), dtype=int)
    overlay = np.asarray(Image.open(folder / "layout_regions.png"), dtype=int)
    assert image.shape == (64, 128, 3) and overlay.shape[1] == 128 and overlay.shape[0] > 64  # a legend below
    tinted = np.abs(overlay[:64] - image).sum(axis=2) > 0
    expected = np.zeros((64, 128), dtype=bool)
    expected[0:32, 64:128] = expected[32:64, 0:40] = True  # both boxes are whole 8-px blocks (0..40 is five)
    assert np.array_equal(tinted, expected)


@pytest.mark.slow  # the toy example at the default 50 steps
def test_the_toy_example_runs(tmp_path):
    folder = main.main(["--app", "wide_image", "--tiny", "--regions", str(DATA_DIR / "toy_region_layout.json"),
                        "--save_top_dir", str(tmp_path)])
    assert Image.open(folder / "toy_region_layout.png").size == (384, 64)
    assert Image.open(folder / "toy_region_layout_regions.png").width == 384
