"""synckit/toyworld.py and scripts/train_toy_models.py: pictures fixed by a seed, captions true of their pixels,
quarter turns that turn one object caption into another, and a CLIP that trains and loads as eval.py loads it."""

import dataclasses
import importlib
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pytest
import torch

from synckit import toyworld
from synckit.layout import AMBIGUOUS_APP, WIDE_APP, data_file, read_prompts

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
CLOCKWISE = -1  # np.rot90 turns counter-clockwise for positive k


def pixels(image) -> np.ndarray:
    return np.asarray(image).astype(int)


def glyph_mask(obj, size=64) -> np.ndarray:
    """Where the object's picture differs from its plain background (anti-aliased edges included)."""
    return np.abs(pixels(toyworld.draw_object(obj, size)) - np.array(obj.background)).sum(axis=-1) > 0


# --------------------------------------------------------------------------------------------
# determinism and sizes
# --------------------------------------------------------------------------------------------

def test_a_seed_fixes_the_pictures_and_captions():
    def draw(seed):
        rng = np.random.default_rng(seed)
        crop, crop_caption = toyworld.random_scene_crop(rng)
        strip = toyworld.draw_scene(toyworld.sample_scene(rng))
        obj, obj_caption = toyworld.random_object(rng, 64)
        return [pixels(crop), pixels(strip), pixels(obj)], [crop_caption, obj_caption]

    (first_images, first_captions), (again_images, again_captions) = draw(3), draw(3)
    assert first_captions == again_captions
    assert all(np.array_equal(a, b) for a, b in zip(first_images, again_images))
    other_images, _ = draw(4)
    assert not any(np.array_equal(a, b) for a, b in zip(first_images, other_images))


def test_sizes():
    rng = np.random.default_rng(0)
    assert toyworld.draw_scene(toyworld.sample_scene(rng)).size == (toyworld.SCENE_WIDTH, toyworld.SCENE_HEIGHT) == (384, 64)
    crop, _ = toyworld.random_scene_crop(rng)
    assert crop.size == (64, 64) and crop.mode == "RGB"
    for size in (64, 256):
        image, _ = toyworld.random_object(rng, size)
        assert image.size == (size, size) and image.mode == "RGB"


# --------------------------------------------------------------------------------------------
# captions true of the pixels
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sky", toyworld.SKIES)
def test_the_sky_is_the_colour_its_caption_names(sky):
    rng = np.random.default_rng(1)
    for land in toyworld.LANDS:
        scene = toyworld.sample_scene(rng, sky=sky, land=land)
        red, green, blue = np.median(pixels(toyworld.draw_scene(scene))[:4].reshape(-1, 3), axis=0)  # the top rows
        assert f"under {'an' if sky == 'orange' else 'a'} {sky} sky" in toyworld.scene_caption(scene)
        if sky == "blue":
            assert blue > red + 60 and blue > 150
        elif sky == "orange":
            assert red > blue + 100 and red > 180
        else:
            assert max(red, green, blue) < 60


def test_a_crop_names_the_sun_or_moon_exactly_when_it_shows_it():
    rng = np.random.default_rng(2)
    named = 0
    for _ in range(60):
        crop, caption = toyworld.random_scene_crop(rng)
        sky = next(sky for sky in toyworld.SKIES if f" {sky} sky" in caption)
        light = (pixels(crop) == toyworld.LIGHT_COLOURS[sky]).all(axis=-1)
        shows_light = light.any()
        assert shows_light == (" with a " in caption), caption
        assert not light[:, [0, -1]].any(), "the crop cuts the light"
        named += shows_light
    assert 15 < named < 45  # both forms are common


def test_a_crop_that_cuts_the_light_has_no_caption():
    scene = toyworld.sample_scene(np.random.default_rng(0), light=True)
    cut_left = scene.light_x - 64  # the light's centre on the crop's last column
    assert toyworld.light_visibility(scene, cut_left) == "cut"
    with pytest.raises(ValueError, match="cuts"):
        toyworld.scene_caption(scene, cut_left)


