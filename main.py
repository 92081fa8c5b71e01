"""Generate wide images, ambiguous images or higher-resolution images by diffusion synchronization.

    python main.py --app wide_image --prompt "A photo of a mountain range" --tag wide_image --save_dir_now
    python main.py --app ambiguous_image --prompts "a horse" "a snowy mountain village" --tag amb --save_dir_now
    python main.py --app wide_image --all_prompts --tag submission      # every prompt of data/*.json
    python main.py --app wide_image --regions data/region_layout.json   # region prompts (MultiDiffusion)
    python main.py --app highres_image --prompt "A photo of a mountain range" --scale 2   # 1024² (AccDiffusion)
    ... --tiny                                                           # offline, on a CPU, in seconds

With --tiny the prompts are the toy world's (data/toy_*_prompts.json): the tiny models know only its words,
and a prompt with other words gets a warning before anything is sampled.

Every setting is a flag (`--help` per app). Inputs are validated before any model loads; outputs go to
a new folder `save_top_dir/tag[/time stamp]`, with `run.json` recording settings, models and timings.
"""

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from synckit.layout import (HIGHRES_APP, MAIN_APPS, SUBMISSION_FOLDERS, WIDE_APP, crop_name, gif_name, image_name,
                            overlay_name, patch_prompts_name, phase_image_name, side_by_side_name)


def read_app(argv) -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--app", choices=MAIN_APPS)
    known, _ = parser.parse_known_args(argv)
    if known.app is None:
        parser.error(f"--app is required: one of {', '.join(MAIN_APPS)} (then --help lists that app's flags)")
    return known.app


def load_config(app, argv):
    if app == WIDE_APP:
        from configs.wide_image_config import load_wide_image_config
        return load_wide_image_config(argv)
    if app == HIGHRES_APP:
        from configs.highres_image_config import load_highres_image_config
        return load_highres_image_config(argv)
    from configs.ambiguous_image_config import load_ambiguous_image_config
    return load_ambiguous_image_config(argv)


def create_output_dir(config) -> Path:
    """A new folder for this run, `save_top_dir/tag[/time stamp]`; never one that has files in it.

    With --all_prompts it is the app's folder of the submission layout under that (`wide_images/`,
    `ambiguous_images/`), so both apps can fill one submission folder.
    """
    parent = Path(config.save_top_dir) / config.tag
    if config.save_dir_now:
        stamp = datetime.now().strftime("%m-%d-%H%M%S")
        for attempt in range(1, 1000):
            stamped = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            try:
                stamped.mkdir(parents=True)  # atomic: two runs started in the same second get different folders
                break
            except FileExistsError:
                continue
        else:
            sys.exit(f"error: could not create a new time-stamped folder under {parent}")
        parent = stamped
    all_prompts = getattr(config, "all_prompts", False)  # the apps that fill no submission folder have no --all_prompts
    folder = parent / SUBMISSION_FOLDERS[config.app] if all_prompts else parent
    if folder.exists() and any(folder.iterdir()):
        sys.exit(f"error: output folder {folder} already has files; choose another --tag, add --save_dir_now, or move it away")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def job_prompts(job) -> list:
    return [job["prompt"]] if "prompt" in job else list(job["prompts"])


def warn_about_tiny_prompts(config) -> None:
    """With --tiny, one line on stderr when a prompt has words the tiny models never learned."""
    if not config.tiny:
        return
    from configs.common import tiny_prompts_warning

    prompts = [prompt for job in config.jobs for prompt in job_prompts(job)]
    prompts_app = WIDE_APP if config.app == HIGHRES_APP else config.app  # its toy prompts are the wide app's scenes
    warning = tiny_prompts_warning(prompts, prompts_app, "the picture will not follow the prompt")
    if warning:
        print(warning, file=sys.stderr)


def build_model(config):
    if config.app == HIGHRES_APP:
        from guidance.highres_image_model import HighresImageModel
        return HighresImageModel(config)
    if config.app == WIDE_APP:
        from configs.wide_image_config import gvcf_flags
        if config.circular:
            from guidance.circular_wide_image_model import CircularWideImageModel as model_class
        else:
            from guidance.wide_image_model import WideImageModel as model_class
        if gvcf_flags(config):  # --fusion, --sampler, --style_align: GVCFDiffusion's fusions on those windows
            from guidance.fusion import with_gvcf
            model_class = with_gvcf(model_class)
        if config.syncdiffusion_weight:  # SyncDiffusion's gradient step before the steps of those windows
            from guidance.syncdiffusion import with_syncdiffusion
            model_class = with_syncdiffusion(model_class)
        if config.regions is not None:  # region prompts: every prompt of the layout on every window
            from guidance.regions import with_regions
            model_class = with_regions(model_class)
        return model_class(config)
    from guidance.ambiguous_image_model import AmbiguousImageModel
    return AmbiguousImageModel(config)


