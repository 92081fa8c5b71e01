"""Extension Task 8 settings: an image s times the model's side (1024² from Stable Diffusion 2 base at --scale 2) by
DemoFusion's progressive upscaling, with AccDiffusion's patch prompts and window interaction.

`load_highres_image_config()` parses and validates everything before any model is loaded, and sets `config.jobs`:
the one `{"name", "prompt"}` of --prompt. The defaults are the official code's; where DemoFusion's pipeline signature
and its README differ (guidance 5.0 vs 7.5, σ 1.0 vs 0.8) they are the README's, which AccDiffusion keeps: it is what
the authors ran for their pictures (README, "Higher-resolution images").
"""

import argparse
import math

from configs.common import TINY_MODELS_DIR, add_common_args, check_prompt, frozen, parse_with_tiny_defaults
from synckit.layout import HIGHRES_APP, prompt_key

METHODS = ("demofusion", "accdiffusion")
VAE_TILING = ("auto", "on", "off")
# DemoFusion's (PRIS-CV/DemoFusion) and AccDiffusion's (lzhxmu/AccDiffusion) defaults
COSINE_SCALE_1, COSINE_SCALE_2, COSINE_SCALE_3 = 3.0, 1.0, 1.0  # α1 skip residual, α2 fusion, α3 blur
SIGMA = 0.8  # the global path's blur, README (the signature's is 1.0)
PATCH_THRESHOLD = 0.3  # AccDiffusion's --c
GUIDANCE_SCALE = 7.5  # README, and AccDiffusion's guidance_scale and multi_guidance_scale (the signature's is 5.0)

TINY_DEFAULTS = dict(
    sd_path=str(TINY_MODELS_DIR / "stable-diffusion-2-base-tiny"),
    rgb_instance_size=64, latent_instance_size=8,
    attention_map_size=8,  # the tiny UNet's down and up blocks attend to the prompt at 8×8 only
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Higher-resolution images from a 512-px model: DemoFusion's progressive upscaling and AccDiffusion "
                    "(extension Task 8)")
    add_common_args(parser, app=HIGHRES_APP, submission=False)
    parser.set_defaults(num_inference_steps=50, guidance_scale=GUIDANCE_SCALE)
    parser.add_argument("--prompt", help="text prompt (with --tiny a toy-world prompt, e.g. from "
                                         "data/toy_wide_image_prompts.json)")
    parser.add_argument("--negative_prompt", default="")
    parser.add_argument(
        "--method", default="accdiffusion", choices=METHODS,
        help="accdiffusion (default): DemoFusion with each window's own prompt, the words whose cross-attention mask "
             "covers it, and --shuffle on; demofusion: every window gets the whole prompt",
    )
    parser.add_argument("--scale", type=int, default=2, metavar="S",
                        help="the final side is S times the model's (2: 1024² from SD2's 512²), reached through every "
                             "scale 2..S (progressive upscaling)")
    parser.add_argument("--stride", type=int, default=None,
                        help="local path: window stride in latent px (default: half the window, DemoFusion's 64 of "
                             "128; 32 for SD2, 4 for --tiny)")
    parser.add_argument("--cosine_scale_1", type=float, default=COSINE_SCALE_1, metavar="ALPHA1",
                        help=f"skip residual c1 = cosf^ALPHA1 (default {COSINE_SCALE_1})")
    parser.add_argument("--cosine_scale_2", type=float, default=COSINE_SCALE_2, metavar="ALPHA2",
                        help=f"weight of the global path c2 = cosf^ALPHA2 (default {COSINE_SCALE_2})")
    parser.add_argument("--cosine_scale_3", type=float, default=COSINE_SCALE_3, metavar="ALPHA3",
                        help=f"blur c3 = 0.99·cosf^ALPHA3 + 0.01 (default {COSINE_SCALE_3})")
    parser.add_argument("--sigma", type=float, default=SIGMA,
                        help=f"global path: the Gaussian blur's σ at the first step, σ·c3 after (default {SIGMA})")
    parser.add_argument("--multi_guidance_scale", type=float, default=GUIDANCE_SCALE,
                        help=f"AccDiffusion: classifier-free guidance of the windows with their own prompts (default "
                             f"{GUIDANCE_SCALE}); --guidance_scale guides the base image and the global path")
    parser.add_argument("--c", type=float, default=PATCH_THRESHOLD,
                        help="AccDiffusion: a word is in a window's prompt when its mask covers at least this share of "
                             f"the window, in 0..1 (default {PATCH_THRESHOLD})")
    parser.add_argument("--shuffle", action=argparse.BooleanOptionalAction, default=None,
                        help="dilated sampling with window interaction: the sub-latents swap places at every latent "
                             "pixel before the UNet, and swap back after it (default: on with accdiffusion, off with "
                             "demofusion)")
    parser.add_argument("--attention_map_size", type=int, default=None,
                        help="AccDiffusion: side of the cross-attention maps kept from the base image (default: a quarter "
                             "of the latent side, 16 for SD2, as the reference's 32 of 128; 8 for --tiny)")
    parser.add_argument("--vae_tiling", default="auto", choices=VAE_TILING,
                        help="decode in overlapping, blended tiles (diffusers' AutoencoderKL tiling); auto: when the "
                             "side is more than twice the model's (2048² from SD2 fits 24 GB in float16)")
    parser.add_argument("--sd_path", default="stabilityai/stable-diffusion-2-base", help="hub id or local folder")
    parser.add_argument("--latent_instance_size", type=int, default=64, help="the model's latent side (the window)")
    parser.add_argument("--rgb_instance_size", type=int, default=512, help="the model's side in pixels (the base image)")
    return parser


