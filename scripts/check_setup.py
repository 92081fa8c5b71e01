"""Can this machine run the assignment? A setup check for students and TAs.

    python scripts/check_setup.py                   # with a CUDA GPU: the real architectures at the course's settings
    python scripts/check_setup.py --json check.json # the same report as JSON
    python scripts/check_setup.py --tiny --steps 2  # the tiny models (what runs without a GPU), 2 steps per stage

On a GPU it builds every network the course uses at its real size from the configs in scripts/architectures/
(no download: random weights cost the same time and memory as trained ones; where the Hugging Face cache holds
a model's own config.json, that one is used), puts them into the kit's WideImageModel and AmbiguousImageModel in
place of the tiny stand-ins, and runs through the kit's own code:

  - the panorama: 512x3072 px from 41 windows, 50 DDIM steps with classifier-free guidance, one VAE decode;
  - the anagram: T5-XXL prompt encoding, IF stage I (30 steps, 64 px), IF stage II (30 steps, 256 px);
  - the GPU grading stage's work for one submission: one regeneration per submitted image folder (one prompt
    per task, grading/rubric.toml [reproduction]; the folders' flags are synckit.layout.RUNS) and CLIP ViT-B/32
    (random weights) on as many images as the grader scores.

It prints, per phase, the time, the peak GPU memory, whether every network output was finite, then the largest
--view_batch_size that fits and a verdict. Without a CUDA GPU it runs the same code on the tiny models and says
so: that checks the code paths, not the machine (the real sizes would take hours on a CPU).
"""

import argparse
import dataclasses
import functools
import gc
import json
import time
from collections.abc import Mapping
from pathlib import Path

import diffusers
import torch
import transformers
from huggingface_hub import try_to_load_from_cache
from tqdm.auto import tqdm

from configs.ambiguous_image_config import load_ambiguous_image_config
from configs.wide_image_config import load_wide_image_config
from eval import ClipScorer, load_clip
from guidance.ambiguous_image_model import AmbiguousImageModel
from guidance.wide_image_model import WideImageModel
from synckit.layout import AMBIGUOUS_APP, PROMPT_FIELDS, RUNS, WIDE_APP, read_prompts
from synckit.models import place, resolve_dtype, resolve_offload
from synckit.reproduction import mean_abs_difference

ARCHITECTURES_DIR = Path(__file__).resolve().parent / "architectures"
ARCHITECTURES = {  # file in ARCHITECTURES_DIR: the network
    "sd2-base-unet": "SD2-base UNet",
    "sd2-base-vae": "SD2-base VAE",
    "sd2-base-text-encoder": "SD2-base text encoder (OpenCLIP-H)",
    "t5-v1_1-xxl-encoder": "IF text encoder (T5-XXL)",
    "if-i-m-unet": "IF-I-M UNet",
    "if-ii-m-unet": "IF-II-M UNet",
}
CLIP_MODEL = "ViT-B-32-quickgelu"  # eval.py's ViT-B/32: the OpenAI weights were trained with QuickGELU
CLIP_BATCH = 32  # images per CLIP call, as eval.evaluate_folder
COURSE_GEOMETRY = ["--rgb_instance_size", "512", "--latent_instance_size", "64", "--window_stride", "8",
                   "--panorama_height", "512", "--panorama_width", "3072"]


# --------------------------------------------------------------------------------------------
# the real architectures
# --------------------------------------------------------------------------------------------

def architecture(name: str) -> tuple:
    """(config, where it came from) of network `name`: the model's own config.json when the Hugging Face cache
    has it (a machine that downloaded the weights), else the committed scripts/architectures/<name>.json."""
    committed = json.loads((ARCHITECTURES_DIR / f"{name}.json").read_text(encoding="utf-8"))
    cached = try_to_load_from_cache(committed["_hub"]["repo"], committed["_hub"]["file"])
    if isinstance(cached, str):  # a path; None or a "known missing" marker otherwise
        return json.loads(Path(cached).read_text(encoding="utf-8")), f"Hugging Face cache ({committed['_hub']['repo']})"
    return committed, f"scripts/architectures/{name}.json"


