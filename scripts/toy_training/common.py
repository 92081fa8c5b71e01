"""What every toy trainer shares: the picture size, the seeded picture streams and the learning-rate schedule."""

import numpy as np
import torch

TOY_SIZE = 64  # px: a scene crop (one tiny SD window) and IF stage I's side; objects are downscaled to it

# Training stream and held-out stream: two independent numpy streams of one seed, so no held-out picture is trained on
TRAIN_STREAM, HELD_OUT_STREAM = 0, 1


def stream(seed: int, which: int) -> np.random.Generator:
    return np.random.default_rng([seed, which])


def to_model_range(images) -> torch.Tensor:
    """PIL images (or uint8 [N, H, W, 3]) as float [N, 3, H, W] in [-1, 1], the range the diffusion models use."""
    pixels = np.stack([np.asarray(image) for image in images])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1


def warmup_cosine(optimizer, steps: int):
    """Linear warm-up over the first 5% of the steps, then cosine decay to zero."""
    warmup = max(1, steps // 20)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * step / steps)),
    )
