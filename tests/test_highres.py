"""Extension task 8: higher-resolution images (--app highres_image, DemoFusion / AccDiffusion). Dilated sampling and its
inverse, the shuffle and its inverse, the cosine schedules at their ends, the patch prompts' word selection, the
windows and their jitter, the attention store, every refused input (before any model loads), and a whole run on the
tiny models at s = 2 from main. Expected values are written out here, not computed by the code under test."""

import json

import pytest
import torch

import main
from configs.highres_image_config import load_highres_image_config
from guidance.highres import (cosine_schedules, dilated_sampling, random_permutations, shuffle_sub_latents,
                              undo_dilated_sampling, unshuffle_sub_latents, window_words)
from guidance.highres_attention import prompt_words, word_masks
from guidance.highres_image_model import jittered, local_windows

PROMPT = "snowy mountains under an orange sky with a sun"  # a toy-world caption: the tiny models know its words


# --- dilated sampling --------------------------------------------------------------------------------------------

def test_sub_latents_are_the_interleaved_pixels_row_offset_first():
    z = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)  # value = c·24 + y·6 + x
    subs = dilated_sampling(z, 2)
    assert subs.shape == (4, 2, 2, 3)
    # sub-latent k = h·2 + w holds rows h, h + 2 and columns w, w + 2, w + 4
    assert subs[0, 0].tolist() == [[0, 2, 4], [12, 14, 16]]
    assert subs[1, 0].tolist() == [[1, 3, 5], [13, 15, 17]]
    assert subs[2, 0].tolist() == [[6, 8, 10], [18, 20, 22]]
    assert subs[3, 1].tolist() == [[31, 33, 35], [43, 45, 47]]


@pytest.mark.parametrize("scale", [2, 3])
def test_sub_latents_partition_the_canvas_and_reassemble_to_it(scale):
    z = torch.randperm(4 * 6 * scale * 6 * scale).float().reshape(1, 4, 6 * scale, 6 * scale)
    subs = dilated_sampling(z, scale)
    assert subs.shape == (scale ** 2, 4, 6, 6)
    # every latent value in exactly one sub-latent
    assert torch.equal(subs.flatten().sort().values, torch.arange(z.numel()).float())
    assert torch.equal(undo_dilated_sampling(subs, scale), z)


def test_undo_dilated_sampling_puts_each_sub_latent_at_its_offsets():
    subs = torch.arange(9, dtype=torch.float32)[:, None, None, None].expand(9, 1, 2, 2)  # sub-latent k is all k
    canvas = undo_dilated_sampling(subs, 3)
    assert canvas.shape == (1, 1, 6, 6)
    assert canvas[0, 0, :3, :3].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert canvas[0, 0, 3:, 3:].tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


# --- shuffle ----------------------------------------------------------------------------------------------------

def test_shuffle_takes_each_value_from_the_permuted_sub_latent():
    x = torch.tensor([10.0, 20.0, 30.0])[:, None, None, None].expand(3, 1, 1, 2).contiguous()
    permutation = torch.tensor([[2, 0], [0, 2], [1, 1]])[:, None, None, :]  # column 0: (2, 0, 1); column 1: (0, 2, 1)
    shuffled = shuffle_sub_latents(x, permutation)
    assert shuffled[:, 0, 0, 0].tolist() == [30, 10, 20]
    assert shuffled[:, 0, 0, 1].tolist() == [10, 30, 20]


def test_unshuffle_returns_each_value_to_where_it_came_from():
    shuffled = torch.tensor([30.0, 10.0, 20.0])[:, None, None, None]
    permutation = torch.tensor([2, 0, 1])[:, None, None, None]
    assert unshuffle_sub_latents(shuffled, permutation)[:, 0, 0, 0].tolist() == [10, 20, 30]


def test_shuffle_then_unshuffle_is_the_identity_and_shuffle_is_not():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 4, 8, 8, generator=generator)
    permutation = random_permutations(x.shape, generator)
    # every position gets a permutation of the 4 sub-latents
    assert torch.equal(permutation.sort(dim=0).values, torch.arange(4)[:, None, None, None].expand(4, 4, 8, 8))
    shuffled = shuffle_sub_latents(x, permutation)
    assert not torch.equal(shuffled, x)
    assert torch.equal(shuffled.sort(dim=0).values, x.sort(dim=0).values)  # the same values at each position
    assert torch.equal(unshuffle_sub_latents(shuffled, permutation), x)


# --- cosine schedules -------------------------------------------------------------------------------------------

