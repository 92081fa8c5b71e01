"""What the trained tiny models show: every lesson of the assignment, measured on the toy world with the kit's own code.

    python scripts/toy_world_report.py            # every figure (a few minutes on 2 cores)
    python scripts/toy_world_report.py --json r.json

Figures (the tiny models in tiny_models/, the --tiny geometry, the course's step counts, the toy CLIP as judge):
  - toy CLIP: top-1 caption retrieval on held-out toy pictures, per family (chance: 1 in 36 scenes, 1 in 39 objects);
  - tiny SD: one 64-px image per scene caption, toy-CLIP top-1 among all scene captions on its own prompt;
  - wide image: the seam ratio at the 64-px tile borders, synchronized (41 windows, stride 1 latent) against a
    baseline of independent windows (the same run with stride 8 latents: 6 windows that do not overlap, so
    nothing ties them together, each decoded as a picture of its own), mean over the toy panoramas;
  - anagram (identity + rotate_cw): over seeds and the toy pairs, the share of (seed, view) pairs where a view
    scores higher toy-CLIP for its own prompt than for the other view's;
  - Task 3: how far the eps, x0 and xt anagrams are apart at a 45° inner rotation (mean |Δ| in grey levels).
"""

import argparse
import dataclasses
import json
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from configs.ambiguous_image_config import load_ambiguous_image_config
from configs.wide_image_config import load_wide_image_config
from eval import load_clip
from guidance.ambiguous_image_model import AmbiguousImageModel
from guidance.wide_image_model import WideImageModel
from synckit import toyworld
from synckit.layout import AMBIGUOUS_APP, PROMPT_FIELDS, SYNC_TARGETS, WIDE_APP, data_file, read_prompts
from synckit.seams import decode_windows_apart, seam_ratio
from utils.image_utils import side_by_side

TILE = 64  # px: one window of the tiny panorama, the baseline's tile
HELD_OUT_SEED = 1000  # pictures no trainer drew (the trainers' held-out streams are [seed, 1])
SINGLE_IMAGES = 50
ANAGRAM_SEEDS = range(1, 11)
TASK3_ANGLE = 45


# --------------------------------------------------------------------------------------------
# measures
# --------------------------------------------------------------------------------------------

def top1(scorer, images: list, prompts: list, candidates: list) -> float:
    """Share of images whose most similar candidate caption is their own prompt."""
    best = (scorer.image_features(images) @ scorer.text_features(list(candidates)).T).argmax(dim=1)
    return float(np.mean([candidates[index] == prompt for index, prompt in zip(best.tolist(), prompts)]))


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------

def toy_prompts(app: str) -> list:
    """The prompts of the toy data file that `main.py --tiny` reads: one string per panorama, a pair per anagram."""
    fields = PROMPT_FIELDS[app]
    entries = read_prompts(app, data_file(app, toy=True)).values()
    return [entry[fields[0]] if len(fields) == 1 else tuple(entry[field] for field in fields) for entry in entries]


def clip_retrieval(scorer, count: int = 200) -> dict:
    rng = np.random.default_rng(HELD_OUT_SEED)
    scenes = [toyworld.random_scene_crop(rng) for _ in range(count)]
    objects = [toyworld.random_object(rng, 256) for _ in range(count)]
    return {family: top1(scorer, [image for image, _ in pictures], [caption for _, caption in pictures], captions)
            for family, pictures, captions in (("scenes", scenes, toyworld.SCENE_CAPTIONS),
                                               ("objects", objects, toyworld.OBJECT_CAPTIONS))}


def single_images(scorer, count: int = SINGLE_IMAGES, steps=None) -> float:
    """Tiny SD at one window (64 px): each scene caption in turn, a new seed each."""
    prompts = [toyworld.SCENE_CAPTIONS[index % len(toyworld.SCENE_CAPTIONS)] for index in range(count)]
    config = load_wide_image_config(["--tiny", "--prompt", prompts[0], "--panorama_width", str(TILE), "--eval_pos", "0",
                                     *steps_flags(steps)])
    model = WideImageModel(config)
    images = []
    for seed, prompt in enumerate(tqdm(prompts, desc="single images"), start=1):
        model.config = dataclasses.replace(config, seed=seed)
        images.append(model(prompt, progress=False))
    return top1(scorer, images, prompts, toyworld.SCENE_CAPTIONS)


def wide_seams(prompts: list, seed: int = 1, steps=None) -> tuple:
    """({run: mean seam ratio over `prompts`}, {run: panorama of the first prompt}) of the synchronized panorama and
    of independent windows. One panorama's five borders are few: where a trained model happens to draw a peak's
    flank or a sun's rim, a border column steps far without any seam, hence the mean over the toy panoramas."""
    ratios, first = {}, {}
    for prompt in prompts:
        for name, stride in (("synchronized", 1), ("independent windows", 8)):
            config = load_wide_image_config(["--tiny", "--prompt", prompt, "--seed", str(seed),
                                             "--window_stride", str(stride), *steps_flags(steps)])
            model = WideImageModel(config)
            if stride == config.latent_instance_size:
                decode_windows_apart(model)
            panorama = model(prompt, progress=False)
            ratios.setdefault(name, []).append(seam_ratio(panorama, TILE))
            first.setdefault(name, panorama)
    return {name: float(np.mean(values)) for name, values in ratios.items()}, first


