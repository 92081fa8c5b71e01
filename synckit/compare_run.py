"""synckit.compare's work once its input is checked: the metric models, the grid of samples (each cell a PNG, skipped
when it is there), and the metrics of every panorama."""

import dataclasses
import json
import os
import sys
import time
from itertools import groupby

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from synckit import metrics
from synckit.compare import CompareInputError, cell_path
from synckit.compare_report import write_grid, write_tables

REFERENCE = "single_window"  # FID's reference set: cell_path's folder of the single-window samples


def load_scorers(tiny: bool, device: str) -> dict:
    """The metrics' networks: LPIPS and the style VGG19 (random trunks with --tiny), eval.py's CLIP (the tiny one with
    --tiny), and Inception for FID and KID, or None with one line saying why (the other metrics run without it)."""
    from eval import ClipLoadError, load_clip
    from guidance.syncdiffusion import VGG16_URL, load_lpips
    from synckit.devices import NoGPUError, pick_device

    missing = [] if tiny else metrics.missing_weights([VGG16_URL, metrics.VGG19_URL])
    if missing:
        raise CompareInputError(f"Intra-LPIPS and Intra-Style-L need torchvision's ImageNet VGG weights, not on disk: "
                                f"download {'; '.join(missing)} (or compare the tiny models: --tiny)")
    try:
        torch_device = pick_device(device)
        clip = load_clip("tiny" if tiny else "ViT-B-32", device)
    except (NoGPUError, ClipLoadError) as err:
        raise CompareInputError(str(err)) from err
    try:
        inception = metrics.load_inception(torch_device)
    except metrics.MetricWeightsError as err:
        print(f"note: {err}; FID and KID are left out of the table, the other metrics run", file=sys.stderr)
        inception = None
    return {"lpips": load_lpips(not tiny, torch_device), "style": metrics.load_style_net(not tiny, torch_device),
            "clip": clip, "inception": inception}


def references_per_prompt(config, seeds: int) -> int:
    """As many single-window samples per prompt as the method has square crops of that prompt's panoramas."""
    return seeds * (config.panorama_width // config.panorama_height)


def grid_cells(configs, reference, prompts, seeds) -> list:
    """(method, config, prompt, seed) of every sample: the methods' panoramas, then the single-window references."""
    cells = [(name, config, prompt, seed) for name, config in configs.items() for prompt in prompts
             for seed in range(1, seeds + 1)]
    count = references_per_prompt(next(iter(configs.values())), seeds)
    return cells + [(REFERENCE, reference, prompt, seed) for prompt in prompts for seed in range(1, count + 1)]


def is_done(path) -> bool:
    return path.is_file() and path.with_suffix(".json").is_file()


def save_cell(path, image, seconds: float) -> None:
    """The PNG, then its .json: written each to a temporary name and renamed, so a run killed halfway leaves no cell
    that looks finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for final, write in ((path, lambda tmp: image.save(tmp, format="PNG")),
                         (path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps({"seconds": seconds})))):
        temporary = final.with_name(final.name + ".tmp")
        write(temporary)
        os.replace(temporary, final)


def run_grid(out, configs, reference, prompts, seeds) -> None:
    """Samples every cell that is not done yet, one model per method, with tqdm over the whole grid."""
    from main import build_model
    from synckit.models import ModelLoadError

    cells = grid_cells(configs, reference, prompts, seeds)
    todo = [cell for cell in cells if not is_done(cell_path(out, cell[0], cell[2], cell[3]))]
    with tqdm(total=len(cells), initial=len(cells) - len(todo), desc="compare", unit="image") as bar:
        for name, group in groupby(todo, key=lambda cell: cell[0]):
            group = list(group)
            try:
                model = build_model(group[0][1])
            except ModelLoadError as err:
                raise CompareInputError(f"method {name}: {err}") from err
            for _, config, prompt, seed in group:
                model.config = dataclasses.replace(config, seed=seed)  # the noise is drawn from config.seed at each call
                started = time.perf_counter()
                try:
                    image = model(prompt, config.negative_prompt, progress=False)
                except NotImplementedError as err:  # a TODO of the student release that the method needs
                    raise CompareInputError(f"method {name}: {err}") from err
                save_cell(cell_path(out, name, prompt, seed), image, round(time.perf_counter() - started, 3))
                bar.update()
            del model


def panorama_row(panorama, scorers, window_px: int, prompt: str, crops_generator, clip_crops: int) -> dict:
    crops = metrics.random_crops(panorama, clip_crops, crops_generator)
    return {
        "intra_lpips": metrics.intra_lpips(panorama, scorers["lpips"]),
        "intra_style": metrics.intra_style(panorama, scorers["style"]),
        "seam": metrics.seam_score(panorama, window_px),
        "wrap_seam": metrics.wrap_seam_score(panorama),
        "clip": float(np.mean(metrics.clip_scores(scorers["clip"], crops, prompt))),
    }


def load(path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def summary(values) -> list:
    """[mean, std] over the panoramas (numpy's std, ddof 0)."""
    return [float(np.mean(values)), float(np.std(values))]


def write_results(out, configs, prompts, seeds, scorers, clip_crops) -> dict:
    """Every panorama's metrics, each method's mean and std, FID and KID of its crops against the single-window
    samples; writes table.md, table.csv and grid.png and returns the per-method summary for run.json."""
    first = next(iter(configs.values()))
    references = torch.cat([metrics.square_crops(load(cell_path(out, REFERENCE, prompt, seed)))
                            for prompt in prompts for seed in range(1, references_per_prompt(first, seeds) + 1)])
    results = {}
    for name, config in tqdm(configs.items(), desc="metrics", unit="method"):
        rows, crops, seconds = [], [], []
        for index, prompt in enumerate(prompts):
            for seed in range(1, seeds + 1):
                path = cell_path(out, name, prompt, seed)
                panorama = load(path)
                # the same random crops for every method: seeded by the panorama's seed and prompt, not the method
                generator = np.random.default_rng([seed, index])
                rows.append(panorama_row(panorama, scorers, config.rgb_instance_size, prompt, generator, clip_crops))
                crops.append(metrics.square_crops(panorama))
                seconds.append(json.loads(path.with_suffix(".json").read_text())["seconds"])
        result = {metric: summary([row[metric] for row in rows]) for metric in rows[0]}
        result["seconds"] = summary(seconds)
        if scorers["inception"] is not None:
            result.update(metrics.fid_kid(torch.cat(crops), references, scorers["inception"]))
        results[name] = result
    write_tables(out, results, {"prompts": len(prompts), "seeds": seeds, "config": first,
                                "references": len(references), "fid": scorers["inception"] is not None})
    write_grid(out, {name: [[load(cell_path(out, name, prompt, seed)) for seed in range(1, seeds + 1)]
                            for prompt in prompts] for name in configs}, prompts)
    return results
