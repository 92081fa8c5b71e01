"""Flags shared by both apps, and the two-pass parse that lets `--tiny` change defaults.

`--tiny` swaps in the tiny models shipped in `tiny_models/` and a scaled-down geometry, but any flag
given explicitly on the command line still wins: we parse once to see `--tiny`, install the tiny
defaults, then parse again.
"""

import argparse
import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
TINY_MODELS_DIR = REPO_ROOT / "tiny_models"
SYNC_TARGETS = ("eps", "x0", "xt")


def add_common_args(parser: argparse.ArgumentParser, app: str) -> None:
    parser.add_argument("--app", default=app, choices=[app])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num_inference_steps", type=int)
    parser.add_argument("--guidance_scale", type=float)
    parser.add_argument(
        "--sync_target", default="x0", choices=SYNC_TARGETS,
        help="what is averaged across instances each step: eps (Visual Anagrams), "
             "x0 (SyncTweedies, default) or xt (MultiDiffusion)",
    )
    parser.add_argument(
        "--view_batch_size", type=int, default=16,
        help="instances per UNet call (each doubled for classifier-free guidance); lower it to save GPU memory",
    )
    parser.add_argument("--gpu", type=int, default=0, help="CUDA device index")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cuda", "cpu"],
        help="auto: the GPU if there is one; the real models refuse to run on CPU unless --device cpu",
    )
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float16", "float32"],
        help="auto: float16 on GPU, float32 on CPU",
    )
    parser.add_argument("--save_top_dir", default="./outputs")
    parser.add_argument("--tag", default=None, help="output folder name under --save_top_dir (default: the app)")
    parser.add_argument("--save_dir_now", action="store_true", help="add a time-stamped sub-folder, so runs never collide")
    parser.add_argument(
        "--all_prompts", action="store_true",
        help="generate every entry of --prompts_file into the handout's submission layout",
    )
    parser.add_argument("--prompts_file", type=Path, default=DATA_DIR / f"{app}_prompts.json")
    parser.add_argument("--tiny", action="store_true", help="tiny random-weight models and geometry: runs offline on a CPU in seconds")


def parse_with_tiny_defaults(parser, argv, tiny_defaults):
    """Parse `argv`; with --tiny, `tiny_defaults` replace the defaults (explicit flags still win)."""
    first_pass, _ = parser.parse_known_args(argv)
    if first_pass.tiny:
        parser.set_defaults(**tiny_defaults)
    config = parser.parse_args(argv)
    if config.tag is None:
        config.tag = config.app
    if config.view_batch_size < 1:
        parser.error(f"--view_batch_size must be at least 1, got {config.view_batch_size}")
    if config.num_inference_steps < 1:
        parser.error(f"--num_inference_steps must be at least 1, got {config.num_inference_steps}")
    return config


def read_prompts_file(parser, path: Path) -> dict:
    """The course's prompt data file, or a clear error if it is missing or not JSON."""
    if not path.is_file():
        parser.error(f"prompt data file {path} does not exist; pass --prompts_file PATH (the course ships data/*.json)")
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        parser.error(f"prompt data file {path} is not valid JSON: {err}")
    if not isinstance(entries, dict) or not entries:
        parser.error(f"prompt data file {path} must be a non-empty JSON object keyed by prompt name")
    return entries


def check_prompt(parser, prompt: str, flag: str) -> None:
    if not prompt or not prompt.strip():
        parser.error(f"{flag} is empty; give the text prompt in quotes, e.g. {flag} \"a painting of a horse\"")


def prompt_key(prompt: str) -> str:
    """File-name form of a prompt used by the handout and eval.py: spaces become underscores."""
    return prompt.strip().replace(" ", "_")