def anagram_preference(scorer, seeds=ANAGRAM_SEEDS, steps=None) -> tuple:
    """(share of (seed, pair, view) where the view is closer to its own prompt than to the other view's, the views of
    the first anagram made)."""
    pairs = toy_prompts(AMBIGUOUS_APP)
    config = load_ambiguous_image_config(["--tiny", "--prompts", *pairs[0], *steps_flags(steps)])
    model = AmbiguousImageModel(config)
    wins, first = [], None
    for seed in tqdm(seeds, desc="anagrams"):
        model.config = dataclasses.replace(config, seed=seed)
        for pair in pairs:
            views = model(list(pair), progress=False)
            first = first or views
            similarity = scorer.similarity(views, list(pair))  # [view, prompt]
            wins += [bool(similarity[view, view] > similarity[view, 1 - view]) for view in range(2)]
    return float(np.mean(wins)), first


def task3_differences(seed: int = 1, steps=None) -> dict:
    """Mean |Δ| in grey levels between the canonical views the three sync targets make, 45° inner rotation."""
    pair = toy_prompts(AMBIGUOUS_APP)[0]
    config = load_ambiguous_image_config(["--tiny", "--prompts", *pair, "--views_names", "identity", "inner_rotate",
                                          "--rotate_angle", str(TASK3_ANGLE), "--seed", str(seed), *steps_flags(steps)])
    model = AmbiguousImageModel(config)
    canonical = {target: np.asarray(model(list(pair), progress=False, sync_target=target)[0], dtype=np.float64)
                 for target in SYNC_TARGETS}
    return {f"{a} vs {b}": float(np.abs(canonical[a] - canonical[b]).mean()) for a, b in combinations(SYNC_TARGETS, 2)}


def steps_flags(steps) -> list:
    return [] if steps is None else ["--num_inference_steps", str(steps)]


def save_pictures(folder: Path, panoramas: dict, anagram: list) -> None:
    """The README's pictures: the synchronized panorama above the independent windows, 2x (nearest neighbour), and
    the first anagram's two views side by side."""
    folder.mkdir(parents=True, exist_ok=True)
    first, second = panoramas.values()
    pair = side_by_side([first.rotate(90, expand=True), second.rotate(90, expand=True)]).rotate(-90, expand=True)
    pair.resize((pair.width * 2, pair.height * 2), Image.NEAREST).save(folder / "toy_panorama_sync_vs_independent.png")
    side_by_side(anagram).save(folder / "toy_anagram.png")


def report(steps=None, single_count: int = SINGLE_IMAGES, seeds=ANAGRAM_SEEDS, pictures=None) -> dict:
    scorer = load_clip("tiny")
    start = time.perf_counter()
    seams, panoramas = wide_seams(toy_prompts(WIDE_APP), steps=steps)
    preferred, anagram = anagram_preference(scorer, seeds, steps)
    if pictures:
        save_pictures(pictures, panoramas, anagram)
    figures = {
        "clip_retrieval": clip_retrieval(scorer),
        "sd_single_image_top1": single_images(scorer, single_count, steps),
        "seam_ratio": seams,
        "anagram_own_prompt_preferred": preferred,
        "task3_mean_abs_diff": task3_differences(steps=steps),
    }
    figures["seconds"] = time.perf_counter() - start
    figures["torch_threads"] = torch.get_num_threads()
    return figures


def format_report(figures: dict) -> str:
    retrieval = figures["clip_retrieval"]
    seams = figures["seam_ratio"]
    task3 = ", ".join(f"{pair} {value:.1f}" for pair, value in figures["task3_mean_abs_diff"].items())
    return "\n".join([
        f"toy CLIP, held-out top-1 caption retrieval: scenes {retrieval['scenes']:.1%} (chance {1 / len(toyworld.SCENE_CAPTIONS):.1%}), "
        f"objects {retrieval['objects']:.1%} (chance {1 / len(toyworld.OBJECT_CAPTIONS):.1%})",
        f"tiny SD, one 64-px image per prompt: toy-CLIP top-1 on its own prompt {figures['sd_single_image_top1']:.1%}",
        f"wide image, seam ratio at the 64-px tile borders (mean over the toy panoramas): synchronized "
        f"{seams['synchronized']:.2f}, independent windows {seams['independent windows']:.2f}",
        f"anagram (identity + rotate_cw): a view prefers its own prompt in {figures['anagram_own_prompt_preferred']:.1%} "
        "of (seed, pair, view)",
        f"Task 3 at {TASK3_ANGLE}° inner rotation, mean |difference| of the canonical views (grey levels): {task3}",
        f"({figures['seconds']:.0f} s, {figures['torch_threads']} torch threads)",
    ])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--steps", type=int, help="sampling steps of every run (default: the course's)")
    parser.add_argument("--pictures", type=Path, help="also save the README's pictures into this folder (e.g. docs)")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    figures = report(args.steps, pictures=args.pictures)
    print(format_report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