def test_cosine_schedules_at_the_ends_and_the_middle():
    assert cosine_schedules(1000, 1000, 3, 1, 1) == pytest.approx((1, 1, 1))  # t = T: all on the upsampled image
    assert cosine_schedules(torch.tensor(0), 1000, 3, 1, 1) == pytest.approx((0, 0, 0.01), abs=1e-12)  # t = 0
    # t = T/2: cosf = ½(1 + cos(π/2)) = 0.5
    assert cosine_schedules(500, 1000, 3, 1, 2) == pytest.approx((0.125, 0.5, 0.99 * 0.25 + 0.01))
    # t = 3T/4: cosf = ½(1 + cos(π/4))
    assert cosine_schedules(750, 1000, 1, 2, 1)[0] == pytest.approx(0.5 + 0.25 * 2 ** 0.5)


# --- patch prompts ----------------------------------------------------------------------------------------------

def test_a_word_inside_one_window_is_in_that_windows_prompt_only():
    windows = local_windows(16, 8, 4)  # 3×3 windows of 8 every 4: only window 0 covers rows and columns 0..3
    masks = torch.zeros(2, 16, 16)
    masks[0, :3, :3] = 1  # 9 of window 0's 64 pixels
    masks[1] = 1  # everywhere
    selected = window_words(masks, windows, 0.1)
    assert selected.dtype == torch.bool and selected.shape == (9, 2)
    assert selected[:, 0].tolist() == [True] + [False] * 8
    assert selected[:, 1].all()


def test_a_share_of_exactly_c_is_enough_and_the_share_is_of_the_window():
    masks = torch.zeros(1, 16, 16)
    masks[0, 8:, 8:12] = 1  # a 8×4 strip: half of the last window, a quarter of the window above it
    windows = [(8, 16, 8, 16), (4, 12, 8, 16), (0, 8, 0, 8)]
    assert window_words(masks, windows, 0.5).tolist() == [[True], [False], [False]]
    assert window_words(masks, windows, 0.25).tolist() == [[True], [True], [False]]


def test_prompt_words_join_the_tokens_of_a_word(tiny_tokenizer):
    words = prompt_words(tiny_tokenizer, PROMPT)
    assert [word for word, _ in words] == PROMPT.split()
    assert words[0][1] == [1]  # after the start token
    assert len(words[1][1]) > 1  # the toy vocabulary spells "mountains" in pieces


def test_word_masks_binarize_at_the_mean_and_upsample_nearest():
    maps = torch.zeros(3, 2, 2)
    maps[1] = torch.tensor([[0.9, 0.1], [0.1, 0.1]])  # token 1: high in the top-left quarter only
    maps[2] = torch.tensor([[0.1, 0.1], [0.6, 0.7]])  # token 2: the bottom half
    masks = word_masks(maps, [("a", [1]), ("b", [2])], 4)
    assert masks.shape == (2, 4, 4)
    assert masks[0].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert masks[1].tolist() == [[0, 0, 0, 0]] * 2 + [[1, 1, 1, 1]] * 2


def test_the_attention_store_keeps_softmax_maps_and_leaves_the_unet_unchanged():
    from guidance.highres_attention import CrossAttentionStore, storing_processors
    from guidance.highres_image_model import HighresImageModel

    model = HighresImageModel(load_highres_image_config(["--tiny", "--prompt", PROMPT]))
    unet = model.model.unet
    generator = torch.Generator().manual_seed(0)
    x, embeds = torch.randn(2, 4, 8, 8, generator=generator), torch.randn(2, 77, 32, generator=generator)
    with torch.no_grad():
        plain = unet(x, 500, encoder_hidden_states=embeds).sample
        default = unet.attn_processors
        store = CrossAttentionStore(8)
        unet.set_attn_processor(storing_processors(unet, store))
        stored = unet(x, 500, encoder_hidden_states=embeds).sample
        unet.set_attn_processor(default)
    torch.testing.assert_close(stored, plain)
    maps = store.maps()
    assert maps.shape == (77, 8, 8)
    torch.testing.assert_close(maps.sum(0), torch.ones(8, 8))  # each pixel's attention over the 77 tokens sums to 1


# --- windows ----------------------------------------------------------------------------------------------------

def test_windows_tile_the_border_whatever_the_stride():
    assert local_windows(16, 8, 4) == [(h, h + 8, w, w + 8) for h in (0, 4, 8) for w in (0, 4, 8)]
    assert sorted({w0 for _, _, w0, _ in local_windows(20, 8, 5)}) == [0, 5, 10, 12]  # the last one moved back
    assert local_windows(8, 8, 4) == [(0, 8, 0, 8)]


