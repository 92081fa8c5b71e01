"""Coherence and fidelity of panoramas, as the papers measure them (../shared/research/fusion_methods.md §1, §2, §4):

- Intra-LPIPS (SyncDiffusion's eval code): the panorama cut into non-overlapping square crops (side = its height),
  the mean VGG-LPIPS over all pairs of crops. Lower: the crops look more alike, one scene.
- Intra-Style-L (SyncDiffusion's): the MSE between Gram matrices of VGG19's first five conv layers, summed over the
  layers and over all pairs of those crops. Summed per panorama, not averaged, as the source does, so that the
  kit's numbers mean what the paper's do; the sum grows with the number of pairs, so compare it only between
  panoramas cut into the same number of crops (one geometry: 512×3072 and the tiny 64×384 are both 6 crops, 15 pairs).
- seam score: synckit.seams' ratio at the windows' borders (needs no network), and the wrap seam of a 360° panorama.
- mean CLIP score of random crops: eval.py's scorer, raw cosine (the papers print torchmetrics' CLIPScore, 100 × the
  cosine, with ViT-B/16; the kit's is the course's ViT-B/32).
- FID and KID of the crops against single-window samples of the same model and prompts: torchmetrics, on its
  Inception v3 (torch-fidelity's weights).

The VGG and Inception weights are torchvision's and torch-fidelity's files in torch.hub's checkpoint folder; nothing
here downloads them. `missing_weights` names what is missing, before anything is sampled.
"""

import itertools
import warnings
from pathlib import Path

import numpy as np
import torch

from synckit.seams import seam_ratio, wrap_seam_ratio

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1
INCEPTION_URL = (  # torch-fidelity's Inception v3 (the TensorFlow FID weights), which torchmetrics' FID and KID load
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
# VGG19's first five conv layers (conv1_1, conv1_2, conv2_1, conv2_2, conv3_1), before their ReLUs: the indices in
# torchvision's vgg19().features of the style layers conv_1 … conv_5 of SyncDiffusion's eval code
STYLE_LAYERS = (0, 2, 5, 7, 10)
STYLE_NET_WIDTHS = (64, 64, "pool", 128, 128, "pool", 256)  # VGG19's first convs' widths, as torchvision's cfgs["E"]
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RANDOM_TRUNK_SEED = 0  # --tiny: the random VGG19 is the same in every run
KID_SUBSETS_SEED = 0  # KID's random subsets (torchmetrics draws them from torch's global generator): the same every run


class MetricWeightsError(RuntimeError):
    """A metric's weights are not on disk; the message says which file, from where, and to where."""


def hub_file(url: str) -> Path:
    """Where torch.hub keeps (and torchvision, torch-fidelity look for) the file at `url`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def missing_weights(urls) -> list[str]:
    """One "URL -> path" per file of `urls` that is not on disk yet."""
    return [f"{url} -> {hub_file(url)}" for url in urls if not hub_file(url).is_file()]


# --------------------------------------------------------------------------------------------
# crops
# --------------------------------------------------------------------------------------------

def to_tensor(images) -> torch.Tensor:
    """PIL images or H×W×3 uint8 arrays, all one size, to [N, 3, H, W] floats in [0, 1]."""
    pixels = np.stack([np.asarray(image, dtype=np.float32)[..., :3] for image in images]) / 255
    return torch.from_numpy(pixels).permute(0, 3, 1, 2)


def square_crops(panorama) -> torch.Tensor:
    """The panorama's non-overlapping square crops from the left, side = its height, [n, 3, S, S] in [0, 1]; columns
    past the last whole crop are left out (SyncDiffusion's eval: crops of 512 at stride 512)."""
    pixels = to_tensor([panorama])[0]
    side = pixels.shape[1]
    return torch.stack([pixels[:, :, left:left + side] for left in range(0, pixels.shape[2] - side + 1, side)])


def pairs(count: int) -> tuple[list[int], list[int]]:
    """Indices (i, j) of every pair i < j of `count` crops, as two lists."""
    first, second = zip(*itertools.combinations(range(count), 2))
    return list(first), list(second)


# --------------------------------------------------------------------------------------------
# Intra-LPIPS and Intra-Style-L
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def intra_lpips(panorama, lpips_model) -> float:
    """Mean LPIPS over all pairs of the panorama's square crops. `lpips_model`: lpips.LPIPS (guidance/syncdiffusion.py's
    load_lpips), which takes images in [-1, 1]."""
    crops = square_crops(panorama) * 2 - 1
    first, second = pairs(len(crops))
    return float(lpips_model(crops[first], crops[second]).mean())


def load_style_net(pretrained: bool, device="cpu") -> torch.nn.Sequential:
    """VGG19's `features` up to its last style layer, frozen (torchvision's layer indices, so its state dict's keys
    fit): torchvision's ImageNet weights, which must be on disk (missing_weights names the file), or (--tiny) a
    random network initialized as torchvision's, seeded, so that it runs offline and is the same in every run."""
    layers, channels = [], 3
    for width in STYLE_NET_WIDTHS:
        if width == "pool":
            layers.append(torch.nn.MaxPool2d(2))
        else:
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1), torch.nn.ReLU()]
            channels = width
    net = torch.nn.Sequential(*layers[:STYLE_LAYERS[-1] + 1])
    if pretrained:
        path = hub_file(VGG19_URL)
        if not path.is_file():
            raise MetricWeightsError(f"Intra-Style-L needs VGG19's ImageNet weights: download {VGG19_URL} to {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict({key[len("features."):]: value for key, value in state.items()
                             if key.startswith("features.") and int(key.split(".")[1]) < len(net)})
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_TRUNK_SEED)
            for layer in net:
                if isinstance(layer, torch.nn.Conv2d):
                    torch.nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                    torch.nn.init.zeros_(layer.bias)
    return net.requires_grad_(False).eval().to(device)


