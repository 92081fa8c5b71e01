"""Tasks 2–3 settings: ambiguous images (visual anagrams) with DeepFloyd IF, 64 px then 256 px (the tiny IF: 32
then 128 px).

`load_ambiguous_image_config()` parses and validates everything before any model is loaded, and sets
`config.jobs`: one `{"name", "prompts"}` per anagram to make, prompt i belonging to view i.
"""

import argparse

from configs.common import (
    TINY_MODELS_DIR, add_common_args, check_prompt, frozen, parse_with_tiny_defaults, read_prompts_file,
)
from synckit.layout import AMBIGUOUS_APP, PROMPT_FIELDS, anagram_name, data_file, prompt_key
from utils.views import VIEW_MAP

TINY_DEFAULTS = dict(
    stage_1_path=str(TINY_MODELS_DIR / "IF-I-M-v1.0-tiny"),
    stage_2_path=str(TINY_MODELS_DIR / "IF-II-M-v1.0-tiny"),
    # the tiny models know only the toy world's words: its prompt file, and its first pair for --prompts
    prompts_file=data_file(AMBIGUOUS_APP, toy=True),
    prompts=["a red arrow pointing up", "a red arrow pointing right"],
    # the toy stage I draws its captions without guidance (toy-CLIP top-1 99%) and loses them with it (26% at 3,
    # 6% at 7): its unconditional model, learned from 10% of the captions dropped, is too rough to extrapolate from
    guidance_scale=1.0,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Ambiguous image (visual anagram) generation by diffusion synchronization")
    add_common_args(parser, app=AMBIGUOUS_APP)
    parser.set_defaults(num_inference_steps=30, guidance_scale=10.0)
    parser.add_argument(
        "--prompts", nargs="*", default=["a horse", "a snowy mountain village"],
        help="one prompt per view, canonical view first (with --tiny, default: the first pair of "
             f"data/{data_file(AMBIGUOUS_APP, toy=True).name})",
    )
    parser.add_argument("--views_names", nargs="*", default=["identity", "rotate_cw"], help=f"one of {sorted(VIEW_MAP)} per prompt")
    parser.add_argument("--rotate_angle", type=float, default=90.0, help="degrees, for the inner_rotate view")
    parser.add_argument("--model", default="deepfloyd", choices=["deepfloyd"])
    parser.add_argument("--stage_1_path", default="DeepFloyd/IF-I-M-v1.0", help="hub id or local folder (64 px)")
    parser.add_argument("--stage_2_path", default="DeepFloyd/IF-II-M-v1.0", help="hub id or local folder (64 → 256 px)")
    parser.add_argument("--stage2_noise_level", type=int, default=50, help="noise added to the stage-I image that conditions stage II")
    parser.add_argument(
        "--dynamic_thresholding", action="store_true",
        help="threshold x̂0 as IF's configs ask (each stage's ratio and maximum), as diffusers' IF pipeline and "
             "Visual Anagrams do; off by default, as the handout and SyncTweedies",
    )
    parser.add_argument(
        "--init_noise", choices=["independent", "canonical"], default="independent",
        help="x_T of the views: each its own noise (the original assignment's; the three sync targets differ), "
             "or views of one noise image (they then coincide for views that only move pixels)",
    )
    return parser


def load_ambiguous_image_config(argv=None):
    parser = build_parser()
    config = parse_with_tiny_defaults(parser, argv, TINY_DEFAULTS)
    unknown = [name for name in config.views_names if name not in VIEW_MAP]
    if unknown:
        parser.error(f"unknown view(s) {unknown}; choose from {sorted(VIEW_MAP)}")
    if not 0 <= config.stage2_noise_level < 1000:
        parser.error(f"--stage2_noise_level must be in 0..999, got {config.stage2_noise_level}")
    config.jobs = build_jobs(parser, config)
    for job in config.jobs:
        if len(job["prompts"]) != len(config.views_names):
            parser.error(
                f"{len(job['prompts'])} prompt(s) {job['prompts']} for {len(config.views_names)} view(s) "
                f"{config.views_names}: give exactly one prompt per view, canonical first"
            )
        for prompt in job["prompts"]:
            check_prompt(parser, prompt, "--prompts")
        if len({prompt_key(p) for p in job["prompts"]}) < len(job["prompts"]):
            parser.error(f"prompts {job['prompts']} repeat: each view's image is saved under its prompt, so they must differ")
    return frozen(config, "AmbiguousImageConfig")


def build_jobs(parser, config) -> list:
    if not config.all_prompts:
        return [{"name": anagram_name(config.prompts), "prompts": list(config.prompts)}]
    entries = read_prompts_file(parser, config)
    return [
        {"name": key, "prompts": [entry[field] for field in PROMPT_FIELDS[AMBIGUOUS_APP]]}
        for key, entry in entries.items()
    ]
