"""Speed of the wide-image app, alone and against diffusers' StableDiffusionPanoramaPipeline (a benchmark, not a test).

    python scripts/benchmark.py                 # tiny SD, tiny geometry (on a CPU: the code paths, not a GPU's speed)
    python scripts/benchmark.py --real_arch     # SD2-base architecture (random fp16 weights), 512x3072, GPU
    python scripts/benchmark.py --steps 1       # a quick run
    python scripts/benchmark.py --methods guided gvcf circular syncdiffusion   # what each method adds (below)
    python scripts/benchmark.py --highres --steps 50            # --app highres_image, per image (alone: no panorama)
    python scripts/benchmark.py --highres --highres_scales 2 4 --real_arch   # 1024² and 2048² on a GPU

Prints, for one synchronized step: all windows in one UNet batch vs one window per call, and the share of the
step spent in forward + inverse mapping. Then whole panoramas, side by side in the same run, with the same
networks, windows, steps and guidance: the kit with --sync_target xt (MultiDiffusion, the algorithm diffusers'
pipeline implements) vs StableDiffusionPanoramaPipeline with its default view_batch_size=1 and with the kit's
batch, as times and as ratios kit / diffusers (below 1: the kit is faster). With --methods, whole panoramas of the
named presets of `python -m synckit.compare` (GVCFDiffusion's fusions, 360°, SyncDiffusion, ...) on the same
networks and geometry, as times and as ratios to the plain panorama (x0, the kit's default). With --highres, instead
of all that: the time of one whole image of the higher-resolution app (both phases, decodes included) per method
(demofusion, accdiffusion) and scale, and on a GPU its peak memory.
"""

import argparse
import dataclasses
import time

import torch
from diffusers import StableDiffusionPanoramaPipeline

from check_setup import COURSE_GEOMETRY, use_real_sd_networks
from configs.highres_image_config import METHODS as HIGHRES_METHODS
from configs.highres_image_config import load_highres_image_config
from configs.wide_image_config import load_wide_image_config
from guidance.wide_image_model import WideImageModel
from main import build_model
from synckit.compare import METHODS

PROMPT = "benchmark"


