"""Task 1 settings: a 512×3072 panorama from 41 overlapping 512×512 windows of Stable Diffusion 2.

`load_wide_image_config()` parses and validates everything before any model is loaded, and sets
`config.jobs`: one `{"name", "prompt", "eval_pos"}` per image to make; with --regions the one
`{"name", "layout", "prompts", "masks"}` of its layout (the prompts in instance order, background first).
"""

import argparse
import math
from pathlib import Path

from configs.common import (
    TINY_MODELS_DIR, add_common_args, check_prompt, frozen, parse_with_tiny_defaults, read_prompts_file,
)
from synckit.layout import WIDE_APP, data_file, prompt_key

# `eval_pos` values are x offsets in pixels for the course geometry (512-px windows); a run with
# smaller windows (--tiny) crops at the same relative place.
EVAL_POS_WINDOW = 512
DEFAULT_EVAL_POS = [0, 128, 256, 384, 512, 640, 768, 896]
FUSIONS = ("mean", "guided", "vcf", "gvcf")
SAMPLERS = ("ddim", "ddpm")
# SyncDiffusion's schedule, as the official code's sample_syncdiffusion() defaults (KAIST-Visual-AI-Group/SyncDiffusion:
# sync_decay_rate 0.95, sync_freq 1, sync_thres 50); its weight, 20 there, is 0 (off) here.
SYNCDIFFUSION_DECAY, SYNCDIFFUSION_FREQ, SYNCDIFFUSION_LAST_STEP = 0.95, 1, 50
# Region prompts' bootstrapping steps, the official region_based.py's --bootstrapping default (omerbt/MultiDiffusion)
BOOTSTRAPPING = 20

