"""The toy CLIP: open_clip's own classes, trained contrastively on both families at 64 px (scene crops, objects)
against their captions, written in open_clip's local-dir layout (open_clip_config.json + open_clip_model.safetensors)
and checked by loading it back as eval.py does, `create_model_and_transforms("local-dir:<folder>")`."""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from synckit import toyworld
from toy_training.common import HELD_OUT_STREAM, TOY_SIZE, TRAIN_STREAM, stream, warmup_cosine

FOLDER = "clip-vit-tiny"
DEFAULT_STEPS = 600
DEFAULT_BATCH = 128  # pictures per step, half of each family
LEARNING_RATE = 2e-3
HELD_OUT_PER_FAMILY = 200
HELD_OUT_OBJECT_SIZE = 256  # IF stage II's side: retrieval then also checks CLIP's own downscaling to 64 px
# Generated pictures are softer than drawn ones (a tiny VAE's decode, a short-trained super-resolution stage). A
# judge that punished softness would score the decoder, not whether a picture shows its caption, so CLIP also
# learns on softened copies: half of the pictures pass through a random smaller side (bilinear down and up).
SOFTENED_SHARE = 0.5
SOFTENED_SIDES = (12, 40)  # px, inclusive


def clip_config() -> dict:
    """open_clip_config.json. The image side sees TOY_SIZE px in 8-px patches (64 tokens, fine enough for an
    arrow's head); the text side keeps CLIP's tokenizer, so its vocabulary must stay 49408 (the ids it emits),
    and that embedding table is most of the file: hence the narrow text tower."""
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    model_cfg = {
        "embed_dim": 32, "quick_gelu": True,
        "vision_cfg": {"image_size": TOY_SIZE, "patch_size": 8, "width": 64, "head_width": 16, "layers": 2},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 2},
    }
    preprocess_cfg = {
        "mean": list(OPENAI_DATASET_MEAN), "std": list(OPENAI_DATASET_STD),
        "interpolation": "bicubic", "resize_mode": "shortest",
    }
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}


def toy_batch(rng: np.random.Generator, per_family: int):
    """(uint8 [2 * per_family, TOY_SIZE, TOY_SIZE, 3], captions): scene crops, then objects, SOFTENED_SHARE of
    them softened."""
    pictures = [toyworld.random_scene_crop(rng) for _ in range(per_family)]
    pictures += [toyworld.random_object(rng, TOY_SIZE) for _ in range(per_family)]
    images = [softened(image, rng) if rng.random() < SOFTENED_SHARE else image for image, _ in pictures]
    return np.stack([np.asarray(image) for image in images]), [caption for _, caption in pictures]