def test_jitter_moves_border_windows_outwards_only():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        for (h0, h1, w0, w1), (j0, j1, k0, k1) in zip(local_windows(16, 8, 4), jittered(local_windows(16, 8, 4), 16, 1,
                                                                                          generator)):
            for start, end, moved in ((h0, h1, j0 - 1), (w0, w1, k0 - 1)):  # back on the unpadded canvas
                assert abs(moved - start) <= 1
                assert not (start == 0 and moved > 0) and not (end == 16 and moved < start)
            assert (j1 - j0, k1 - k0) == (8, 8)


# --- inputs -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--scale", "1"], "--scale must be 2 or more"),
    (["--scale", "0"], "--scale must be 2 or more"),
    (["--c", "1.5"], "--c is a share of the window's area, within 0..1"),
    (["--c", "-0.1"], "--c is a share"),
    (["--method", "multidiffusion"], "argument --method: invalid choice"),
    (["--stride", "9"], "--stride must be 1..8"),
    (["--sigma", "0"], "--sigma"),
    (["--cosine_scale_1", "-1"], "--cosine_scale_1"),
    (["--attention_map_size", "3"], "--attention_map_size must divide"),
])
def test_bad_input_is_refused_before_any_model_loads(argv, message, capsys, monkeypatch):
    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")
    monkeypatch.setattr("guidance.highres_image_model.load_stable_diffusion", no_model)
    with pytest.raises(SystemExit) as exit_info:
        main.main(["--app", "highres_image", "--tiny", "--prompt", PROMPT, *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_prompt_is_required():
    with pytest.raises(SystemExit):
        load_highres_image_config(["--tiny"])


def test_defaults_are_the_official_ones():
    config = load_highres_image_config(["--prompt", PROMPT])
    assert (config.method, config.scale, config.num_inference_steps, config.guidance_scale) == ("accdiffusion", 2, 50, 7.5)
    assert (config.cosine_scale_1, config.cosine_scale_2, config.cosine_scale_3, config.sigma) == (3, 1, 1, 0.8)
    assert (config.stride, config.view_batch_size, config.c, config.shuffle) == (32, 16, 0.3, True)
    assert load_highres_image_config(["--prompt", PROMPT, "--method", "demofusion"]).shuffle is False


# --- the app ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_tokenizer():
    from transformers import CLIPTokenizer
    from configs.highres_image_config import TINY_DEFAULTS
    return CLIPTokenizer.from_pretrained(f"{TINY_DEFAULTS['sd_path']}/tokenizer")


def test_accdiffusion_runs_end_to_end_at_scale_2(tmp_path):
    folder = main.main(["--app", "highres_image", "--tiny", "--prompt", PROMPT, "--num_inference_steps", "2",
                        "--save_top_dir", str(tmp_path), "--tag", "highres"])
    from PIL import Image

    name = "snowy_mountains_under_an_orange_sky_with_a_sun"
    assert Image.open(folder / f"{name}_phase1.png").size == (64, 64)
    assert Image.open(folder / f"{name}_phase2.png").size == (128, 128)
    assert Image.open(folder / f"{name}.png").tobytes() == Image.open(folder / f"{name}_phase2.png").tobytes()
    assert Image.open(folder / f"{name}_patch_prompts.png").width >= 768
    record = json.loads((folder / "run.json").read_text())
    job = record["jobs"][0]
    assert record["app"] == "highres_image" and record["settings"]["method"] == "accdiffusion"
    assert len(job["patch_prompts"]["2"]) == len(job["windows_px"]["2"]) == 9  # 3×3 windows of 8 on 16 latent px
    for prompt in job["patch_prompts"]["2"]:
        assert set(prompt.split()) <= set(PROMPT.split())
    assert len(job["files"]) == 4


@pytest.mark.slow  # a second whole run (about 1 s of sampling, plus start-up)
def test_demofusion_at_scale_3_with_tiled_decode(tmp_path):
    folder = main.main(["--app", "highres_image", "--tiny", "--prompt", PROMPT, "--num_inference_steps", "2",
                        "--method", "demofusion", "--scale", "3", "--vae_tiling", "on",
                        "--save_top_dir", str(tmp_path), "--tag", "demofusion"])
    from PIL import Image

    name = "snowy_mountains_under_an_orange_sky_with_a_sun"
    assert [Image.open(folder / f"{name}_phase{phase}.png").size for phase in (1, 2, 3)] == [(64, 64), (128, 128),
                                                                                             (192, 192)]
    assert not (folder / f"{name}_patch_prompts.png").exists()
    assert "patch_prompts" not in json.loads((folder / "run.json").read_text())["jobs"][0]
