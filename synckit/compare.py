"""Compare wide-image methods on the same prompts, seeds and geometry: coherence and fidelity metrics in a table,
and the panoramas in a figure grid.

    python -m synckit.compare --tiny --methods eps x0 xt --seeds 2 --out outputs/compare_tiny
    python -m synckit.compare --methods eps x0 xt guided gvcf --seeds 4 --out outputs/compare   # SD2, on a GPU

Every method is a preset of main.py's wide-image flags (METHODS), sampled through the kit's own model code
(main.build_model); the comparison adds nothing to the sampling. DIR gets one PNG per panorama (and per single-window
reference sample, FID's reference set), run.json with the settings, table.md, table.csv and grid.png. A cell (method,
prompt, seed) whose files are there is not sampled again, so a run that stopped resumes where it stopped; DIR must then
hold a comparison with the same settings, or the run is refused, naming the difference. Bad input stops with one line
before anything is sampled.
"""

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from synckit.layout import WIDE_APP, PromptFileError, data_file, prompt_key, read_prompts

# Each method's flags for main.py --app wide_image (README: the sync targets, GVCFDiffusion, 360°, SyncDiffusion).
METHODS = {
    "eps": ("--sync_target", "eps"),  # ε̂ averaged (Visual Anagrams' target)
    "x0": ("--sync_target", "x0"),  # x̂0 averaged (SyncTweedies; the kit's default)
    "xt": ("--sync_target", "xt"),  # x_{t-1} averaged (MultiDiffusion)
    "guided": ("--fusion", "guided", "--sync_target", "xt"),  # GVCFDiffusion's guided fusion, on DDIM's x_{t-1}
    "ddpm": ("--sampler", "ddpm", "--sync_target", "xt"),  # MultiDiffusion with DDPM: averaged noise blurs
    "vcf": ("--sampler", "ddpm", "--fusion", "vcf", "--sync_target", "xt"),
    "gvcf": ("--sampler", "ddpm", "--fusion", "gvcf", "--sync_target", "xt"),  # GVCFDiffusion's default
    "style_align": ("--style_align", "0.5"),  # one-shot style alignment (the reference suggests 0.1 to 1)
    "circular": ("--circular",),  # a 360° panorama
    "syncdiffusion": ("--syncdiffusion_weight", "20", "--sync_target", "xt"),  # the reference's weight and target
}
# SyncDiffusion is left out of the default list: its gradient steps cost ~28 plain panoramas each (README)
DEFAULT_METHODS = ("eps", "x0", "xt", "guided", "gvcf", "style_align", "circular")
TINY_PROMPTS = 2  # --tiny without --prompts: the toy data file's first two, so that the grid stays small


class CompareInputError(ValueError):
    """The comparison cannot run as asked; the message says what to change."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), metavar="METHOD",
                        help=f"any of {', '.join(METHODS)} (default: {' '.join(DEFAULT_METHODS)})")
    parser.add_argument("--prompts", nargs="+", metavar="PROMPT",
                        help="prompt texts (default: every prompt of --prompts_file; with --tiny its first "
                             f"{TINY_PROMPTS})")
    parser.add_argument("--prompts_file", type=Path,
                        help=f"prompts in the data-file format (default data/{data_file(WIDE_APP).name}, with --tiny "
                             f"data/{data_file(WIDE_APP, toy=True).name})")
    parser.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds 1..N per method and prompt")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (resumed if it holds "
                        "this comparison)")
    parser.add_argument("--tiny", action="store_true", help="tiny models and geometry, offline on a CPU; the tiny "
                        "CLIP and random VGG trunks for the metrics")
    parser.add_argument("--steps", type=int, default=50, help="sampling steps of every method (default 50)")
    parser.add_argument("--clip_crops", type=int, default=1, metavar="K",
                        help="random square crops per panorama that CLIP scores (default 1, as SyncDiffusion's eval)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    return parser


def read_prompt_list(args) -> list[str]:
    if args.prompts:
        prompts = args.prompts
    else:
        try:
            entries = read_prompts(WIDE_APP, args.prompts_file or data_file(WIDE_APP, toy=args.tiny))
        except PromptFileError as err:
            raise CompareInputError(str(err)) from err
        prompts = [entry["prompt"] for entry in entries.values()]
        prompts = prompts[:TINY_PROMPTS] if args.tiny else prompts
    if any(not prompt.strip() for prompt in prompts):
        raise CompareInputError("an empty prompt: give each prompt as text in quotes")
    if len(set(prompts)) < len(prompts):
        raise CompareInputError("a prompt is given twice: give each prompt once")
    return prompts


def method_config(args, prompt: str, flags=(), name="reference"):
    """main.py's checked wide-image config for `flags`; a flag combination it refuses is one line naming the method."""
    from configs.wide_image_config import load_wide_image_config

    argv = ["--prompt", prompt, "--num_inference_steps", str(args.steps), "--device", args.device, *flags]
    argv += ["--tiny"] if args.tiny else []
    messages = io.StringIO()
    try:
        with contextlib.redirect_stderr(messages):  # argparse prints its usage first: the last line says what is wrong
            return load_wide_image_config(argv)
    except SystemExit:
        problem = messages.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]  # without argparse's "prog: error:"
        raise CompareInputError(f"method {name} ({' '.join(flags)}): {problem}") from None