TINY_DEFAULTS = dict(
    sd_path=str(TINY_MODELS_DIR / "stable-diffusion-2-base-tiny"),
    rgb_instance_size=64, latent_instance_size=8, window_stride=1,
    panorama_height=64, panorama_width=384,
    prompts_file=data_file(WIDE_APP, toy=True),  # the tiny models know only the toy world's words
    syncdiffusion_batch_size=41,  # the tiny panorama's 41 windows in one gradient pass
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Wide image (panorama) generation by diffusion synchronization")
    add_common_args(parser, app=WIDE_APP)
    parser.set_defaults(num_inference_steps=50, guidance_scale=7.5)
    parser.add_argument("--prompt", help="text prompt (or --all_prompts for every prompt of --prompts_file)")
    parser.add_argument("--negative_prompt", default="")
    parser.add_argument(
        "--vae_tiling", action="store_true",
        help="decode the panorama in overlapping tiles (diffusers' AutoencoderKL tiling) for GPUs that run out of "
             "memory in the one-call decode; the tiles are blended, so pixels differ a little from the default",
    )
    parser.add_argument(
        "--circular", action="store_true",
        help="a 360° panorama: windows wrap past the right edge onto the left, one every --window_stride latent px "
             "across the whole width, and the decode wraps too, so the left and right edges join without a seam",
    )
    parser.add_argument(
        "--fusion", default="mean", choices=FUSIONS,
        help="how the windows are averaged where they overlap (GVCFDiffusion): mean, by their count (default); "
             "guided: weighted by each window's cone map, highest at its centre; vcf: the DDPM step's noise "
             "rescaled after averaging so that it keeps its variance; gvcf: both (vcf, gvcf need --sampler ddpm "
             "and --sync_target xt)",
    )
    parser.add_argument(
        "--sampler", default="ddim", choices=SAMPLERS,
        help="ddim: the deterministic DDIM step (default); ddpm: DDPM's stochastic step, fresh noise in every "
             "window at every step, drawn from --seed",
    )
    parser.add_argument(
        "--style_align", type=float, default=0.0, metavar="ALPHA",
        help="one-shot style alignment (GVCFDiffusion), ALPHA in 0..1: the initial noise is slerped by ALPHA "
             "towards one window's noise tiled over the panorama; 0 (default): off. The panorama must be a whole "
             "number of windows high and wide",
    )
    parser.add_argument(
        "--syncdiffusion_weight", type=float, default=0.0, metavar="W",
        help="SyncDiffusion: before a step, move every window's x_t down the gradient of the LPIPS distance between "
             "its decoded x̂0 and the middle (anchor) window's, by W times the decay; 0 (default): off. The official "
             "code's weight is 20. Needs torchvision's VGG16 weights (--tiny: a random VGG16)",
    )
    parser.add_argument(
        "--syncdiffusion_decay", type=float, default=SYNCDIFFUSION_DECAY, metavar="GAMMA",
        help=f"the weight at step i (from 0) is W·GAMMA^i, GAMMA in (0, 1] (default {SYNCDIFFUSION_DECAY}, the official "
             "code's)",
    )
    parser.add_argument(
        "--syncdiffusion_freq", type=int, default=SYNCDIFFUSION_FREQ, metavar="N",
        help=f"guide every N-th step only (steps N, 2N, ... counted from 1; default {SYNCDIFFUSION_FREQ}: every step)",
    )
    parser.add_argument(
        "--syncdiffusion_last_step", type=int, default=SYNCDIFFUSION_LAST_STEP, metavar="N",
        help=f"guide steps 1..N only (default {SYNCDIFFUSION_LAST_STEP}: all of the default 50)",
    )
    parser.add_argument(
        "--syncdiffusion_batch_size", type=int, default=1, metavar="N",
        help="windows per gradient pass (forward and backward through the UNet, the VAE decoder and LPIPS): the "
             "memory grows with it; default 1, as the official code (--tiny: 41, all windows at once)",
    )
    parser.add_argument(
        "--regions", type=Path, default=None, metavar="LAYOUT.json",
        help="region prompts (MultiDiffusion): a JSON layout of a background prompt and (prompt, box or PNG mask) "
             "regions, in place of --prompt; each region's prompt draws where its mask is, the background's "
             "elsewhere. Writes the image and an overlay of the masks (default: off)",
    )
    parser.add_argument(
        "--bootstrapping", type=int, default=BOOTSTRAPPING, metavar="N",
        help="with --regions, the first N steps show each region's windows a noised constant-colour background "
             f"outside the region (default {BOOTSTRAPPING}, the official code's; 0: never)",
    )
    parser.add_argument("--model", default="sd", choices=["sd"])
    parser.add_argument("--sd_path", default="stabilityai/stable-diffusion-2-base", help="hub id or local folder")
    parser.add_argument("--window_stride", type=int, default=8, help="window stride in latent pixels")
    parser.add_argument("--latent_instance_size", type=int, default=64)
    parser.add_argument("--rgb_instance_size", type=int, default=512)
    parser.add_argument("--panorama_height", type=int, default=512)
    parser.add_argument("--panorama_width", type=int, default=3072)
    parser.add_argument(
        "--eval_pos", type=int, nargs="*", default=None,
        help="x offsets (px, for 512-px windows) of the crops that eval.py scores; default: the prompt's "
             f"eval_pos in --prompts_file, else {DEFAULT_EVAL_POS}",
    )
    return parser


def load_wide_image_config(argv=None):
    parser = build_parser()
    config = parse_with_tiny_defaults(parser, argv, TINY_DEFAULTS)
    check_geometry(parser, config)
    config.jobs = build_jobs(parser, config)
    for job in config.jobs:
        if "eval_pos" in job:  # a --regions job has no crops
            check_eval_pos(parser, config, job)
    return frozen(config, "WideImageConfig")


def check_geometry(parser, config) -> None:
    """The windows must tile the panorama exactly; otherwise some columns would never be denoised."""
    if config.rgb_instance_size % config.latent_instance_size:
        parser.error("--rgb_instance_size must be a multiple of --latent_instance_size (the VAE downsamples ×8)")
    factor = config.rgb_instance_size // config.latent_instance_size
    for name in ("panorama_height", "panorama_width"):
        size = getattr(config, name)
        if size % factor:
            parser.error(f"--{name} {size} is not a multiple of the VAE factor {factor}")
        if size < config.rgb_instance_size:
            parser.error(f"--{name} {size} is smaller than one {config.rgb_instance_size}-px window")
    if config.window_stride < 1:
        parser.error(f"--window_stride must be at least 1 latent pixel, got {config.window_stride}")
    # A 360° panorama's windows wrap horizontally, so only its height must be tiled by windows that stop at the edge.
    for name in ("panorama_height",) if config.circular else ("panorama_height", "panorama_width"):
        span = getattr(config, name) // factor - config.latent_instance_size
        if span % config.window_stride:
            covered = getattr(config, name) - (span % config.window_stride) * factor
            parser.error(
                f"windows of {config.latent_instance_size} latent px with stride {config.window_stride} do not "
                f"cover --{name} {getattr(config, name)} (they stop at {covered} px): choose a stride that divides "
                f"{span} or a size where (size/{factor} - {config.latent_instance_size}) is a multiple of the stride"
            )
    if config.circular:
        check_circular_geometry(parser, config, factor)
    check_gvcf(parser, config, factor)
    check_syncdiffusion(parser, config)
    check_region_flags(parser, config)


def check_circular_geometry(parser, config, factor) -> None:
    """Windows that start every stride all the way round must come back to column 0, and cover every column the
    same number of times (size / stride): a multiple of the stride for both the width and the window."""
    stride, size = config.window_stride, config.latent_instance_size
    columns = config.panorama_width // factor
    if columns % stride:
        parser.error(
            f"--circular: windows every {stride} latent px do not come round to where they started on "
            f"--panorama_width {config.panorama_width} ({columns} latent px, not a multiple of {stride}): choose a "
            f"width that is a multiple of {stride * factor} px, or a --window_stride that divides {columns}"
        )
    if size % stride:
        parser.error(
            f"--circular: with --window_stride {stride} some columns would lie in more windows than others, because "
            f"--latent_instance_size {size} is not a multiple of it: choose a --window_stride that divides {size}"
        )


def gvcf_flags(config) -> list:
    """GVCFDiffusion's flags that differ from their defaults (then main.build_model adds its fusions to the model)."""
    return [flag for flag, on in (("--fusion", config.fusion != "mean"), ("--sampler", config.sampler != "ddim"),
                                  ("--style_align", config.style_align != 0)) if on]


def check_gvcf(parser, config, factor) -> None:
    """Variance correction rescales the noise a stochastic step injects into x_{t-1}, and style alignment tiles one
    window's noise: combinations without those refuse to start."""
    if config.fusion in ("vcf", "gvcf") and config.sampler != "ddpm":
        parser.error(f"--fusion {config.fusion} corrects the variance of the noise a DDPM step injects, and the "
                     f"deterministic --sampler {config.sampler} injects none: add --sampler ddpm")
    if config.fusion in ("vcf", "gvcf") and config.sync_target != "xt":
        parser.error(f"--fusion {config.fusion} fuses the windows' x_(t-1) (each DDPM step's mean and noise), not "
                     f"--sync_target {config.sync_target}: add --sync_target xt")
    if not 0 <= config.style_align <= 1:
        parser.error(f"--style_align is the slerp's ALPHA, within 0..1 (0: off), got {config.style_align}")
    size = config.latent_instance_size
    rows, columns = config.panorama_height // factor, config.panorama_width // factor
    if config.style_align and (rows % size or columns % size):
        parser.error(
            f"--style_align tiles one window's noise over the panorama without overlap, but {size}-px latent windows "
            f"do not tile its {rows}x{columns} latent px: choose --panorama_height and --panorama_width multiples "
            f"of {config.rgb_instance_size} px"
        )


def check_syncdiffusion(parser, config) -> None:
    """SyncDiffusion's flags must make a schedule: a weight that descends, a decay that does not grow, and (when on)
    at least one step to guide."""
    if not (math.isfinite(config.syncdiffusion_weight) and config.syncdiffusion_weight >= 0):
        parser.error(f"--syncdiffusion_weight must be 0 (off) or a positive number (a negative one would push the "
                     f"windows away from the anchor), got {config.syncdiffusion_weight}")
    if not 0 < config.syncdiffusion_decay <= 1:
        parser.error(f"--syncdiffusion_decay is the weight's factor per step, within (0, 1], got "
                     f"{config.syncdiffusion_decay}")
    for name in ("syncdiffusion_freq", "syncdiffusion_last_step", "syncdiffusion_batch_size"):
        if getattr(config, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(config, name)}")
    if config.syncdiffusion_weight and config.offload == "model":
        parser.error("--offload model moves the UNet off the GPU while the VAE decodes, and SyncDiffusion's backward "
                     "pass runs through both: use --offload none (with --syncdiffusion_weight, auto is none)")
    guided_steps = min(config.syncdiffusion_last_step, config.num_inference_steps)
    if config.syncdiffusion_weight and config.syncdiffusion_freq > guided_steps:
        parser.error(f"--syncdiffusion_freq {config.syncdiffusion_freq} guides no step of the first {guided_steps}: "
                     f"choose a frequency of at most {guided_steps}, or a later --syncdiffusion_last_step")


def check_region_flags(parser, config) -> None:
    """--regions takes its prompts from the layout, and combines with none of the other methods (yet)."""
    if config.bootstrapping < 0:
        parser.error(f"--bootstrapping is a number of steps, 0 or more, got {config.bootstrapping}")
    if config.regions is None:
        return
    others = [flag for flag, given in (
        ("--prompt", config.prompt is not None), ("--all_prompts", config.all_prompts),
        ("--eval_pos", config.eval_pos is not None), ("--circular", config.circular),
        *((flag, True) for flag in gvcf_flags(config)), ("--syncdiffusion_weight", config.syncdiffusion_weight != 0),
    ) if given]
    if others:
        parser.error(f"--regions takes its prompts from the layout and writes one image (no eval_pos crops), without "
                     f"the other methods: drop {', '.join(others)}")


def region_job(parser, config) -> dict:
    """The one job of --regions: the layout file read and checked (synckit/regions.py), or a parser error."""
    from synckit.regions import LayoutError, read_layout

    factor = config.rgb_instance_size // config.latent_instance_size
    try:
        layout = read_layout(config.regions, config.panorama_height, config.panorama_width, factor)
    except LayoutError as err:
        parser.error(str(err))
    return {"name": config.regions.stem, "layout": str(config.regions), "prompts": list(layout.prompts),
            "masks": list(layout.sources)}


def build_jobs(parser, config) -> list:
    if config.regions is not None:
        return [region_job(parser, config)]
    entries = read_prompts_file(parser, config) if (config.all_prompts or config.prompt) else {}
    if config.all_prompts:
        if config.prompt:
            parser.error("give either --prompt or --all_prompts, not both")
        return [
            {"name": key, "prompt": entry["prompt"], "eval_pos": config.eval_pos or entry["eval_pos"]}
            for key, entry in entries.items()
        ]
    if config.prompt is None:
        parser.error("--prompt is required (or --all_prompts to generate every prompt of the data file)")
    check_prompt(parser, config.prompt, "--prompt")
    if config.prompt in entries:
        parser.error(
            f"--prompt {config.prompt!r} is a data-file key; pass the prompt text instead: "
            f"--prompt \"{entries[config.prompt]['prompt']}\""
        )
    from_file = {entry["prompt"]: entry["eval_pos"] for entry in entries.values()}
    eval_pos = config.eval_pos or from_file.get(config.prompt, DEFAULT_EVAL_POS)
    return [{"name": prompt_key(config.prompt), "prompt": config.prompt, "eval_pos": eval_pos}]


def check_eval_pos(parser, config, job) -> None:
    widest = config.panorama_width * EVAL_POS_WINDOW // config.rgb_instance_size - EVAL_POS_WINDOW
    bad = [pos for pos in job["eval_pos"] if not 0 <= pos <= widest]
    if bad:
        parser.error(f"eval_pos {bad} of {job['prompt']!r} fall outside the panorama: use offsets in 0..{widest}")
