"""CLIP score of a folder of generated images, computed the way the course grades it.

    python eval.py --fdir1 outputs/submission/wide_images --app wide_images
    python eval.py --fdir1 outputs/submission/ambiguous_images --app ambiguous_images
    ... --clip_model tiny        # offline, the toy CLIP in tiny_models/: meaningful for toy prompts only

Each image is scored against the prompt its file name spells (underscores for spaces; a wide crop adds
`_<pos>`): the cosine similarity of CLIP ViT-B/32 (OpenAI weights) image and text features, raw, not
×100. Per prompt we take the mean over its images; the folder's "score" is the plain mean of those means,
so the course's thresholds (0.28 full marks, 0.26 half) mean what they meant. Writes FDIR/eval.json.

For ambiguous images it also reports Visual Anagrams' alignment and concealment for every pair of the
data file whose two views are both in the folder.

The tiny CLIP (`--clip_model tiny`) scores what `main.py --tiny` makes: its prompts are the toy world's
(data/toy_*_prompts.json) unless --prompts_file says otherwise, and a scored prompt with words the tiny models
do not know gets a warning, since its score means nothing.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from configs.common import TINY_MODELS_DIR, tiny_prompts_warning
from synckit.devices import NoGPUError, pick_device
from synckit.layout import (AMBIGUOUS_APP, AMBIGUOUS_DIR, APPS, EVAL_FILE, PROMPT_FIELDS, SUBMISSION_FOLDERS, WIDE_DIR,
                            PromptFileError, crop_name, data_file, image_name, prompt_key, read_prompts,
                            side_by_side_name)

# eval.py's --app is the submission folder it scores; the prompts are those of the main.py app that fills it
MAIN_APPS = {folder: app for app, folder in SUBMISSION_FOLDERS.items()}
TINY_CLIP = TINY_MODELS_DIR / "clip-vit-tiny"
CLIP_MODELS = ("ViT-B-32", "tiny")
# PNGs left next to the images that are scored: the original course code's, and main.py's side-by-sides
NOT_SCORED = re.compile(r"view_.*|final")
SIDE_BY_SIDE_SUFFIX = side_by_side_name("")  # what every side-by-side's name ends with
SHOWN_KEY = "<prompt_with_underscores>"  # a prompt's key in the error messages
NAME_FORMS = {
    WIDE_DIR: f"{crop_name(SHOWN_KEY, '<pos>')} (the crops; the panorama {image_name(SHOWN_KEY)} is skipped)",
    AMBIGUOUS_DIR: f"{image_name(SHOWN_KEY)}, one per view",
}


class EvalInputError(ValueError):
    """The folder or prompt file cannot be scored as given; the message says what to change."""


class ClipLoadError(RuntimeError):
    """The CLIP model could not be loaded; the message says what to do."""


# --------------------------------------------------------------------------------------------
# which image belongs to which prompt
# --------------------------------------------------------------------------------------------

def prompt_tables(app: str, prompts_file=None):
    """({file-name key: prompt}, {pair name: (canonical prompt, instance prompt)}) from the data file of the
    folder `app` (default: the course's)."""
    if app not in MAIN_APPS:
        raise EvalInputError(f"unknown app {app!r}; use one of {', '.join(MAIN_APPS)}")
    main_app = MAIN_APPS[app]
    try:
        entries = read_prompts(main_app, prompts_file)
    except PromptFileError as err:
        raise EvalInputError(str(err)) from err
    prompts, pairs = {}, {}
    for name, entry in entries.items():
        texts = [entry[field].strip() for field in PROMPT_FIELDS[main_app]]  # a prompt, or a pair canonical first
        prompts.update({prompt_key(text): text for text in texts})
        if main_app == AMBIGUOUS_APP:
            pairs[name] = tuple(texts)
    return prompts, pairs


def collect_images(fdir, app: str, prompts_file=None) -> dict[str, list[Path]]:
    """{prompt: [its image files]}, prompts in data-file order. Raises EvalInputError with what to change.

    Only PNGs named after a prompt of the data file are scored. Skipped on purpose: other file types,
    hidden files (macOS puts `._*.png` into zips), view_*/final/*_side_by_side PNGs and, for wide images,
    the full panorama: its name is a prompt key too, but the score is defined on the 512-px crops.
    Any other PNG is an error, since a silently skipped or misread image would change the score.
    """
    fdir = Path(fdir)
    prompts, _ = prompt_tables(app, prompts_file)
    if not fdir.is_dir():
        raise EvalInputError(f"{fdir} is not a folder; pass --fdir1 the folder that holds the {app} PNGs")
    pngs = sorted(path for path in fdir.iterdir() if path.suffix.lower() == ".png" and not path.name.startswith("."))
    if not pngs:
        raise EvalInputError(
            f"{fdir} has no PNG images; generate them (python main.py --app {MAIN_APPS[app]} --all_prompts) and pass that folder"
        )

    found, unknown = {}, []
    for path in pngs:
        stem = path.name[: -len(path.suffix)]
        extra = NOT_SCORED.fullmatch(stem) or path.name.lower().endswith(SIDE_BY_SIDE_SUFFIX)
        if extra or (app == WIDE_DIR and stem in prompts):
            continue
        key, pos = stem, ""
        if app == WIDE_DIR:  # a crop is <key>_<pos> (layout.crop_name); anything else is not scorable
            crop = re.fullmatch(r"(.+)(_\d+)", stem)
            key, pos = crop.groups() if crop else (None, "")
        if key in prompts:
            found.setdefault(prompts[key], []).append(path)
        else:
            unknown.append((path.name, key, pos))
    source = prompts_file or f"data/{data_file(MAIN_APPS[app]).name}"
    if unknown:
        hints = []
        for name, key, pos in unknown[:3]:
            close = difflib.get_close_matches(key, list(prompts), n=1, cutoff=0.6) if key else []
            hints.append(name + (f" (did you mean {close[0]}{pos}.png?)" if close else ""))
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise EvalInputError(
            f"{len(unknown)} image(s) in {fdir} are not named after a prompt of {source}: {', '.join(hints)}{more}; "
            f"name them {NAME_FORMS[app]}, move other PNGs out, or pass --prompts_file with your prompts"
        )
    if not found:
        skipped = ", ".join(path.name for path in pngs[:3]) + (", ..." if len(pngs) > 3 else "")
        raise EvalInputError(f"{fdir} has no images to score (only {skipped}); expected {NAME_FORMS[app]}")
    broken = []
    for path in (path for paths in found.values() for path in paths):
        try:
            with Image.open(path) as image:
                image.verify()  # checks every chunk's checksum: a truncated file fails now, not after the model loaded
        except Exception:  # noqa: BLE001 - Pillow reports damage as OSError, SyntaxError or its own errors, depending on where
            broken.append(path.name)
    if broken:
        raise EvalInputError(f"cannot read {len(broken)} image(s) in {fdir}: {', '.join(broken[:3])}; regenerate them")
    order = list(dict.fromkeys(prompts.values()))
    return {prompt: found[prompt] for prompt in order if prompt in found}


# --------------------------------------------------------------------------------------------
# CLIP
# --------------------------------------------------------------------------------------------

class ClipScorer:
    """A CLIP model with its own preprocessing and tokenizer. Features are L2-normalised and fp32, so a
    dot product of an image and a text feature is their cosine similarity."""

    def __init__(self, model, preprocess, tokenizer, device, name: str):
        self.model, self.preprocess, self.tokenizer = model.eval(), preprocess, tokenizer
        self.device, self.name = torch.device(device), name

    @property
    def logit_scale(self) -> float:
        """1/temperature that CLIP was trained with (100 for the OpenAI weights)."""
        return float(self.model.logit_scale.detach().exp())

    @torch.inference_mode()
    def image_features(self, images: list, batch_size: int = 32) -> torch.Tensor:
        features = []
        for start in range(0, len(images), batch_size):
            pixels = torch.stack([self.preprocess(image) for image in images[start:start + batch_size]])
            features.append(self.model.encode_image(pixels.to(self.device)).float())
        return F.normalize(torch.cat(features), dim=-1).cpu()

    @torch.inference_mode()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self.device)  # truncates to 77 tokens, as clip.tokenize(truncate=True)
        return F.normalize(self.model.encode_text(tokens).float(), dim=-1).cpu()

    def similarity(self, images: list, texts: list[str]) -> torch.Tensor:
        """[len(images), len(texts)] raw cosine similarities."""
        return self.image_features(images) @ self.text_features(texts).T