def check_args(args) -> tuple[list[str], dict]:
    """The prompts and every method's config, or CompareInputError; nothing is loaded or sampled."""
    unknown = [name for name in args.methods if name not in METHODS]
    if unknown:
        raise CompareInputError(f"unknown method(s) {', '.join(unknown)}: use any of {', '.join(METHODS)}")
    if len(set(args.methods)) < len(args.methods):
        raise CompareInputError("a method is named twice in --methods: name each once")
    for flag, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--clip_crops", args.clip_crops)):
        if value < 1:
            raise CompareInputError(f"{flag} must be at least 1, got {value}")
    prompts = read_prompt_list(args)
    configs = {name: method_config(args, prompts[0], METHODS[name], name) for name in args.methods}
    return prompts, configs


def settings_of(args, prompts) -> dict:
    """What makes two runs' cells comparable: stored in run.json, and compared when a run resumes."""
    return {"methods": {name: list(METHODS[name]) for name in args.methods}, "prompts": prompts,
            "seeds": args.seeds, "steps": args.steps, "tiny": args.tiny, "clip_crops": args.clip_crops}


def shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def check_resume(out: Path, settings: dict) -> None:
    """An empty or new `out`, or one that holds this comparison; anything else is refused, naming the difference."""
    record = out / "run.json"
    if not out.exists() or not any(out.iterdir()):
        return
    if not record.is_file():
        raise CompareInputError(f"{out} has files but no run.json of a comparison: choose another --out")
    try:
        stored = json.loads(record.read_text(encoding="utf-8"))["settings"]
    except (ValueError, KeyError) as err:
        raise CompareInputError(f"{record} is not a comparison's record ({err}): choose another --out") from None
    differences = [f"{key} {shown(settings.get(key))} here, {shown(stored.get(key))} there"
                   for key in dict.fromkeys([*settings, *stored]) if settings.get(key) != stored.get(key)]
    if differences:
        raise CompareInputError(f"{out} holds a comparison with other settings ({'; '.join(differences)}): "
                                "run it with its own settings to resume it, or choose another --out")


def main(argv=None) -> Path:
    args = build_parser().parse_args(argv)
    try:
        prompts, configs = check_args(args)
        reference = method_config(args, prompts[0], single_window_flags(next(iter(configs.values()))))
        settings = settings_of(args, prompts)
        check_resume(args.out, settings)
        from synckit.compare_run import load_scorers  # torch, lpips, open_clip: after the quick checks

        scorers = load_scorers(args.tiny, args.device)
    except CompareInputError as err:
        sys.exit(f"error: {err}")
    if args.tiny:
        from configs.common import tiny_prompts_warning

        if warning := tiny_prompts_warning(prompts, WIDE_APP, "the pictures will not follow the prompts"):
            print(warning, file=sys.stderr)
    from synckit.compare_run import run_grid, write_results

    args.out.mkdir(parents=True, exist_ok=True)
    record = {"settings": settings, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    (args.out / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    try:
        run_grid(args.out, configs, reference, prompts, args.seeds)
    except CompareInputError as err:
        sys.exit(f"error: {err}")
    record["results"] = write_results(args.out, configs, prompts, args.seeds, scorers, args.clip_crops)
    (args.out / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"table: {args.out / 'table.md'}", file=sys.stderr)
    return args.out


def single_window_flags(config) -> tuple:
    """FID's reference: the same model's plain samples of one window, a panorama exactly one window wide and high."""
    return ("--panorama_width", str(config.rgb_instance_size), "--panorama_height", str(config.rgb_instance_size),
            "--eval_pos", "0")


def cell_path(out: Path, method: str, prompt: str, seed: int) -> Path:
    """A sample's PNG (its sampling time in the .json beside it, written last: together they make a finished cell)."""
    return out / "samples" / method / prompt_key(prompt) / f"seed{seed}.png"


if __name__ == "__main__":
    # `python -m synckit.compare` runs this file as __main__, a second copy of the module; synckit.compare_run raises
    # synckit.compare's CompareInputError, which only the package module's main() catches
    from synckit.compare import main as package_main

    package_main()
