"""Which torch device a command runs on: one rule for main.py's diffusion models, eval.py's CLIP and the grader."""

import torch


class NoGPUError(RuntimeError):
    """A CUDA GPU was asked for and torch sees none."""


def pick_device(requested: str = "auto", gpu: int = 0) -> torch.device:
    """`auto`: GPU number `gpu` when torch sees one, else the CPU; `cuda`: that GPU, or NoGPUError; `cpu`: the CPU."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise NoGPUError("--device cuda was given but torch sees no CUDA GPU (torch.cuda.is_available() is False); "
                         "run on a GPU machine or pass --device cpu")
    return torch.device(f"cuda:{gpu}")