def softened(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    side = int(rng.integers(SOFTENED_SIDES[0], SOFTENED_SIDES[1] + 1))
    return image.resize((side, side), Image.BILINEAR).resize(image.size, Image.BILINEAR)


def normalise(images: np.ndarray, preprocess_cfg: dict) -> torch.Tensor:
    """What open_clip's preprocessing does to a TOY_SIZE image (its resize and crop are then the identity)."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean, std = (torch.tensor(preprocess_cfg[key]).view(1, 3, 1, 1) for key in ("mean", "std"))
    return (pixels - mean) / std


def contrastive_loss(image_features, caption_features, labels, logit_scale):
    """CLIP's symmetric loss over the distinct captions: each image against every caption, and each caption
    that the batch holds against the images, all of its images counting as positives (a batch has many
    pictures of one caption, which plain in-batch CLIP would push apart)."""
    logits = logit_scale * image_features @ caption_features.T  # [images, captions]
    image_to_caption = F.cross_entropy(logits, labels)
    positives = F.one_hot(labels, len(caption_features)).T.float()  # [captions, images]
    present = positives.sum(dim=1) > 0
    targets = positives[present] / positives[present].sum(dim=1, keepdim=True)
    caption_to_image = -(targets * logits.T[present].log_softmax(dim=1)).sum(dim=1).mean()
    return (image_to_caption + caption_to_image) / 2


def train(folder: Path, steps: int, seed: int, batch: int) -> str:
    """Train for `steps` steps of `batch` pictures, write `folder`, and return a summary with the held-out check."""
    import open_clip
    from safetensors.torch import save_file

    config = clip_config()
    torch.manual_seed(seed)
    model = open_clip.CLIP(**config["model_cfg"])
    tokenizer = open_clip.SimpleTokenizer(context_length=config["model_cfg"]["text_cfg"]["context_length"])
    captions = list(toyworld.SCENE_CAPTIONS + toyworld.OBJECT_CAPTIONS)
    caption_index = {caption: index for index, caption in enumerate(captions)}
    caption_tokens = tokenizer(captions)

    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.05)
    schedule = warmup_cosine(optimizer, steps)
    rng = stream(seed, TRAIN_STREAM)
    model.train()
    with tqdm(range(steps), desc="clip", unit="step") as bar:
        for _ in bar:
            images, texts = toy_batch(rng, max(1, batch // 2))
            labels = torch.tensor([caption_index[text] for text in texts])
            image_features = F.normalize(model.encode_image(normalise(images, config["preprocess_cfg"])), dim=-1)
            caption_features = F.normalize(model.encode_text(caption_tokens), dim=-1)
            loss = contrastive_loss(image_features, caption_features, labels, model.logit_scale.exp())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}")

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    # float16 on disk like the tiny stand-in it replaces: half the size, and open_clip loads it into float32
    weights = {name: tensor.detach().half().contiguous() for name, tensor in model.state_dict().items()}
    save_file(weights, folder / "open_clip_model.safetensors")

    sharp, soft = held_out_retrieval(folder, seed)
    return (f"clip: loss {loss.item():.3f}; held-out top-1 caption retrieval, sharp (softened): scenes {sharp[0]:.1%} "
            f"({soft[0]:.1%}; {HELD_OUT_PER_FAMILY} crops, {len(toyworld.SCENE_CAPTIONS)} captions), objects "
            f"{sharp[1]:.1%} ({soft[1]:.1%}; {HELD_OUT_PER_FAMILY} at {HELD_OUT_OBJECT_SIZE} px, "
            f"{len(toyworld.OBJECT_CAPTIONS)} captions)")


@torch.inference_mode()
def held_out_retrieval(folder: Path, seed: int) -> tuple:
    """Top-1 caption retrieval of the saved model, loaded back as eval.py loads a CLIP, on pictures of the held-out
    stream: the share of images whose most similar caption, among all captions of their family, is their own;
    ([scenes, objects] as drawn, [scenes, objects] softened)."""
    import open_clip

    source = f"local-dir:{folder}"
    model, _, preprocess = open_clip.create_model_and_transforms(source)
    tokenizer = open_clip.get_tokenizer(source)
    model.eval()
    rng = stream(seed, HELD_OUT_STREAM)
    families = (
        (toyworld.SCENE_CAPTIONS, lambda: toyworld.random_scene_crop(rng)),
        (toyworld.OBJECT_CAPTIONS, lambda: toyworld.random_object(rng, HELD_OUT_OBJECT_SIZE)),
    )
    sharp, soft = [], []
    for captions, draw in families:
        pictures = [draw() for _ in range(HELD_OUT_PER_FAMILY)]
        caption_features = F.normalize(model.encode_text(tokenizer(list(captions))), dim=-1)
        truth = torch.tensor([captions.index(caption) for _, caption in pictures])
        for accuracies, images in ((sharp, [image for image, _ in pictures]),
                                   (soft, [softened(image, rng) for image, _ in pictures])):
            image_features = F.normalize(model.encode_image(torch.stack([preprocess(image) for image in images])), dim=-1)
            accuracies.append(((image_features @ caption_features.T).argmax(dim=1) == truth).float().mean().item())
    return sharp, soft
