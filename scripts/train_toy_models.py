"""Train tiny models on the toy world (synckit/toyworld.py), in the formats the kit loads.

    python scripts/train_toy_models.py                          # every model, into /tmp/synckit-toy-models
    python scripts/train_toy_models.py --models clip --steps 600 --out /tmp/toy --seed 1

One module per model in scripts/toy_training/ (TRAINERS), each writing one folder under --out named as in
tiny_models/, so a folder can replace its random-weight stand-in there:

    clip-vit-tiny/                 toy_training/clip.py: open_clip's local-dir layout, as eval.py loads it
    stable-diffusion-2-base-tiny/  toy_training/sd.py: StableDiffusionPipeline's layout (VAE, UNet, text encoder)
    IF-I-M-v1.0-tiny/              toy_training/deepfloyd.py (if1): IFPipeline's layout, fp16 variant
    IF-II-M-v1.0-tiny/             toy_training/deepfloyd.py (if2): IFSuperResolutionPipeline's layout, fp16 variant

Each trainer reloads what it wrote through the kit's own loading call and prints a final line with its check.
Deterministic for a --seed on one machine (torch's CPU kernels may differ between machines in the last bits).
"""

import argparse
import time
from pathlib import Path

import torch

from toy_training import clip, deepfloyd, sd  # scripts/ is on the path when this file runs

# --models name: its module, or one of a module's trainers (FOLDER, DEFAULT_STEPS, DEFAULT_BATCH, train)
TRAINERS = {"clip": clip, "sd": sd, "if1": deepfloyd.stage_1, "if2": deepfloyd.stage_2}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=list(TRAINERS), default=list(TRAINERS))
    parser.add_argument("--out", type=Path, default=Path("/tmp/synckit-toy-models"))
    parser.add_argument("--steps", type=int, help="optimizer steps of every model (default: each model's own)")
    parser.add_argument("--batch", type=int, help="pictures per step of every model (default: each model's own)")
    parser.add_argument("--seed", type=int, default=1, help="fixes the initial weights and the toy pictures")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's, one per core); on a machine "
                                                     "that other jobs load, 1 is often faster than fighting over cores")
    args = parser.parse_args(argv)
    for flag in ("steps", "batch", "threads"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    for name in args.models:
        trainer = TRAINERS[name]
        folder = args.out / trainer.FOLDER
        steps = args.steps or trainer.DEFAULT_STEPS
        start = time.perf_counter()
        summary = trainer.train(folder, steps, args.seed, args.batch or trainer.DEFAULT_BATCH)
        size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
        print(f"{summary}; {steps} steps in {time.perf_counter() - start:.0f} s; wrote {folder} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
