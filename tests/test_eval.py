"""eval.py: which files are scored under which prompt, the score's arithmetic (checked against the CLIP
similarities computed here), Visual Anagrams' metrics by hand, and errors that come before the model loads.

The tiny CLIP has random weights: its numbers mean nothing, but they are real CLIP computations through the
same open_clip code path, so the arithmetic on top of them can be checked exactly.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import eval as clip_eval

REPO = Path(__file__).resolve().parent.parent
WIDE = json.loads((REPO / "data" / "wide_image_prompts.json").read_text())
PAIRS = json.loads((REPO / "data" / "ambiguous_image_prompts.json").read_text())
CANYON, CITY = list(WIDE)[:2]  # file-name keys
CANYON_PROMPT, CITY_PROMPT = WIDE[CANYON]["prompt"], WIDE[CITY]["prompt"]
TOY_WIDE = json.loads((REPO / "data" / "toy_wide_image_prompts.json").read_text())  # what --clip_model tiny reads
TOY_KEY = next(iter(TOY_WIDE))
TOY_POS = TOY_WIDE[TOY_KEY]["eval_pos"]


@pytest.fixture(scope="module")
def scorer():
    return clip_eval.load_clip("tiny", device="cpu")


def noise_png(path: Path, seed: int, size=(48, 48)) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def rgb(path: Path) -> Image.Image:
    return Image.open(path).convert("RGB")


def wide_folder(folder: Path, crops: dict) -> Path:
    """The submission layout: per prompt key its full panorama and crops `<key>_<pos>.png`, plus the
    files a run leaves next to them."""
    folder.mkdir()
    for seed, (key, positions) in enumerate(crops.items()):
        noise_png(folder / f"{key}.png", 100 + seed, size=(192, 32))
        for pos in positions:
            noise_png(folder / f"{key}_{pos}.png", seed * 1000 + pos)
    for junk in ("view_0.png", "final.png", f"{CANYON}-x_side_by_side.png", "._hidden.png"):
        noise_png(folder / junk, 7)
    (folder / "run.json").write_text("{}")
    (folder / "anim.gif").write_bytes(b"GIF89a")
    return folder


# --------------------------------------------------------------------------------------------
# file names -> prompts (no model)
# --------------------------------------------------------------------------------------------

def test_wide_crops_are_grouped_by_prompt_and_panorama_and_extras_are_skipped(tmp_path):
    folder = wide_folder(tmp_path / "wide", {CANYON: [2535, 646], CITY: [744]})
    images = clip_eval.collect_images(folder, "wide_images")
    assert list(images) == [CANYON_PROMPT, CITY_PROMPT]  # data-file order
    assert sorted(p.name for p in images[CANYON_PROMPT]) == [f"{CANYON}_2535.png", f"{CANYON}_646.png"]
    assert [p.name for p in images[CITY_PROMPT]] == [f"{CITY}_744.png"]  # not the panorama {CITY}.png


def test_ambiguous_views_are_named_after_their_prompts(tmp_path):
    first = next(iter(PAIRS.values()))
    for seed, prompt in enumerate((first["canonical_prompt"], first["instance_prompt"])):
        noise_png(tmp_path / f"{prompt.replace(' ', '_')}.png", seed)
    noise_png(tmp_path / f"{next(iter(PAIRS))}_side_by_side.png", 9)
    images = clip_eval.collect_images(tmp_path, "ambiguous_images")
    assert {prompt: [p.name for p in paths] for prompt, paths in images.items()} == {
        first["canonical_prompt"]: [f"{first['canonical_prompt'].replace(' ', '_')}.png"],
        first["instance_prompt"]: [f"{first['instance_prompt'].replace(' ', '_')}.png"],
    }


@pytest.mark.parametrize("case, message", [
    ("empty", "has no PNG images"),
    ("missing", "is not a folder"),
    ("only_panorama", "has no images to score"),
    ("typo", f"did you mean {CANYON}_646.png?"),
    ("no_position", "not named after a prompt"),
    ("broken", "cannot read 1 image"),
])
def test_bad_folders_stop_with_one_line_before_the_model_loads(tmp_path, monkeypatch, case, message):
    folder = tmp_path / "wide"
    if case != "missing":
        folder.mkdir()
    if case == "only_panorama":
        noise_png(folder / f"{CANYON}.png", 0)
    if case == "typo":
        noise_png(folder / f"{CANYON[:-1]}_646.png", 0)
    if case == "no_position":
        noise_png(folder / f"{CANYON}_646 (1).png", 0)
    if case == "broken":
        (folder / f"{CANYON}_646.png").write_bytes(noise_png(tmp_path / "x.png", 0).read_bytes()[:200])

    def no_model(*args, **kwargs):
        raise AssertionError("the CLIP model was loaded before the input check")

    monkeypatch.setattr(clip_eval, "load_clip", no_model)
    with pytest.raises(SystemExit) as exit_info:
        clip_eval.main(["--fdir1", str(folder), "--app", "wide_images", "--clip_model", "tiny",
                        "--prompts_file", str(REPO / "data" / "wide_image_prompts.json")])
    text = str(exit_info.value.code)
    assert text.startswith("error: ") and message in text and "\n" not in text
    assert not (folder / "eval.json").exists()


def stop_before_clip(monkeypatch):
    def stop(*args, **kwargs):
        raise clip_eval.ClipLoadError("stopped before the model loads")

    monkeypatch.setattr(clip_eval, "load_clip", stop)


def test_the_tiny_clip_scores_the_toy_prompts_by_default_and_no_warning_for_them(tmp_path, monkeypatch, capsys):
    folder = wide_folder(tmp_path / "wide", {TOY_KEY: TOY_POS[:2]})
    stop_before_clip(monkeypatch)
    with pytest.raises(SystemExit, match="stopped before the model loads"):  # the folder's names were all found
        clip_eval.main(["--fdir1", str(folder), "--app", "wide_images", "--clip_model", "tiny"])
    assert capsys.readouterr().err == ""
    with pytest.raises(SystemExit, match="not named after a prompt of .*data/wide_image_prompts.json"):
        clip_eval.main(["--fdir1", str(folder), "--app", "wide_images"])  # the course's CLIP, the course's prompts


def test_the_tiny_clip_warns_in_one_line_when_a_scored_prompt_has_other_words(tmp_path, monkeypatch, capsys):
    folder = wide_folder(tmp_path / "wide", {CANYON: [2535]})
    stop_before_clip(monkeypatch)
    with pytest.raises(SystemExit):
        clip_eval.main(["--fdir1", str(folder), "--app", "wide_images", "--clip_model", "tiny",
                        "--prompts_file", str(REPO / "data" / "wide_image_prompts.json")])
    warning, = capsys.readouterr().err.splitlines()
    assert warning.startswith("warning: the tiny models know only the toy world's words (")
    assert '"sweeping", "panoramic", "view", "of", "grand", "canyon", "at", "sunset" are not among them' in warning
    assert "scores are only meaningful for toy prompts; see data/toy_wide_image_prompts.json" in warning


def test_unknown_prompt_file_entry_format_is_reported(tmp_path):
    bad = tmp_path / "prompts.json"
    bad.write_text(json.dumps({"x": {"canonical_prompt": "a", "instance_prompt": "b"}}))
    with pytest.raises(clip_eval.EvalInputError, match="must map names to"):
        clip_eval.collect_images(tmp_path, "wide_images", prompts_file=bad)


# --------------------------------------------------------------------------------------------
# the score
# --------------------------------------------------------------------------------------------

def test_similarity_is_the_raw_cosine_of_clip_features(scorer, tmp_path):
    image = rgb(noise_png(tmp_path / "a.png", 1))
    with torch.no_grad():
        image_features = scorer.model.encode_image(scorer.preprocess(image)[None])
        text_features = scorer.model.encode_text(scorer.tokenizer([CITY_PROMPT, CANYON_PROMPT]))
    expected = F.cosine_similarity(image_features, text_features)  # no ×100, no clamping
    assert torch.allclose(scorer.similarity([image], [CITY_PROMPT, CANYON_PROMPT])[0], expected, atol=1e-6)


def test_score_is_the_mean_of_per_prompt_means(scorer, tmp_path):
    crops = {CANYON: [2535, 646, 2343], CITY: [744]}
    folder = wide_folder(tmp_path / "wide", crops)
    result = clip_eval.evaluate_folder(folder, "wide_images", scorer)

    expected = {}
    for key, prompt in ((CANYON, CANYON_PROMPT), (CITY, CITY_PROMPT)):
        images = [rgb(folder / f"{key}_{pos}.png") for pos in crops[key]]
        expected[prompt] = scorer.similarity(images, [prompt])[:, 0].mean().item()
        assert result["prompts"][prompt]["mean"] == pytest.approx(expected[prompt], abs=1e-5)
        assert sorted(result["prompts"][prompt]["images"]) == sorted(f"{key}_{pos}.png" for pos in crops[key])
    # every prompt counts once: the city's single crop weighs as much as the canyon's three
    assert result["score"] == pytest.approx((expected[CANYON_PROMPT] + expected[CITY_PROMPT]) / 2, abs=1e-5)
    assert result["num_images"] == 4 and result["clip_model"] == "tiny" and result["source_dir"] == str(folder)
    assert f"{CITY}.png" in result["ignored"] and "view_0.png" in result["ignored"]


def test_a_duplicated_image_does_not_change_the_prompt_mean(scorer, tmp_path):
    single = wide_folder(tmp_path / "single", {CITY: [744]})
    doubled = wide_folder(tmp_path / "doubled", {CITY: [744]})
    (doubled / f"{CITY}_745.png").write_bytes((doubled / f"{CITY}_744.png").read_bytes())
    once = clip_eval.evaluate_folder(single, "wide_images", scorer)
    twice = clip_eval.evaluate_folder(doubled, "wide_images", scorer)
    assert twice["num_images"] == 2
    assert twice["prompts"][CITY_PROMPT]["mean"] == pytest.approx(once["prompts"][CITY_PROMPT]["mean"], abs=1e-6)


# --------------------------------------------------------------------------------------------
# Visual Anagrams' alignment and concealment
# --------------------------------------------------------------------------------------------

def test_anagram_metrics_by_hand():
    similarity = torch.tensor([[0.30, 0.20], [0.10, 0.25]])
    alignment, concealment = clip_eval.anagram_metrics(similarity, logit_scale=10.0)
    assert alignment == pytest.approx(0.25)  # the weaker view's own-prompt similarity
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731  a 2-way softmax is a sigmoid of the logit gap
    by_view = (sigmoid(3.0 - 2.0) + sigmoid(2.5 - 1.0)) / 2  # rows: each view against both prompts
    by_prompt = (sigmoid(3.0 - 1.0) + sigmoid(2.5 - 2.0)) / 2  # columns: each prompt against both views
    assert concealment == pytest.approx((by_view + by_prompt) / 2, abs=1e-6)
    # CLIP cannot tell the views apart -> chance level
    assert clip_eval.anagram_metrics(torch.full((2, 2), 0.3), 100.0)[1] == pytest.approx(0.5)


def test_ambiguous_folder_reports_only_complete_pairs(scorer, tmp_path):
    (first_key, first), (_, second) = list(PAIRS.items())[:2]
    views = [first["canonical_prompt"], first["instance_prompt"], second["canonical_prompt"]]  # second pair incomplete
    for seed, prompt in enumerate(views):
        noise_png(tmp_path / f"{prompt.replace(' ', '_')}.png", seed)
    result = clip_eval.evaluate_folder(tmp_path, "ambiguous_images", scorer)

    assert list(result["pairs"]) == [first_key]
    images = [rgb(tmp_path / f"{prompt.replace(' ', '_')}.png") for prompt in views[:2]]
    matrix = scorer.similarity(images, views[:2])  # row i: the view made for prompt i
    pair = result["pairs"][first_key]
    assert np.allclose(pair["similarity"], matrix.numpy(), atol=1e-5)
    alignment, concealment = clip_eval.anagram_metrics(matrix, scorer.logit_scale)
    assert pair["alignment"] == pytest.approx(alignment, abs=1e-5) == result["alignment"]
    assert pair["concealment"] == pytest.approx(concealment, abs=1e-5) == result["concealment"]
    assert result["score"] == pytest.approx(np.mean([e["mean"] for e in result["prompts"].values()]))
    assert len(result["prompts"]) == 3


# --------------------------------------------------------------------------------------------
# loading, the command line, and the shipped tiny model
# --------------------------------------------------------------------------------------------

def test_missing_real_weights_offline_give_an_actionable_error(monkeypatch):
    import open_clip

    calls = []

    def offline(name, pretrained=None, **kwargs):
        calls.append((name, pretrained))
        raise RuntimeError("Failed to download weights for tag 'openai': no network")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", offline)
    with pytest.raises(clip_eval.ClipLoadError, match="HF_HOME.*--clip_model tiny"):
        clip_eval.load_clip("ViT-B-32")
    assert calls == [("ViT-B-32-quickgelu", "openai")]  # QuickGELU, as the OpenAI weights were trained


def test_main_writes_eval_json(scorer, tmp_path, monkeypatch, capsys):
    folder = wide_folder(tmp_path / "wide", {TOY_KEY: TOY_POS[:1]})
    monkeypatch.setattr(clip_eval, "load_clip", lambda name, device: scorer)  # the module's tiny model, loaded once
    returned = clip_eval.main(["--fdir1", str(folder), "--app", "wide_images", "--clip_model", "tiny", "--device", "cpu"])
    written = json.loads((folder / "eval.json").read_text())
    assert written == returned
    assert {"source_dir", "score", "prompts", "clip_model", "num_images"} <= written.keys()
    assert f"{written['score']:.4f}" in capsys.readouterr().out


@pytest.mark.slow  # a fresh interpreter imports torch + open_clip: ~5 s on 2 cores
def test_cli_end_to_end(tmp_path):
    folder = wide_folder(tmp_path / "wide", {TOY_KEY: TOY_POS[:2]})
    run = subprocess.run(
        [sys.executable, str(REPO / "eval.py"), "--fdir1", str(folder), "--app", "wide_images", "--clip_model", "tiny"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads((folder / "eval.json").read_text())
    assert result["num_images"] == 2 and -1 <= result["score"] <= 1
    assert "CLIP score" in run.stdout


def test_the_shipped_tiny_clip_is_trained_on_the_toy_world(scorer):
    """scripts/train_toy_models.py --models clip: it names held-out toy pictures' captions, which a random CLIP (the
    stand-in it replaced) does at chance, 1 in 36 scenes and 1 in 39 objects."""
    from synckit import toyworld

    rng = np.random.default_rng(2026)
    for captions, pictures in ((toyworld.SCENE_CAPTIONS, [toyworld.random_scene_crop(rng) for _ in range(60)]),
                               (toyworld.OBJECT_CAPTIONS, [toyworld.random_object(rng, 256) for _ in range(60)])):
        best = scorer.similarity([image for image, _ in pictures], list(captions)).argmax(dim=1)
        correct = [captions[index] == caption for index, (_, caption) in zip(best.tolist(), pictures)]
        assert np.mean(correct) >= 0.9  # measured: 100% of 200 per family