def save_wide_image(config, job, panorama, folder: Path) -> list:
    """The panorama and its eval_pos crops, named as the handout's submission layout."""
    from configs.wide_image_config import EVAL_POS_WINDOW

    saved = [image_name(job["prompt"])]
    panorama.save(folder / saved[0])
    size = config.rgb_instance_size
    for pos in job["eval_pos"]:
        x = pos * size // EVAL_POS_WINDOW  # eval_pos is given for the course's 512-px windows
        saved.append(crop_name(job["prompt"], pos))
        panorama.crop((x, 0, x + size, size)).save(folder / saved[-1])
    return saved


def save_region_image(config, model, job, folder: Path) -> list:
    """The layout's image `<layout name>.png`, and next to it the image with its regions tinted and a legend."""
    from synckit.regions import overlay

    image = model(config.negative_prompt)
    saved = [f"{job['name']}.png", overlay_name(job["name"])]
    image.save(folder / saved[0])
    overlay(image, model.layout, model.factor).save(folder / saved[1])
    return saved


def save_highres_image(config, model, job, folder: Path) -> tuple:
    """The final image `<key>.png`, each phase's `<key>_phase<s>.png` (1: the base image) and, with AccDiffusion,
    `<key>_patch_prompts.png`: the windows of the last phase with their words. Returns (files, what run.json adds)."""
    from utils.image_utils import labelled_boxes

    result = model(job["prompt"], config.negative_prompt)
    saved = [image_name(job["prompt"])]
    result["phases"][-1].save(folder / saved[0])
    for phase, image in enumerate(result["phases"], 1):
        saved.append(phase_image_name(job["prompt"], phase))
        image.save(folder / saved[-1])
    details = {}
    if result["patch_prompts"]:
        last = config.scale
        saved.append(patch_prompts_name(job["prompt"]))
        labelled_boxes(result["phases"][-1], result["windows"][last], result["patch_prompts"][last]).save(folder / saved[-1])
        details["patch_prompts"] = {str(scale): prompts for scale, prompts in result["patch_prompts"].items()}
        details["windows_px"] = {str(scale): [list(box) for box in boxes] for scale, boxes in result["windows"].items()}
    return saved, details


def save_ambiguous_image(job, view_images, folder: Path) -> list:
    """One PNG per view named after its prompt, a side-by-side and a GIF from view to view."""
    from utils.image_utils import save_view_gif, side_by_side

    views = [image_name(prompt) for prompt in job["prompts"]]
    for name, image in zip(views, view_images):
        image.save(folder / name)
    side_by_side(view_images).save(folder / side_by_side_name(job["name"]))
    save_view_gif(folder / gif_name(job["name"]), view_images)
    return views + [side_by_side_name(job["name"]), gif_name(job["name"])]


def settings_for_record(config) -> dict:
    return {key: str(value) if isinstance(value, Path) else value for key, value in vars(config).items() if key != "jobs"}


def library_versions() -> dict:
    from importlib.metadata import version
    return {name: version(name) for name in ("torch", "diffusers", "transformers")}


def main(argv=None) -> Path:
    argv = sys.argv[1:] if argv is None else argv
    app = read_app(argv)
    config = load_config(app, argv)  # every input check happens here, before anything heavy
    warn_about_tiny_prompts(config)

    from synckit.models import ModelLoadError

    output_dir = create_output_dir(config)
    started = time.perf_counter()
    try:
        model = build_model(config)
    except ModelLoadError as err:
        if not any(output_dir.iterdir()):
            output_dir.rmdir()
        sys.exit(f"error: {err}")
    record = {
        "app": app, "settings": settings_for_record(config),
        "device": str(model.device), "dtype": str(model.dtype).replace("torch.", ""),
        "load_seconds": round(time.perf_counter() - started, 2), "versions": library_versions(), "jobs": [],
    }
    for index, job in enumerate(config.jobs, 1):
        print(f"[{index}/{len(config.jobs)}] {job['name']}", file=sys.stderr)
        started = time.perf_counter()
        details = {}
        if app == HIGHRES_APP:
            saved, details = save_highres_image(config, model, job, output_dir)
        elif app == WIDE_APP and config.regions is not None:
            saved = save_region_image(config, model, job, output_dir)
        elif app == WIDE_APP:
            saved = save_wide_image(config, job, model(job["prompt"], config.negative_prompt), output_dir)
        else:
            saved = save_ambiguous_image(job, model(job["prompts"]), output_dir)
        record["jobs"].append({**job, **details, "seed": config.seed, "seconds": round(time.perf_counter() - started, 2), "files": saved})
        (output_dir / "run.json").write_text(json.dumps(record, indent=2))  # after every job: a crash keeps the record
    print(f"saved to {output_dir}", file=sys.stderr)
    return output_dir


if __name__ == "__main__":
    main()
