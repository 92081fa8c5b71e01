"""Loading the diffusion models: the real ones from the Hugging Face hub, the tiny ones from `tiny_models/`.

Both go through the same `from_pretrained` calls; a tiny model is just a local folder in the same
format. Every way loading can fail ends in one `ModelLoadError` whose message says what to do.
"""

import contextlib
from pathlib import Path

import torch
from synckit import torchvision_check  # noqa: F401  before diffusers: names a torch/torchvision build mismatch
from diffusers import DDIMScheduler, IFPipeline, IFSuperResolutionPipeline, StableDiffusionPipeline
from huggingface_hub.errors import GatedRepoError

from configs.common import TINY_MODELS_DIR
from synckit.devices import NoGPUError, pick_device

# GPU memory the real models need in float16 with the default --view_batch_size and --offload (estimates until
# scripts/check_setup.py has measured them on a GPU; see README, "Running on a GPU").
MEMORY_HINTS = {
    "sd": "Stable Diffusion 2 base needs about 6 GiB of GPU memory in float16 (an estimate); lower --view_batch_size, "
          "and add --vae_tiling if the decode runs out",
    "deepfloyd": "DeepFloyd IF needs about 11 GiB of GPU memory in float16 with --offload model (an estimate: T5-XXL "
                 "alone is 9.5 GiB while it encodes the prompts), about 13 GiB with --offload none",
}

class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


def is_local(path) -> bool:
    return Path(path).is_dir()


def resolve_device(config, model_paths) -> torch.device:
    """The device to run on (`pick_device`); refuses to start the real models on a CPU unless asked to."""
    try:
        device = pick_device(config.device, config.gpu)
    except NoGPUError as err:
        raise ModelLoadError(str(err)) from err
    if device.type == "cpu" and config.device == "auto" and not all(is_local(path) and Path(path).resolve().is_relative_to(TINY_MODELS_DIR) for path in model_paths):
        raise ModelLoadError(
            "no CUDA GPU found: the real models take hours on a CPU. Run on a GPU machine, add --tiny to test the "
            "pipeline on this CPU with the tiny models, or pass --device cpu to run the real models here anyway"
        )
    return device


def resolve_offload(config, device: torch.device) -> str:
    """--offload auto: `model` on a GPU, where it frees the memory of every network that is not running for one
    host-to-GPU copy per network and run; `none` on a CPU, where there is nowhere to offload to."""
    if config.offload == "auto":
        return "model" if device.type == "cuda" else "none"
    return config.offload


def place(pipe, device: torch.device, offload: str):
    """Put the pipeline's networks where --offload says: all on `device` (none), or waiting on the CPU, each moved
    to `device` by diffusers' hooks only while it runs (model). Call again after swapping a network in."""
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.remove_all_hooks()
        pipe.to(device)
    return pipe


def resolve_dtype(config, device: torch.device) -> torch.dtype:
    if config.dtype == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, config.dtype)


@contextlib.contextmanager
def explain_load_failure(path, app: str):
    """Turn the many ways `from_pretrained` and `.to(device)` fail into one actionable message."""
    try:
        yield
    except GatedRepoError as err:
        raise ModelLoadError(
            f"{path} is a gated model: accept its licence at https://huggingface.co/{path} while logged in, then run "
            f"`huggingface-cli login` (or set HF_TOKEN) on this machine. ({err.__class__.__name__})"
        ) from err
    except torch.cuda.OutOfMemoryError as err:
        raise ModelLoadError(f"out of GPU memory while loading {path}: {MEMORY_HINTS[app]}") from err
    except (OSError, ValueError) as err:
        where = "the local folder" if is_local(path) else "the Hugging Face hub (no network? then set HF_HUB_OFFLINE=1 with a cached copy, or pass a local folder)"
        raise ModelLoadError(
            f"could not load {path} from {where}: {err}\nTo try the pipeline offline on a CPU, add --tiny."
        ) from err


def load_stable_diffusion(path, device, dtype, offload="none") -> StableDiffusionPipeline:
    """SD 2 base with its scheduler replaced by DDIM built from the same config (steps_offset=1)."""
    with explain_load_failure(path, "sd"):
        pipe = StableDiffusionPipeline.from_pretrained(path, torch_dtype=dtype, safety_checker=None)
        pipe.scheduler = ddim_scheduler(pipe)
        pipe.set_progress_bar_config(disable=True)
        return place(pipe, device, offload)


def load_deepfloyd(stage_1_path, stage_2_path, device, dtype, offload="none"):
    """DeepFloyd IF stage I (64 px) and stage II (64 → 256 px); stage II reuses stage I's T5 embeddings."""
    unused = dict(safety_checker=None, feature_extractor=None, watermarker=None)
    with explain_load_failure(stage_1_path, "deepfloyd"):
        stage_1 = place(IFPipeline.from_pretrained(stage_1_path, variant="fp16", torch_dtype=dtype, **unused),
                        device, offload)
    with explain_load_failure(stage_2_path, "deepfloyd"):
        stage_2 = place(IFSuperResolutionPipeline.from_pretrained(
            stage_2_path, text_encoder=None, variant="fp16", torch_dtype=dtype, **unused
        ), device, offload)
    return stage_1, stage_2


def ddim_scheduler(pipe) -> DDIMScheduler:
    """A DDIM scheduler with the pipeline's noise schedule (IF ships a DDPM config with a learned variance)."""
    return DDIMScheduler.from_config(pipe.scheduler.config)