def gram_matrices(style_net, images) -> list[torch.Tensor]:
    """Per style layer, every image's Gram matrix F·Fᵀ/(c·h·w) of its c×(h·w) features, [n, c, c]. The source
    normalises by a·b·c·d with a = 1 image at a time, the same number."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    features, grams = (images - mean) / std, []
    for index, layer in enumerate(style_net):  # its ReLUs are not in place: a Gram sees its conv's own output
        features = layer(features)
        if index in STYLE_LAYERS:
            flat = features.flatten(2)
            grams.append(flat @ flat.transpose(1, 2) / flat[0].numel())
    return grams


@torch.no_grad()
def intra_style(panorama, style_net) -> float:
    """Intra-Style-L: Σ over crop pairs (i < j) of Σ over style layers of MSE(Gram_i, Gram_j), summed as the source."""
    crops = square_crops(panorama).to(next(style_net.parameters()).device)
    first, second = pairs(len(crops))
    return float(sum(((gram[first] - gram[second]) ** 2).mean(dim=(1, 2)).sum() for gram in gram_matrices(style_net, crops)))


# --------------------------------------------------------------------------------------------
# seams and CLIP
# --------------------------------------------------------------------------------------------

def seam_score(panorama, window_px: int) -> float:
    """synckit.seams.seam_ratio at every `window_px`-th column: the borders where windows sampled on their own (no
    overlap) would meet, against every other column. ≈ 1: no seam there; > 1: the picture jumps at them."""
    return seam_ratio(panorama, window_px)


def wrap_seam_score(panorama) -> float:
    """synckit.seams.wrap_seam_ratio: the one border a 360° panorama adds, its last column | its first."""
    return wrap_seam_ratio(panorama)


def random_crops(panorama, count: int, generator: np.random.Generator) -> list:
    """`count` square crops (side = the height) at random columns, as SyncDiffusion's crop_panorama.py."""
    side = panorama.height
    lefts = generator.integers(0, panorama.width - side + 1, size=count)
    return [panorama.crop((int(left), 0, int(left) + side, side)) for left in lefts]


def clip_scores(scorer, crops: list, prompt: str) -> list[float]:
    """Each crop's CLIP score with `prompt` (eval.ClipScorer: raw cosine similarity)."""
    return scorer.similarity(crops, [prompt])[:, 0].tolist()


# --------------------------------------------------------------------------------------------
# FID and KID
# --------------------------------------------------------------------------------------------

def load_inception(device="cpu") -> torch.nn.Module:
    """torchmetrics' Inception v3 feature extractor (2048 pool features) from torch-fidelity's weights on disk."""
    from torchmetrics.image.fid import NoTrainInceptionV3

    path = hub_file(INCEPTION_URL)
    if not path.is_file():
        raise MetricWeightsError(f"FID and KID need torch-fidelity's Inception weights: download {INCEPTION_URL} to {path}")
    return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path)).to(device)


@torch.no_grad()
def fid_kid(images, references, feature: torch.nn.Module) -> dict:
    """FID, and KID's mean and std over subsets, of `images` against `references` ([N, 3, H, W] in [0, 1]), with
    torchmetrics on the features of `feature` (load_inception, which takes uint8 images). KID's subsets hold as many
    images as the smaller set (torchmetrics' default 1000 needs 1000 of each)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # KID warns that it keeps every feature: a few hundred here
        fid = FrechetInceptionDistance(feature=feature)
        kid = KernelInceptionDistance(feature=feature, subset_size=min(len(images), len(references), 1000))
    for metric in (fid, kid):
        metric.update((references * 255).round().to(torch.uint8), real=True)
        metric.update((images * 255).round().to(torch.uint8), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(KID_SUBSETS_SEED)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std)}
