"""Speed of one synchronized denoising step of the wide-image app (a benchmark, not a test).

    python scripts/benchmark.py                 # tiny model, tiny geometry, CPU
    python scripts/benchmark.py --real_arch     # SD2-base UNet architecture, random fp16 weights, 512×3072, GPU

Prints, for one step over all windows: the time with every window in one UNet batch vs one window per
call, and the share of the step spent in forward + inverse mapping.
"""

import argparse
import dataclasses
import time

import torch
from diffusers import UNet2DConditionModel

from configs.wide_image_config import load_wide_image_config
from guidance.wide_image_model import WideImageModel

# The UNet architecture of stabilityai/stable-diffusion-2-base (unet/config.json), for timing at real size.
SD2_BASE_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280), attention_head_dim=(5, 10, 20, 20), cross_attention_dim=1024,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    use_linear_projection=True,
)
COURSE_GEOMETRY = ["--rgb_instance_size", "512", "--latent_instance_size", "64", "--window_stride", "8",
                   "--panorama_height", "512", "--panorama_width", "3072"]


def seconds(function, repeats, device):
    function()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real_arch", action="store_true", help="SD2-base UNet with random weights at the course geometry")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--view_batch_size", type=int, default=41, help="windows per UNet call in the batched run")
    args = parser.parse_args()

    flags = ["--tiny", "--prompt", "benchmark", "--device", "cuda" if args.real_arch else "auto"]
    model = WideImageModel(load_wide_image_config(flags + (COURSE_GEOMETRY if args.real_arch else [])))
    embed_dim = model.model.unet.config.cross_attention_dim
    if args.real_arch:
        torch.manual_seed(0)
        model.model.unet = UNet2DConditionModel(**SD2_BASE_UNET).to(model.device, model.dtype)
        embed_dim = SD2_BASE_UNET["cross_attention_dim"]
    embeds = torch.randn(2, 77, embed_dim, device=model.device, dtype=model.dtype)
    xts = model.forward_mapping(torch.randn(1, 4, model.latent_height, model.latent_width, device=model.device, dtype=model.dtype))
    model.scheduler.set_timesteps(model.config.num_inference_steps)
    timestep = model.scheduler.timesteps[0]
    alphas, sigmas = model.noise_schedule()

    def step():
        model.one_step_process({"xts": xts}, timestep, alphas, sigmas, prompt_embeds=embeds[:1], negative_prompt_embeds=embeds[1:])

    configs = {size: dataclasses.replace(model.config, view_batch_size=size) for size in (args.view_batch_size, 1)}
    model.config = configs[args.view_batch_size]  # the same loaded networks, batched two ways
    batched = seconds(step, args.repeats, model.device)
    model.config = configs[1]
    one_at_a_time = seconds(step, args.repeats, model.device)
    mapping = seconds(lambda: model.forward_mapping(model.inverse_mapping(xts)), args.repeats * 10, model.device)

    name = f"SD2-base architecture, {model.dtype}" if args.real_arch else "tiny SD, float32"
    print(f"{name} on {torch.cuda.get_device_name(model.device) if model.device.type == 'cuda' else 'CPU'}, "
          f"{len(model.mapper)} windows of {model.config.latent_instance_size}² latents, torch threads {torch.get_num_threads()}")
    print(f"  one step, {args.view_batch_size} windows per UNet call: {batched * 1000:9.1f} ms")
    print(f"  one step, 1 window per UNet call:  {one_at_a_time * 1000:9.1f} ms  ({one_at_a_time / batched:.1f}× slower)")
    print(f"  forward + inverse mapping:         {mapping * 1000:9.2f} ms  ({100 * mapping / batched:.1f}% of a batched step)")
    if model.device.type == "cuda":
        print(f"  peak GPU memory: {torch.cuda.max_memory_allocated(model.device) / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()