def test_every_crop_of_a_village_holds_a_whole_house():
    """A whole roof in every window: the caption 'a village' is true wherever the tiny SD's window falls."""
    rng = np.random.default_rng(3)
    roofs = [np.array(rgb) for rgb in ((170, 50, 40), (120, 70, 50))]
    for _ in range(5):
        strip = pixels(toyworld.draw_scene(toyworld.sample_scene(rng, sky="blue", land="a village")))
        roof_columns = np.zeros(toyworld.SCENE_WIDTH + 2, bool)  # a column of background on each side
        for roof in roofs:
            roof_columns[1:-1] |= (strip == roof).all(axis=-1).any(axis=0)
        edges = np.flatnonzero(np.diff(roof_columns.astype(int)))  # each roof's first column and one past its last
        spans = list(zip(edges[::2], edges[1::2]))
        for left in range(toyworld.SCENE_WIDTH - toyworld.CROP_SIZE + 1):
            assert any(left <= first and last <= left + toyworld.CROP_SIZE for first, last in spans), left


# --------------------------------------------------------------------------------------------
# objects: orientation and quarter turns
# --------------------------------------------------------------------------------------------

def test_glyphs_point_the_way_their_captions_say():
    rng = np.random.default_rng(4)
    mask = {shape: glyph_mask(toyworld.sample_object(rng, shape)) for shape in toyworld.SHAPES}
    top, bottom = slice(0, 32), slice(32, 64)
    # an arrow's head is its wide part, a triangle's tip its narrow one
    assert mask["arrow pointing up"][top].sum() > 1.2 * mask["arrow pointing up"][bottom].sum()
    assert mask["triangle pointing up"][bottom].sum() > 1.2 * mask["triangle pointing up"][top].sum()
    assert mask["arrow pointing right"][:, bottom].sum() > 1.2 * mask["arrow pointing right"][:, top].sum()
    assert mask["triangle pointing left"][:, bottom].sum() > 1.2 * mask["triangle pointing left"][:, top].sum()
    # N's long straight strokes stand upright (its fullest column beats its fullest row), Z's lie
    n_columns, n_rows = mask["letter N"].sum(axis=0).max(), mask["letter N"].sum(axis=1).max()
    z_columns, z_rows = mask["letter Z"].sum(axis=0).max(), mask["letter Z"].sum(axis=1).max()
    assert n_columns > 1.3 * n_rows and z_rows > 1.3 * z_columns


def test_an_arrow_pointing_up_turned_clockwise_is_an_arrow_pointing_right():
    up = toyworld.sample_object(np.random.default_rng(5), "arrow pointing up", "red")
    right = dataclasses.replace(up, shape="arrow pointing right")
    for size in (64, 256):
        turned = np.rot90(pixels(toyworld.draw_object(up, size)), k=CLOCKWISE)
        assert np.array_equal(turned, pixels(toyworld.draw_object(right, size)))
    assert toyworld.turned_cw(up) == right


def test_every_turn_with_a_caption_is_an_exact_pixel_rotation():
    rng = np.random.default_rng(6)
    for shape in toyworld.SHAPES:
        obj = toyworld.sample_object(rng, shape)
        turned = toyworld.turned_cw(obj)
        if turned is None:
            assert shape == "letter C"  # C turned is ∩, which has no caption
            continue
        expected = np.rot90(pixels(toyworld.draw_object(obj, 64)), k=CLOCKWISE)
        assert np.array_equal(pixels(toyworld.draw_object(turned, 64)), expected), shape


def test_glyphs_fit_inside_the_inner_rotate_disk():
    """Turning only inner_rotate's disk (radius 3/8 of the side) then turns the whole glyph."""
    rng = np.random.default_rng(7)
    centres = np.arange(64) - 32 + 0.5
    outside_disk = centres[:, None] ** 2 + centres[None, :] ** 2 >= (64 * 3 / 8) ** 2
    for shape in toyworld.SHAPES:
        biggest = dataclasses.replace(toyworld.sample_object(rng, shape), scale=toyworld.GLYPH_SCALES[1])
        assert not (glyph_mask(biggest) & outside_disk).any(), shape


