"""Flags shared by the apps, and the two-pass parse that lets `--tiny` change defaults.

`--tiny` swaps in the tiny models shipped in `tiny_models/`, a scaled-down geometry and the toy world's
prompt file (data/toy_<app>_prompts.json: the tiny models know only its words), but any flag given
explicitly on the command line still wins: we parse once to see `--tiny`, install the tiny defaults,
then parse again.
"""

import argparse
import functools
from dataclasses import make_dataclass
from pathlib import Path
from types import MappingProxyType

from synckit.layout import REPO_ROOT, SYNC_TARGETS, PromptFileError, data_file, read_prompts

TINY_MODELS_DIR = REPO_ROOT / "tiny_models"


def add_common_args(parser: argparse.ArgumentParser, app: str, submission: bool = True) -> None:
    """The flags every app has; `submission`: also those of the apps that fill a submission folder from a prompt data
    file and choose what is synchronized (--sync_target, --all_prompts, --prompts_file)."""
    parser.add_argument("--app", default=app, choices=[app])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--num_inference_steps", type=int)
    parser.add_argument("--guidance_scale", type=float)
    if submission:
        parser.add_argument(
            "--sync_target", default="x0", choices=SYNC_TARGETS,
            help="what is averaged across instances each step: eps (Visual Anagrams), "
                 "x0 (SyncTweedies, default) or xt (MultiDiffusion)",
        )
    parser.add_argument(
        "--view_batch_size", type=int, default=16,
        help="instances per UNet call (each doubled for classifier-free guidance); lower it to save GPU memory",
    )
    parser.add_argument("--gpu", type=int, default=0, help="CUDA device index")
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cuda", "cpu"],
        help="auto: the GPU if there is one; the real models refuse to run on CPU unless --device cpu",
    )
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float16", "float32"],
        help="auto: float16 on GPU, float32 on CPU",
    )
    parser.add_argument(
        "--offload", default="auto", choices=["auto", "model", "none"],
        help="model: the networks wait on the CPU and each moves to the GPU only while it runs (diffusers' "
             "enable_model_cpu_offload: T5 leaves the GPU once the prompts are encoded, IF stage I before stage II, "
             "the SD UNet before the VAE decode); none: all stay on the GPU; auto: model on a GPU, none on a CPU. "
             "It moves weights, never changes a number of the result",
    )
    parser.add_argument("--save_top_dir", default="./outputs")
    parser.add_argument("--tag", default=None, help="output folder name under --save_top_dir (default: the app)")
    parser.add_argument("--save_dir_now", action="store_true", help="add a time-stamped sub-folder, so runs never collide")
    if submission:
        parser.add_argument(
            "--all_prompts", action="store_true",
            help="generate every entry of --prompts_file into the handout's submission layout",
        )
        parser.add_argument(
            "--prompts_file", type=Path, default=data_file(app),
            help=f"default: data/{data_file(app).name}, with --tiny data/{data_file(app, toy=True).name}",
        )
    parser.add_argument("--tiny", action="store_true", help="tiny random-weight models and geometry, and the toy world's prompts: runs offline on a CPU in seconds")


def parse_with_tiny_defaults(parser, argv, tiny_defaults):
    """Parse `argv`; with --tiny, `tiny_defaults` replace the defaults (explicit flags still win)."""
    first_pass, _ = parser.parse_known_args(argv)
    if first_pass.tiny:
        parser.set_defaults(**tiny_defaults)
    config = parser.parse_args(argv)
    if config.tag is None:
        config.tag = config.app
    if config.view_batch_size < 1:
        parser.error(f"--view_batch_size must be at least 1, got {config.view_batch_size}")
    if config.num_inference_steps < 1:
        parser.error(f"--num_inference_steps must be at least 1, got {config.num_inference_steps}")
    return config


def frozen(config: argparse.Namespace, class_name: str):
    """The checked settings, read-only from here on: a frozen dataclass with one typed field per flag (and the
    jobs), lists as tuples and dicts as read-only mappings. A variant is `dataclasses.replace(config, seed=2)`,
    a new object; what varies per call (the sync target) is an argument of the call, not a setting."""
    values = {name: read_only(value) for name, value in vars(config).items()}
    return config_class(class_name, tuple((name, type(value)) for name, value in values.items()))(**values)


@functools.lru_cache(maxsize=None)
def config_class(class_name: str, fields: tuple):
    """One class per app and set of fields, so that two configs of one app compare equal when their values do."""
    return make_dataclass(class_name, fields, frozen=True)


def read_only(value):
    if isinstance(value, (list, tuple)):
        return tuple(read_only(item) for item in value)
    if isinstance(value, dict):
        return MappingProxyType({key: read_only(item) for key, item in value.items()})
    return value


def read_prompts_file(parser, config) -> dict:
    """The entries of --prompts_file for config.app, every one checked, or a parser error saying what is wrong."""
    try:
        return read_prompts(config.app, config.prompts_file)
    except PromptFileError as err:
        parser.error(str(err))


UNKNOWN_WORDS_SHOWN = 8  # a warning names this many words the tiny models do not know, then "and N more"


def tiny_prompts_warning(prompts, app: str, consequence: str) -> str:
    """One line, "warning: ...", naming the words of `prompts` that the tiny models never learned (outside the toy
    world's vocabulary) and what follows from it, or "" when every word is the toy world's."""
    from synckit import toyworld  # numpy and PIL: only for the runs that need it

    unknown = list(dict.fromkeys(word for prompt in prompts for word in toyworld.unknown_words(prompt)))
    if not unknown:
        return ""
    shown = ", ".join(f'"{word}"' for word in unknown[:UNKNOWN_WORDS_SHOWN])
    if len(unknown) > UNKNOWN_WORDS_SHOWN:
        shown += f" and {len(unknown) - UNKNOWN_WORDS_SHOWN} more"
    return (
        f"warning: the tiny models know only the toy world's words ({len(toyworld.VOCABULARY)} of them, from the "
        f"captions of synckit/toyworld.py): {shown} {'is' if len(unknown) == 1 else 'are'} not among them, so "
        f"{consequence}; see data/{data_file(app, toy=True).name} for prompts they know"
    )


def check_prompt(parser, prompt: str, flag: str) -> None:
    if not prompt or not prompt.strip():
        parser.error(f"{flag} is empty; give the text prompt in quotes, e.g. {flag} \"a painting of a horse\"")