def seconds(function, repeats, device):
    """Mean wall-clock time of `function()` over `repeats` calls, after one warm-up call."""
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def diffusers_panorama(model: WideImageModel) -> tuple:
    """(diffusers' panorama pipeline on the kit's loaded networks and DDIM scheduler, a note on its windows)."""
    parts = model.model.components
    pipe = StableDiffusionPanoramaPipeline(
        vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"], unet=parts["unet"],
        scheduler=model.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    if pipe.get_views(model.config.panorama_height, model.config.panorama_width) == model.mapper:
        return pipe, f"the same {len(model.mapper)} windows by its own get_views"
    # diffusers hard-codes 64-latent windows with stride 8 (the course's); the tiny geometry has 8-latent ones
    pipe.get_views = lambda *args, **kwargs: model.mapper
    return pipe, "its get_views replaced by the kit's windows (it hard-codes 64-latent windows, stride 8)"


def one_step(model: WideImageModel, args) -> None:
    """One synchronized step over all windows: batched vs one window per UNet call, and the mapping's share."""
    embed_dim = model.model.unet.config.cross_attention_dim
    embeds = torch.randn(2, 77, embed_dim, device=model.device, dtype=model.dtype)
    xts = model.forward_mapping(torch.randn(1, 4, model.latent_height, model.latent_width, device=model.device, dtype=model.dtype))
    model.scheduler.set_timesteps(model.config.num_inference_steps)
    timestep = model.scheduler.timesteps[0]
    alphas, sigmas = model.noise_schedule()

    def step():
        model.one_step_process({"xts": xts}, timestep, alphas, sigmas, prompt_embeds=embeds[:1], negative_prompt_embeds=embeds[1:])

    config = model.config
    model.config = dataclasses.replace(config, view_batch_size=args.view_batch_size)  # the same networks, batched two ways
    batched = seconds(step, args.repeats, model.device)
    model.config = dataclasses.replace(config, view_batch_size=1)
    one_at_a_time = seconds(step, args.repeats, model.device)
    model.config = config
    mapping = seconds(lambda: model.forward_mapping(model.inverse_mapping(xts)), args.repeats * 10, model.device)
    print(f"  one step, {args.view_batch_size} windows per UNet call: {batched * 1000:9.1f} ms")
    print(f"  one step, 1 window per UNet call:  {one_at_a_time * 1000:9.1f} ms  ({one_at_a_time / batched:.1f}× slower)")
    print(f"  forward + inverse mapping:         {mapping * 1000:9.2f} ms  ({100 * mapping / batched:.1f}% of a batched step)")


def seconds_of_one_run(run, steps, device):
    """Wall-clock time of `run(steps)`, after a one-step warm-up run: first-call set-up is no pipeline's speed."""
    run(1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run(steps)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def whole_panorama(model: WideImageModel) -> None:
    """A whole panorama (prompt encoding, every step, VAE decode): the kit vs diffusers' pipeline."""
    pipe, windows_note = diffusers_panorama(model)
    config = model.config

    def kit(steps):
        model.config = dataclasses.replace(config, num_inference_steps=steps)
        model(PROMPT, sync_target="xt", progress=False)
        model.config = config

    def diffusers_with(view_batch_size):
        return lambda steps: pipe(PROMPT, height=config.panorama_height, width=config.panorama_width,
                                  num_inference_steps=steps, guidance_scale=config.guidance_scale,
                                  view_batch_size=view_batch_size)

    steps = config.num_inference_steps
    print(f"whole panorama, {steps} steps, guidance {config.guidance_scale}; diffusers: {windows_note}")
    kit_seconds = seconds_of_one_run(kit, steps, model.device)
    print(f"  {f'kit, {config.view_batch_size} windows per UNet call (--sync_target xt):':<52}{kit_seconds:8.2f} s")
    for view_batch_size, label in ((1, "its default"), (config.view_batch_size, "the kit's batch")):
        pipe_seconds = seconds_of_one_run(diffusers_with(view_batch_size), steps, model.device)
        print(f"  {f'diffusers, view_batch_size={view_batch_size} ({label}):':<52}{pipe_seconds:8.2f} s   "
              f"kit / diffusers = {kit_seconds / pipe_seconds:.2f}")


def whole_image_seconds(model, prompt: str, real_arch: bool) -> float:
    """One whole image of `model` at its configured steps (after a one-step warm-up), with the real-size SD networks
    swapped in for `real_arch`; on a GPU the peak memory counts from the swap on."""
    if real_arch:
        torch.manual_seed(0)
        use_real_sd_networks(model)
    if model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    config = model.config

    def run(steps):
        model.config = dataclasses.replace(config, num_inference_steps=steps)
        model(prompt, progress=False)
        model.config = config

    return seconds_of_one_run(run, config.num_inference_steps, model.device)


def method_costs(flags: list, names: list, real_arch: bool) -> None:
    """A whole panorama of each named method, timed as whole_panorama times the kit's, and its ratio to x0's."""
    times = {}
    for name in dict.fromkeys(["x0", *names]):  # the plain panorama first: the ratios' denominator
        model = build_model(load_wide_image_config(flags + list(METHODS[name])))
        times[name] = whole_image_seconds(model, PROMPT, real_arch)
        print(f"  {name:<14} {' '.join(METHODS[name]):<52}{times[name]:8.2f} s   {times[name] / times['x0']:6.2f}× x0")


HIGHRES_PROMPT = "snowy mountains under an orange sky with a sun"  # toy words: the tiny SD's patch prompts mean something


def highres_costs(args) -> None:
    """One whole --app highres_image image per method and scale (after a one-step warm-up run), and its peak memory."""
    from guidance.highres_image_model import HighresImageModel

    geometry = ["--rgb_instance_size", "512", "--latent_instance_size", "64", "--attention_map_size", "16"]
    for scale in args.highres_scales:
        for method in HIGHRES_METHODS:
            flags = ["--tiny", "--prompt", HIGHRES_PROMPT, "--method", method, "--scale", str(scale),
                     "--num_inference_steps", str(args.steps), "--device", "cuda" if args.real_arch else "auto",
                     *(geometry if args.real_arch else [])]
            model = HighresImageModel(load_highres_image_config(flags))
            took = whole_image_seconds(model, HIGHRES_PROMPT, args.real_arch)
            side = scale * model.config.rgb_instance_size
            memory = (f", peak GPU memory {torch.cuda.max_memory_allocated(model.device) / 2**30:.1f} GiB"
                      if model.device.type == "cuda" else "")
            print(f"  highres_image {method:<13} s = {scale} ({side}² px), {args.steps} steps: {took:8.2f} s{memory}")


@torch.no_grad()
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real_arch", action="store_true", help="SD2-base networks with random weights at the course geometry")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of one step")
    parser.add_argument("--view_batch_size", type=int, default=41, help="windows per UNet call in the batched runs")
    parser.add_argument("--steps", type=int, default=50, help="sampling steps of the whole panoramas (the course's: 50)")
    parser.add_argument("--methods", nargs="+", default=[], choices=list(METHODS), metavar="METHOD",
                        help=f"also time whole panoramas of these methods against x0's: any of {', '.join(METHODS)}")
    parser.add_argument("--highres", action="store_true",
                        help="time the higher-resolution app (--app highres_image) per image instead of the panoramas")
    parser.add_argument("--highres_scales", type=int, nargs="+", default=[2], metavar="S",
                        help="with --highres: the scales to time (default 2: 1024² on SD2, 128² on the tiny SD)")
    args = parser.parse_args(argv)
    if args.highres:
        where = torch.cuda.get_device_name() if args.real_arch else "CPU (tiny models: code paths, not a GPU's speed)"
        print(f"{'SD2-base architecture' if args.real_arch else 'tiny SD'} on {where}, torch threads "
              f"{torch.get_num_threads()}")
        highres_costs(args)
        return

    flags = ["--tiny", "--prompt", PROMPT, "--device", "cuda" if args.real_arch else "auto",
             "--view_batch_size", str(args.view_batch_size), "--num_inference_steps", str(args.steps)]
    model = WideImageModel(load_wide_image_config(flags + (COURSE_GEOMETRY if args.real_arch else [])))
    if args.real_arch:
        torch.manual_seed(0)
        use_real_sd_networks(model)

    dtype = str(model.dtype).removeprefix("torch.")
    name = f"SD2-base architecture, {dtype}" if args.real_arch else f"tiny SD, {dtype}"
    where = torch.cuda.get_device_name(model.device) if model.device.type == "cuda" else "CPU (tiny models: code paths, not a GPU's speed)"
    print(f"{name} on {where}, {len(model.mapper)} windows of {model.config.latent_instance_size}² latents, "
          f"torch threads {torch.get_num_threads()}")
    one_step(model, args)
    whole_panorama(model)
    if args.methods:
        print(f"whole panoramas, {args.steps} steps, per method (python -m synckit.compare's presets):")
        method_costs(flags + (COURSE_GEOMETRY if args.real_arch else []), args.methods, args.real_arch)
    if model.device.type == "cuda":
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated(model.device) / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