def test_the_toy_prompt_files_are_captions_and_their_anagram_pairs_quarter_turns():
    """data/toy_*_prompts.json, the toy world's suggested prompts (what --tiny runs): panoramas are whole-strip scene
    captions; each anagram pair is an object's caption and that of the object turned 90° clockwise, which rotate_cw
    does to the whole picture and inner_rotate (at its default 90°) to the disk that holds the glyph."""
    panoramas = [entry["prompt"] for entry in read_prompts(WIDE_APP, data_file(WIDE_APP, toy=True)).values()]
    assert 4 <= len(panoramas) == len(set(panoramas)) <= 6 and set(panoramas) <= set(toyworld.SCENE_CAPTIONS)
    turned = {}  # object caption -> the caption of the object turned a quarter clockwise (None: no caption)
    for shape, colour in product(toyworld.SHAPES, toyworld.OBJECT_COLOURS):
        obj = toyworld.sample_object(np.random.default_rng(0), shape, colour)
        quarter = toyworld.turned_cw(obj)
        turned[toyworld.object_caption(obj)] = quarter and toyworld.object_caption(quarter)
    assert set(turned) == set(toyworld.OBJECT_CAPTIONS)
    pairs = read_prompts(AMBIGUOUS_APP, data_file(AMBIGUOUS_APP, toy=True)).values()
    prompts = [pair[field] for pair in pairs for field in ("canonical_prompt", "instance_prompt")]
    assert len(pairs) >= 3 and len(set(prompts)) == len(prompts) and set(prompts) <= set(toyworld.OBJECT_CAPTIONS)
    for pair in pairs:
        assert turned[pair["canonical_prompt"]] == pair["instance_prompt"], pair


# --------------------------------------------------------------------------------------------
# vocabulary
# --------------------------------------------------------------------------------------------

def test_caption_sets_are_small_distinct_and_in_the_vocabulary():
    for captions in (toyworld.SCENE_CAPTIONS, toyworld.OBJECT_CAPTIONS):
        assert 10 <= len(set(captions)) == len(captions) <= 40
        assert all(toyworld.unknown_words(caption) == [] for caption in captions)


def test_unknown_words():
    assert toyworld.unknown_words("A red arrow pointing UP!") == []
    assert toyworld.unknown_words("a purple arrow, a purple cat") == ["purple", "cat"]
    assert toyworld.unknown_words("An oil painting of a horse") == ["oil", "painting", "of", "horse"]


# --------------------------------------------------------------------------------------------
# the CLIP trainer
# --------------------------------------------------------------------------------------------

def test_the_clip_trainer_writes_a_clip_that_open_clip_loads(tmp_path, capsys):
    import open_clip

    sys.path.insert(0, str(SCRIPTS))
    try:
        trainer = importlib.import_module("train_toy_models")
    finally:
        sys.path.remove(str(SCRIPTS))
    trainer.main(["--models", "clip", "--steps", "2", "--batch", "8", "--out", str(tmp_path)])
    assert "held-out top-1 caption retrieval" in capsys.readouterr().out

    source = f"local-dir:{tmp_path / trainer.clip.FOLDER}"
    model, _, preprocess = open_clip.create_model_and_transforms(source)
    tokenizer = open_clip.get_tokenizer(source)
    image, _ = toyworld.random_object(np.random.default_rng(0), 256)
    with torch.inference_mode():
        image_features = model.encode_image(preprocess(image)[None])
        text_features = model.encode_text(tokenizer(["a red arrow pointing up", "a red arrow pointing down"]))
    embed_dim = trainer.clip.clip_config()["model_cfg"]["embed_dim"]
    assert image_features.shape == (1, embed_dim) and text_features.shape == (2, embed_dim)
    assert torch.isfinite(image_features).all() and torch.isfinite(text_features).all()
    assert not torch.allclose(text_features[0], text_features[1])  # one toy word apart is apart