def build_network(name: str, device, dtype: torch.dtype) -> torch.nn.Module:
    """Network `name` at its real size with random weights, allocated on `device` in `dtype` from the start
    (T5-XXL alone is 19 GB in float32). device="meta" builds it without memory, to count its parameters."""
    config, _ = architecture(name)
    fields = {key: value for key, value in config.items() if not key.startswith("_")}
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            if "_class_name" in config:  # a diffusers model
                return getattr(diffusers, config["_class_name"]).from_config(fields).eval()
            model_class = getattr(transformers, config["architectures"][0])
            return model_class(model_class.config_class.from_dict(fields)).eval()
    finally:
        torch.set_default_dtype(default_dtype)


def architectures_report() -> list:
    """Every real network built on the meta device: its parameter count and where its config came from."""
    import open_clip

    rows = []
    for name, title in ARCHITECTURES.items():
        network = build_network(name, "meta", torch.float16)
        rows.append({"network": title, "parameters": sum(p.numel() for p in network.parameters()),
                     "config": architecture(name)[1]})
    clip = open_clip.create_model(CLIP_MODEL, pretrained=None, device="meta")
    rows.append({"network": "CLIP ViT-B/32 (eval.py)", "parameters": sum(p.numel() for p in clip.parameters()),
                 "config": f"open_clip's {CLIP_MODEL}"})
    return rows


def use_real_sd_networks(model: WideImageModel) -> None:
    """Replace the tiny SD networks of a loaded WideImageModel with the real-size ones (the tokenizer and the
    DDIM scheduler stay: a prompt is 77 tokens either way, and the schedule is SD2's)."""
    pipe = model.model
    pipe.unet = build_network("sd2-base-unet", model.device, model.dtype)
    pipe.vae = build_network("sd2-base-vae", model.device, model.dtype)
    pipe.text_encoder = build_network("sd2-base-text-encoder", model.device, model.dtype)
    place(pipe, model.device, model.offload)  # the new networks where --offload wants them


def use_real_if_networks(model: AmbiguousImageModel) -> None:
    """Replace the tiny IF networks of a loaded AmbiguousImageModel with the real-size ones."""
    model.stage_1.text_encoder = build_network("t5-v1_1-xxl-encoder", model.device, model.dtype)
    model.stage_1.unet = build_network("if-i-m-unet", model.device, model.dtype)
    model.stage_2.unet = build_network("if-ii-m-unet", model.device, model.dtype)
    for pipe in (model.stage_1, model.stage_2):
        place(pipe, model.device, model.offload)


def random_clip(device) -> ClipScorer:
    """eval.py's CLIP ViT-B/32 with random weights: the OpenAI weights would be a 600 MB download."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(CLIP_MODEL, pretrained=None, device=device)
    return ClipScorer(model, preprocess, open_clip.get_tokenizer("ViT-B-32"), device, f"{CLIP_MODEL}, random weights")


# --------------------------------------------------------------------------------------------
# measuring one phase
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Phase:
    name: str
    seconds: float
    peak_gpu_gib: float | None  # None on a CPU
    finite: bool  # every output of the phase's networks was free of NaN and inf (False if it did not finish)
    note: str = ""  # why it did not finish

    @property
    def ok(self) -> bool:
        return self.finite and not self.note


def tensors_in(output) -> list:
    """The tensors of a network's output: a tensor, or a (nested) tuple, list or ModelOutput of them."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [tensor for item in output for tensor in tensors_in(item)]
    return []


class FiniteOutputs:
    """Forward hooks that remember whether every tensor the watched networks output was finite."""

    def __init__(self, networks):
        self.checks = []
        self.hooks = [network.register_forward_hook(self.record) for network in networks]

    def record(self, module, inputs, output):
        # kept on the device and read once at the end: reading each one would stall the GPU every call
        self.checks += [torch.isfinite(tensor).all() for tensor in tensors_in(output)]

    def all_finite(self) -> bool:
        return all(bool(check) for check in self.checks)

    def remove(self):
        for hook in self.hooks:
            hook.remove()


def measure(name: str, work, device: torch.device, networks) -> tuple:
    """Run `work()` once: (its Phase, its result or None if it did not finish)."""
    cuda = device.type == "cuda"
    if cuda:
        gc.collect()  # the peak is this phase's: no networks of the phase before, nothing cached
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    watch = FiniteOutputs(networks)
    result, note = None, ""
    start = time.perf_counter()
    try:
        result = work()
        if cuda:
            torch.cuda.synchronize(device)
    except torch.cuda.OutOfMemoryError:
        note = "out of GPU memory"
    except FloatingPointError as err:  # the kit stops sampling at the first step with NaN or inf, naming it
        note = str(err).split(":")[0]
    except NotImplementedError as err:  # a student release before its TODO functions are written
        note = str(err)
    finally:
        watch.remove()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_reserved(device) / 2**30 if cuda else None
    return Phase(name, seconds, peak, result is not None and watch.all_finite(), note), result