def load_highres_image_config(argv=None):
    parser = build_parser()
    config = parse_with_tiny_defaults(parser, argv, TINY_DEFAULTS)
    check_geometry(parser, config)
    check_schedules(parser, config)
    check_patch_prompts(parser, config)
    if config.prompt is None:
        parser.error('--prompt is required, e.g. --prompt "snowy mountains under an orange sky with a sun"')
    check_prompt(parser, config.prompt, "--prompt")
    config.jobs = [{"name": prompt_key(config.prompt), "prompt": config.prompt}]
    return frozen(config, "HighresImageConfig")


def check_geometry(parser, config) -> None:
    if config.scale < 2:
        parser.error(f"--scale must be 2 or more (the final side is S times the model's), got {config.scale}; "
                     "--scale 1 would be the base image alone")
    if config.latent_instance_size < 1 or config.rgb_instance_size % config.latent_instance_size:
        parser.error("--rgb_instance_size must be a multiple of --latent_instance_size (the VAE downsamples ×8)")
    window = config.latent_instance_size
    if config.stride is None:
        config.stride = max(window // 2, 1)
    if not 1 <= config.stride <= window:
        parser.error(f"--stride must be 1..{window} latent px (the window's side), got {config.stride}")


def check_schedules(parser, config) -> None:
    for flag in ("cosine_scale_1", "cosine_scale_2", "cosine_scale_3"):
        value = getattr(config, flag)
        if not (math.isfinite(value) and value >= 0):
            parser.error(f"--{flag} is an exponent of the cosine schedule, 0 or more, got {value}")
    if not (math.isfinite(config.sigma) and config.sigma > 0):
        parser.error(f"--sigma is the blur's standard deviation in latent px, above 0, got {config.sigma}")


def check_patch_prompts(parser, config) -> None:
    if not (math.isfinite(config.c) and 0 <= config.c <= 1):
        parser.error(f"--c is a share of the window's area, within 0..1, got {config.c}")
    if config.shuffle is None:
        config.shuffle = config.method == "accdiffusion"  # AccDiffusion's README command enables it
    latent = config.latent_instance_size
    if config.attention_map_size is None:
        config.attention_map_size = max(latent // 4, 1)
    size = config.attention_map_size
    if size < 1 or latent % size:
        parser.error(f"--attention_map_size must divide the latent side {latent}, got {size}")