def load_clip(name: str = "ViT-B-32", device: str = "cpu") -> ClipScorer:
    """The course's CLIP (open_clip ViT-B-32, OpenAI weights, fp32), or "tiny": the toy CLIP in
    tiny_models/clip-vit-tiny, trained on the toy world (scripts/train_toy_models.py) and loaded offline through
    the same open_clip calls."""
    from synckit import torchvision_check  # noqa: F401  before open_clip: names a torch/torchvision build mismatch
    import open_clip  # here rather than at the top: ~3 s of imports that input errors should not wait for

    try:
        device = pick_device(device)
    except NoGPUError as err:
        raise ClipLoadError(f"{err} (~0.4 s per image)") from err
    if name == "tiny":
        if not (TINY_CLIP / "open_clip_config.json").is_file():
            raise ClipLoadError(f"the tiny CLIP is missing from {TINY_CLIP}; run python scripts/train_toy_models.py --models clip --out tiny_models (or restore it with git)")
        source = f"local-dir:{TINY_CLIP}"
        model, _, preprocess = open_clip.create_model_and_transforms(source, device=device)
        tokenizer = open_clip.get_tokenizer(source)
    elif name == "ViT-B-32":
        try:
            # the OpenAI weights were trained with QuickGELU; plain "ViT-B-32" builds GELU layers and scores differently
            model, _, preprocess = open_clip.create_model_and_transforms(
                "ViT-B-32-quickgelu", pretrained="openai", device=device
            )
        except RuntimeError as err:
            if "Failed to download weights" not in str(err):
                raise
            raise ClipLoadError(
                "cannot get the CLIP ViT-B-32 'openai' weights (~600 MB, huggingface.co repo "
                "timm/vit_base_patch32_clip_224.openai): run once with internet access, or point HF_HOME at a cache "
                "that has them; --clip_model tiny scores offline with the toy CLIP (meaningful for the toy world's prompts only)"
            ) from err
        tokenizer = open_clip.get_tokenizer("ViT-B-32")
    else:
        raise ClipLoadError(f"unknown CLIP model {name!r}; use one of {', '.join(CLIP_MODELS)}")
    return ClipScorer(model, preprocess, tokenizer, device, name)