# --------------------------------------------------------------------------------------------
# the phases
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Settings:
    real: bool  # real-size networks on the GPU; else the tiny models on the default device
    dtype: str  # the kit's --dtype
    offload: str  # the kit's --offload
    steps: int | None  # --num_inference_steps for every run; None: the course's

    def flags(self, app: str, *extra) -> list:
        """The kit's flags for `app`: the tiny model folders (their tokenizers and schedulers serve the real
        networks too), and with the real networks the GPU and the course's panorama geometry."""
        flags = ["--tiny", "--dtype", self.dtype, "--offload", self.offload, *extra]
        if self.real:
            flags += ["--device", "cuda", *(COURSE_GEOMETRY if app == WIDE_APP else [])]
        if self.steps:
            flags += ["--num_inference_steps", str(self.steps)]
        return flags


def regeneration_configs(settings: Settings, app: str) -> dict:
    """{submission folder: config} for every folder `app` fills, as the grader regenerates it: the folder's flags
    and one prompt (grading/rubric.toml [reproduction] prompts_per_task), the first of the app's data file."""
    entry = next(iter(read_prompts(app).values()))
    prompts = [entry[field] for field in PROMPT_FIELDS[app]]
    prompt_flags = ["--prompt", *prompts] if app == WIDE_APP else ["--prompts", *prompts]
    load = load_wide_image_config if app == WIDE_APP else load_ambiguous_image_config
    return {folder: load(settings.flags(app, *prompt_flags, *flags))
            for folder, (folder_app, flags) in RUNS.items() if folder_app == app}


@torch.no_grad()
def largest_view_batch_size(model: WideImageModel, prompt: str) -> int:
    """The largest --view_batch_size whose denoising step fits on the device, from all windows in one UNet call
    down to one window per call (each doubled for guidance); 0 if none does."""
    embeds = model.model.encode_prompt(prompt, model.device, 1, True, negative_prompt="")
    model.scheduler.set_timesteps(model.config.num_inference_steps)
    alphas, sigmas = model.noise_schedule()
    z = torch.randn(1, 4, model.latent_height, model.latent_width, device=model.device, dtype=model.dtype)
    xts = model.forward_mapping(z)
    config, windows = model.config, len(model.mapper)
    try:
        for size in sorted({windows, 32, 16, 8, 4, 2, 1} & set(range(1, windows + 1)), reverse=True):
            model.config = dataclasses.replace(config, view_batch_size=size)
            try:
                model.one_step_process({"xts": xts}, model.scheduler.timesteps[0], alphas, sigmas,
                                       prompt_embeds=embeds[0], negative_prompt_embeds=embeds[1])
                return size
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
        return 0
    finally:
        model.config = config


def spread(name: str, first: list, second: list) -> dict:
    """How far two runs that should make the same pictures are apart, as the grader measures it (None if either
    did not run): what the reproduction tolerance must absorb on this machine."""
    if not first or not second:
        return {"runs": name, "mean_abs_diff": None}
    return {"runs": name, "mean_abs_diff": max(mean_abs_difference(a, b) for a, b in zip(first, second, strict=True))}


def wide_phases(settings: Settings) -> tuple:
    """The panorama, the grader's regenerations of the wide-image folders, the panorama again with half the
    view batch, and the largest --view_batch_size: ([Phase], [images], [spread], largest size or None if the
    panorama did not run, number of windows). The networks are freed on return."""
    configs = regeneration_configs(settings, WIDE_APP)
    config = next(iter(configs.values()))
    model = WideImageModel(config)
    if settings.real:
        use_real_sd_networks(model)
    pipe = model.model
    networks = [pipe.text_encoder, pipe.unet, pipe.vae.decoder]
    name = f"panorama ({config.num_inference_steps} steps, {len(model.mapper)} windows, VAE decode)"
    phases, images = [], []
    for phase_name, folder_config in [(name, config)] + [(f"grading: regenerate {folder}", folder_config)
                                                        for folder, folder_config in configs.items()]:
        model.config = folder_config
        work = functools.partial(model, folder_config.jobs[0]["prompt"], folder_config.negative_prompt)
        phase, panorama = measure(phase_name, work, model.device, networks)
        phases.append(phase)
        images.append(panorama)
    # the first regeneration has the panorama's own settings: the two differ only by run-to-run noise
    model.config = dataclasses.replace(config, view_batch_size=max(1, config.view_batch_size // 2))
    phase, rebatched = measure(f"panorama again, --view_batch_size {model.config.view_batch_size}",
                               functools.partial(model, config.jobs[0]["prompt"], config.negative_prompt),
                               model.device, networks)
    spreads = [spread("panorama, run to run", images[:1], images[1:2]),
               spread(f"panorama, --view_batch_size {config.view_batch_size} vs {model.config.view_batch_size}",
                      images[:1], [rebatched] if rebatched else [])]
    largest = largest_view_batch_size(model, config.jobs[0]["prompt"]) if phases[0].ok else None
    return [*phases, phase], [image for image in images if image], spreads, largest, len(model.mapper)


def ambiguous_phases(settings: Settings) -> tuple:
    """The anagram and the grader's regenerations of the anagram folders: ([Phase], [images], [spread])."""
    configs = regeneration_configs(settings, AMBIGUOUS_APP)
    config = next(iter(configs.values()))
    model = AmbiguousImageModel(config)
    if settings.real:
        use_real_if_networks(model)
    networks = [model.stage_1.text_encoder, model.stage_1.unet, model.stage_2.unet]
    steps = config.num_inference_steps
    name = f"anagram (T5, stage I {steps} steps, stage II {steps} steps)"
    phases, runs = [], []
    for phase_name, folder_config in [(name, config)] + [(f"grading: regenerate {folder}", folder_config)
                                                        for folder, folder_config in configs.items()]:
        model.config = folder_config
        model.init_mapper()  # the views of this folder's flags (Task 3: identity + inner_rotate)
        phase, views = measure(phase_name, functools.partial(model, folder_config.jobs[0]["prompts"]), model.device,
                               networks)
        phases.append(phase)
        runs.append(views or [])
    # the first regeneration has the anagram's own settings
    return phases, [view for views in runs for view in views], [spread("anagram, run to run", runs[0], runs[1])]


def graded_image_count() -> int:
    """How many images the grader scores with CLIP in a full submission: every eval_pos crop of every panorama
    and every view of every anagram, in each folder that synckit.layout.RUNS lists."""
    per_folder = {
        WIDE_APP: sum(len(entry["eval_pos"]) for entry in read_prompts(WIDE_APP).values()),
        AMBIGUOUS_APP: len(PROMPT_FIELDS[AMBIGUOUS_APP]) * len(read_prompts(AMBIGUOUS_APP)),
    }
    return sum(per_folder[app] for app, _ in RUNS.values())


def clip_phase(settings: Settings, images: list) -> Phase:
    """CLIP scores of as many images as the grader scores (the regenerated ones, repeated) against every prompt."""
    count = graded_image_count()
    name = f"grading: CLIP scores of {count} images"
    if not images:
        return Phase(name, 0.0, None, False, "nothing to score: no image was made")
    scorer = random_clip(torch.device("cuda")) if settings.real else load_clip("tiny", device="auto")
    scored = [images[index % len(images)] for index in range(count)]
    prompts = [entry[field] for app in (WIDE_APP, AMBIGUOUS_APP) for entry in read_prompts(app).values()
               for field in PROMPT_FIELDS[app]]

    def score():
        batches = range(0, count, CLIP_BATCH)
        features = [scorer.image_features(scored[start:start + CLIP_BATCH]) for start in tqdm(batches, desc="CLIP")]
        return torch.cat(features) @ scorer.text_features(prompts).T

    networks = [scorer.model.visual, scorer.model.transformer]
    return measure(name, score, scorer.device, networks)[0]


# --------------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------------

def machine(device: torch.device) -> str:
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
    return f"CPU ({torch.get_num_threads()} torch threads)"


def verdict(settings: Settings, phases: list, largest_batch: int) -> str:
    """One line: can this machine run the assignment, and how long do the panorama and the anagram take."""
    failed = [f"{phase.name}: {phase.note or 'NaN or inf in an output'}" for phase in phases if not phase.ok]
    if largest_batch == 0:
        failed.append("no --view_batch_size fits, not even 1")
    if failed:
        return "this machine cannot run the assignment as set up: " + "; ".join(failed)
    if not settings.real:
        return ("the tiny models ran every pipeline with finite outputs: the code works here. Time and memory of "
                "the assignment: run this check on the GPU machine")
    panorama, anagram = (next(phase.seconds for phase in phases if phase.name.startswith(kind))
                         for kind in ("panorama", "anagram"))
    grading = sum(phase.seconds for phase in phases if phase.name.startswith("grading"))
    return (f"this GPU can run the assignment: panorama ~{panorama:.0f} s, anagram ~{anagram:.0f} s; the grader's "
            f"GPU work for one submission ~{grading:.0f} s (model loading not included)")


def run_check(settings: Settings) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # the kit's --device auto, as the tiny runs
    torch.manual_seed(0)  # the same random weights every run
    wide, wide_images, wide_spreads, largest_batch, windows = wide_phases(settings)
    ambiguous, ambiguous_images, ambiguous_spreads = ambiguous_phases(settings)
    phases = [*wide, *ambiguous, clip_phase(settings, wide_images + ambiguous_images)]
    return {
        "machine": machine(device),
        "networks": ("real-size architectures, random weights" if settings.real
                     else "the tiny models (random weights) at the tiny geometry: a check of the code, not of a GPU"),
        "dtype": str(resolve_dtype(settings, device)).replace("torch.", ""),
        "offload": resolve_offload(settings, device),
        "architectures": architectures_report(),
        "phases": [dataclasses.asdict(phase) for phase in phases],
        "reproduction_spread": wide_spreads + ambiguous_spreads,
        "largest_view_batch_size": largest_batch,
        "windows": windows,
        "verdict": verdict(settings, phases, largest_batch),
    }


def format_report(report: dict) -> str:
    lines = [f"synckit setup check on {report['machine']}: {report['networks']}, {report['dtype']}, "
             f"--offload {report['offload']}", "",
             f"{'network':<38}{'parameters':>14}   config"]
    for row in report["architectures"]:
        lines.append(f"{row['network']:<38}{row['parameters'] / 1e6:>12.1f} M   {row['config']}")
    lines += ["", f"{'phase':<60}{'time':>9}{'peak GPU memory':>17}{'finite':>8}"]
    for phase in report["phases"]:
        memory = "-" if phase["peak_gpu_gib"] is None else f"{phase['peak_gpu_gib']:.1f} GiB"
        note = f"   {phase['note']}" if phase["note"] else ""
        lines.append(f"{phase['name']:<60}{phase['seconds']:>7.1f} s{memory:>17}{'yes' if phase['finite'] else 'NO':>8}{note}")
    largest = report["largest_view_batch_size"]
    fits = "not probed (the panorama did not run)" if largest is None else f"{largest} of {report['windows']} windows per step"
    lines += ["", "reproduction spread (the largest mean |difference| of one image's 0..1 pixels, as the grader measures):"]
    for row in report["reproduction_spread"]:
        difference = "did not run" if row["mean_abs_diff"] is None else f"{row['mean_abs_diff']:.4f}"
        lines.append(f"  {row['runs']:<56}{difference:>12}")
    lines += ["", f"largest --view_batch_size that fits: {fits}", f"verdict: {report['verdict']}"]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--real", action="store_true", help="the real-size networks (needs a CUDA GPU; the default on one)")
    models.add_argument("--tiny", action="store_true", help="the tiny models (the default without a CUDA GPU)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float16", "float32"],
                        help="auto: float16 on a GPU, float32 on a CPU (the kit's own rule)")
    parser.add_argument("--offload", default="auto", choices=["auto", "model", "none"],
                        help="the kit's --offload (auto: model on a GPU): compare the peak memory of both")
    parser.add_argument("--steps", type=int, help="sampling steps of every stage (default: the course's, 50 and 30)")
    parser.add_argument("--json", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.real and not torch.cuda.is_available():
        parser.exit(2, "error: --real runs the real-size networks on a CUDA GPU, and torch sees none on this machine; "
                       "without --real the check runs the tiny models here\n")
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")

    settings = Settings(real=args.real or (torch.cuda.is_available() and not args.tiny), dtype=args.dtype, offload=args.offload,
                        steps=args.steps)
    report = run_check(settings)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