# --------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------

def anagram_metrics(similarity: torch.Tensor, logit_scale: float) -> tuple[float, float]:
    """Visual Anagrams' metrics of one illusion from S[i, j] = cos(view i, prompt j), view i made for prompt i.

    alignment: the worst view's similarity to its own prompt, min_i S[i, i].
    concealment: how surely CLIP pairs each view with its own prompt, the diagonal of softmax(S * logit_scale)
    taken over prompts for each view and over views for each prompt, the two averaged.
    """
    logits = similarity * logit_scale
    by_view = logits.softmax(dim=1).diagonal().mean()
    by_prompt = logits.softmax(dim=0).diagonal().mean()
    return float(similarity.diagonal().min()), float((by_view + by_prompt) / 2)


def load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def evaluate_folder(fdir, app: str, scorer: ClipScorer, prompts_file=None, batch_size=32, progress=False) -> dict:
    """The content of eval.json for one folder (nothing is written)."""
    fdir = Path(fdir)
    images = collect_images(fdir, app, prompts_file)
    prompts = list(images)
    paths = [path for prompt in prompts for path in images[prompt]]

    features = []
    with tqdm(total=len(paths), desc="CLIP", unit="img", disable=not progress) as bar:
        for start in range(0, len(paths), batch_size):  # decode a batch at a time: memory stays flat for any folder
            batch = [load_rgb(path) for path in paths[start:start + batch_size]]
            features.append(scorer.image_features(batch, batch_size))
            bar.update(len(batch))
    similarity = torch.cat(features) @ scorer.text_features(prompts).T  # [images, prompts]

    per_prompt, row = {}, 0
    for column, prompt in enumerate(prompts):
        rows = slice(row, row + len(images[prompt]))
        per_prompt[prompt] = {
            "mean": float(similarity[rows, column].mean()), "images": [path.name for path in images[prompt]],
        }
        row = rows.stop

    scored = {path.name for path in paths}
    result = {
        "source_dir": str(fdir),
        "app": app,
        "clip_model": scorer.name,
        "num_images": len(paths),
        "score": mean(entry["mean"] for entry in per_prompt.values()),  # each prompt counts once, whatever its image count
        "prompts": per_prompt,
        "ignored": sorted(p.name for p in fdir.iterdir() if p.name not in scored and p.name != EVAL_FILE),
    }
    if app == AMBIGUOUS_DIR:
        first_row = {prompt: paths.index(images[prompt][0]) for prompt in prompts}
        pairs = {}
        for name, pair in prompt_tables(app, prompts_file)[1].items():
            if not all(prompt in images for prompt in pair):
                continue  # only illusions whose two views are both here
            matrix = similarity[[first_row[p] for p in pair]][:, [prompts.index(p) for p in pair]]
            alignment, concealment = anagram_metrics(matrix, scorer.logit_scale)
            pairs[name] = {
                "prompts": list(pair), "images": [images[p][0].name for p in pair],
                "similarity": matrix.tolist(), "alignment": alignment, "concealment": concealment,
            }
        result.update(
            alignment=mean(p["alignment"] for p in pairs.values()),
            concealment=mean(p["concealment"] for p in pairs.values()),
            logit_scale=scorer.logit_scale,
            pairs=pairs,
        )
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fdir1", type=Path, required=True, help="folder of generated PNGs; eval.json is written into it")
    parser.add_argument("--app", required=True, choices=list(MAIN_APPS))
    parser.add_argument("--clip_model", default="ViT-B-32", choices=CLIP_MODELS, help="tiny: the toy CLIP, trained on the toy world (data/toy_*_prompts.json); its scores mean something for toy prompts only")
    parser.add_argument(
        "--prompts_file", type=Path,
        help="default: " + " or ".join(f"data/{data_file(app).name}" for app in APPS)
             + "; with --clip_model tiny the toy world's, " + " or ".join(f"data/{data_file(app, toy=True).name}" for app in APPS),
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch_size", type=int, default=32, help="images per CLIP call")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be at least 1, got {args.batch_size}")

    tiny = args.clip_model == "tiny"
    if tiny and args.prompts_file is None:  # the prompts main.py --tiny makes images of
        args.prompts_file = data_file(MAIN_APPS[args.app], toy=True)
    try:
        images = collect_images(args.fdir1, args.app, args.prompts_file)  # every input check before the model loads
        if tiny and (warning := tiny_prompts_warning(images, MAIN_APPS[args.app], "scores are only meaningful for toy prompts")):
            print(warning, file=sys.stderr)
        scorer = load_clip(args.clip_model, args.device)
        result = evaluate_folder(args.fdir1, args.app, scorer, args.prompts_file, args.batch_size, progress=True)
    except (EvalInputError, ClipLoadError) as err:
        sys.exit(f"error: {err}")
    out = args.fdir1 / EVAL_FILE
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = f"CLIP score {result['score']:.4f} ({result['num_images']} images, {len(result['prompts'])} prompts"
    if result.get("alignment") is not None:
        summary += f", alignment {result['alignment']:.4f}, concealment {result['concealment']:.4f}"
    print(f"{summary}) -> {out}")
    return result


if __name__ == "__main__":
    main()
