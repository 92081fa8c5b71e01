"""The toy DeepFloyd IF: make_tiny_models' IF stage I and stage II folders, trained on the toy world's objects.

IF is a cascade of pixel-space diffusion models (as Imagen, Saharia et al. 2022):
  stage I   ε_θ(x_t, t, c): 32-px pictures from the T5 embeddings c of the caption (the real IF: 64 px);
  stage II  ε_θ([x_t, u_s], t, s): 128-px pictures given u_s, the 32-px picture upsampled to 128 px and noised to
            level s by the image-noising scheduler (Imagen's noise conditioning augmentation), s passed as
            class_labels, as diffusers' IFSuperResolutionPipeline and the kit pass it.
Both learn ε-prediction on the IF scheduler's cosine schedule from the first 3 of their 6 output channels,
L = w(t)·‖ε − ε_θ(√ᾱ_t·x_0 + √(1−ᾱ_t)·ε, ...)‖² with min-SNR-γ weights w(t) = min(1, γ/SNR(t)) (Hang et al. 2023),
which stop the nearly clean steps, whose noise is the hardest to tell and the least visible, from dominating a
short training. The other 3 channels are the learned-variance interpolation v of diffusers' DDPM sampler (the
kit's DDIM ignores them); they are pulled to v = 0, halfway between β_t and β̃_t, so that diffusers' own IF
pipelines still sample sensibly.

Stage I drops captions to "" (IFPipeline.encode_prompt's negative prompt) 10% of the time, which teaches the
unconditional ε_θ(x_t, t, ∅) of classifier-free guidance. Stage II ignores the caption: u_s already shows all the
caption says, and the kit guides stage II at scale 10 too, which multiplies every difference between ε_θ(·, c) and
ε_θ(·, ∅) tenfold; with its text paths held at zero the two are equal and guidance leaves stage II as trained.
The T5 encoder stays as make_tiny_models made it (random, frozen): every toy word is one token, so its embeddings
tell the captions apart, and both folders keep the same T5, as the kit encodes the prompts once, with stage I's.

Sampling starts at t = 957 (the kit's DDIM, 30 steps), where x̂_0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t multiplies an error
of ε̂ by 15: ε̂ must pass x_t through almost exactly. A UNet this narrow learns that slowly, so both start as
ε̂ = x_t (`pass_x_t_through`) with every residual branch at zero (as ADM, Dhariwal & Nichol 2021).
Each folder is written by make_tiny_models (the architecture's one definition) and reloaded with
IFPipeline / IFSuperResolutionPipeline.from_pretrained(variant="fp16"), as the kit loads it.
"""

import shutil
from pathlib import Path
from types import SimpleNamespace

import make_tiny_models
import torch
import torch.nn.functional as F
from diffusers import IFPipeline, IFSuperResolutionPipeline
from diffusers.models.attention_processor import Attention
from diffusers.models.resnet import ResnetBlock2D
from tqdm import tqdm

from synckit import toyworld
from toy_training.common import HELD_OUT_STREAM, TRAIN_STREAM, stream, to_model_range, warmup_cosine

LEARNING_RATE = 2e-3  # 1e-2 made stage I's loss jump to 1 (ε̂ = 0) after the warm-up, for good
MIN_SNR_GAMMA = 5.0
OFFSET_NOISE = 0.1
CAPTION_DROPOUT = 0.1  # stage I's share of "" captions: the unconditional model for classifier-free guidance
STAGE_1_SIZE = make_tiny_models.IF_I_SIZE  # px, the stage-I UNet's sample_size
STAGE_2_SIZE = make_tiny_models.IF_II_SIZE  # px, the stage-II UNet's sample_size
# Stage II trains on random CROP x CROP windows of 128-px pictures: its blocks have no spatial self-attention (only
# cross-attention, to the text), so a window costs what a whole picture of that size would, 1/16 at 32 px.
CROP = 32
MAX_NOISE_LEVEL = 400  # the noise levels s of u_s trained on, 0..MAX: the kit's default 50, diffusers' 250
HELD_OUT = 64  # pictures of the held-out check
UNUSED = dict(safety_checker=None, feature_extractor=None, watermarker=None)


def load(pipeline_class, folder: Path):
    pipe = pipeline_class.from_pretrained(folder, variant="fp16", torch_dtype=torch.float32, **UNUSED)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def caption_embeddings(pipe) -> tuple:
    """(captions, c [len(captions) + 1, 77, 32]): T5 embeddings of every object caption, the last row being that of
    the unconditional "" exactly as IFPipeline.encode_prompt makes it (its negative prompt)."""
    captions = list(toyworld.OBJECT_CAPTIONS)
    embeds, negative = pipe.encode_prompt(captions, do_classifier_free_guidance=True, device="cpu")
    return captions, torch.cat([embeds, negative[:1]])


def object_batch(rng, size: int, captions: list, drop_captions: bool):
    """(toy objects [size] as ToyObject, the row of each one's caption embedding, "" for CAPTION_DROPOUT of them)."""
    objects = [toyworld.sample_object(rng) for _ in range(size)]
    rows = [captions.index(toyworld.object_caption(obj)) for obj in objects]
    if drop_captions:
        rows = [len(captions) if rng.random() < CAPTION_DROPOUT else row for row in rows]
    return objects, torch.tensor(rows)


def stage_1_example(objects, generator):
    """Stage I's input: the 32-px pictures x_0, and no extra UNet input."""
    return to_model_range([toyworld.draw_object(obj, STAGE_1_SIZE) for obj in objects]), {}


def upscaled(x_small: torch.Tensor, size: int) -> torch.Tensor:
    """The stage-I picture at stage II's side, resized as IFSuperResolutionPipeline and the kit resize it."""
    return F.interpolate(x_small, size=(size, size), mode="bilinear", align_corners=True)


def stage_2_examples(noising, crop: int):
    """Stage II's input maker for windows of `crop` px (STAGE_2_SIZE: whole pictures); `noising` adds u_s's noise."""
    def stage_2_example(objects, generator):
        """Crops of the 128-px pictures x_0, with the same crops of u_s and the levels s."""
        x_0 = to_model_range([toyworld.draw_object(obj, STAGE_2_SIZE) for obj in objects])
        u = upscaled(to_model_range([toyworld.draw_object(obj, STAGE_1_SIZE) for obj in objects]), STAGE_2_SIZE)
        s = torch.randint(0, MAX_NOISE_LEVEL + 1, (len(objects),), generator=generator)
        u_s = noising.add_noise(u, torch.randn(u.shape, generator=generator), s)
        top, left = torch.randint(0, STAGE_2_SIZE - crop + 1, (2,), generator=generator).tolist()
        window = (slice(None), slice(None), slice(top, top + crop), slice(left, left + crop))
        return x_0[window], dict(upscaled=u_s[window], class_labels=s)
    return stage_2_example


def denoising_errors(unet, noise_schedule, x_0, extra, embeds, t, generator):
    """(‖ε − ε_θ‖² per picture, ‖v‖² over the batch) at timesteps t [batch]."""
    eps = torch.randn(x_0.shape, generator=generator)
    eps = eps + OFFSET_NOISE * torch.randn(*x_0.shape[:2], 1, 1, generator=generator)
    x_t = noise_schedule.add_noise(x_0, eps, t)
    if "upscaled" in extra:
        x_t = torch.cat([x_t, extra["upscaled"]], dim=1)
    x_t = x_t.contiguous(memory_format=torch.channels_last)
    prediction = unet(x_t, t, encoder_hidden_states=embeds, class_labels=extra.get("class_labels")).sample
    eps_hat, v = prediction.split(3, dim=1)
    return (eps_hat - eps).pow(2).mean(dim=(1, 2, 3)), v.pow(2).mean()


def min_snr_weights(noise_schedule, t) -> torch.Tensor:
    """w(t) = min(1, γ/SNR(t)), SNR(t) = ᾱ_t/(1−ᾱ_t)."""
    alpha_bar = noise_schedule.alphas_cumprod[t]
    return (MIN_SNR_GAMMA * (1 - alpha_bar) / alpha_bar).clamp(max=1)


@torch.no_grad()
def zero_residual_branches(unet):
    """ADM's initialisation: the last layer of every residual branch (each resnet's second conv, each attention's
    output) and the output conv start at zero, so that every block starts as the identity."""
    for module in unet.modules():
        if isinstance(module, ResnetBlock2D):
            module.conv2.weight.zero_(), module.conv2.bias.zero_()
        if isinstance(module, Attention):
            module.to_out[0].weight.zero_(), module.to_out[0].bias.zero_()
    unet.conv_out.weight.zero_(), unet.conv_out.bias.zero_()


@torch.no_grad()
def pass_x_t_through(unet):
    """Start as ε̂ = x_t, the answer at high noise, along the UNet's one path without a nonlinearity in between:
    conv_in -> the top level's skip -> the shortcut of the last resnet -> GroupNorm -> GELU -> conv_out (the residual
    branches being zero). Each of x_t's 3 channels goes through as a pair (x, −x) in the two channels of one
    GroupNorm group, because GELU(a) − GELU(−a) = a: conv_out reads the pair's difference.

    What the group's normalisation keeps decides what the UNet can later learn about a picture's mean colour. Both
    stages have two channels per group at the top, so (x, −x) has mean zero and x's mean goes through: at 32 px the
    noise's mean, ±1/32 per channel, is comparable with √ᾱ_t times the picture's, so ε̂'s mean is something to
    learn. (With one channel per group x's mean would be taken out.)"""
    channels = unet.config.block_out_channels[0]
    assert channels >= 6, "the top level needs 6 channels for x_t's 3 as (x, -x) pairs"
    conv_in, shortcut = unet.conv_in, unet.up_blocks[-1].resnets[-1].conv_shortcut
    skip = shortcut.in_channels - channels  # the shortcut's input is [deeper features, conv_in's output]
    for conv in (conv_in, shortcut):
        conv.weight[:6].zero_(), conv.bias[:6].zero_()
    for rgb in range(3):
        for sign, channel in ((1, 2 * rgb), (-1, 2 * rgb + 1)):
            conv_in.weight[channel, rgb, 1, 1] = sign
            shortcut.weight[channel, skip + channel, 0, 0] = 1
            unet.conv_out.weight[rgb, channel, 1, 1] = sign


@torch.no_grad()
def hold_text_paths_at_zero(unet):
    """Make ε_θ independent of the caption (stage II): the cross-attentions' outputs (already zero) and the pooled
    text embedding added to the time embedding stay zero; their weights are frozen."""
    unet.add_embedding.proj.weight.zero_(), unet.add_embedding.proj.bias.zero_()  # then its LayerNorm gives its bias, 0
    for module in [unet.add_embedding, unet.encoder_hid_proj, *(m for m in unet.modules() if isinstance(m, Attention))]:
        module.requires_grad_(False)


def fit(pipe, example, steps: int, seed: int, batch: int, desc: str, captions_used: bool) -> float:
    """Train pipe.unet on `example`s of toy objects; returns the mean ε loss (unweighted) of the last 10% of steps."""
    captions, table = caption_embeddings(pipe)
    unet = pipe.unet.to(memory_format=torch.channels_last)  # ~25% faster convolutions on a CPU
    zero_residual_branches(unet)
    pass_x_t_through(unet)
    if not captions_used:
        hold_text_paths_at_zero(unet)
    optimizer = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=LEARNING_RATE)
    schedule = warmup_cosine(optimizer, steps)
    rng = stream(seed, TRAIN_STREAM)
    generator = torch.Generator().manual_seed(seed)
    noise_schedule = pipe.scheduler
    last_losses = []
    unet.train()
    with tqdm(range(steps), desc=desc, unit="step") as bar:
        for step in bar:
            objects, rows = object_batch(rng, batch, captions, drop_captions=captions_used)
            x_0, extra = example(objects, generator)
            t = torch.randint(0, noise_schedule.config.num_train_timesteps, (batch,), generator=generator)
            eps_errors, v_loss = denoising_errors(unet, noise_schedule, x_0, extra, table[rows], t, generator)
            optimizer.zero_grad()
            ((min_snr_weights(noise_schedule, t) * eps_errors).mean() + v_loss).backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{eps_errors.mean().item():.4f}")
            if step >= steps - max(1, steps // 10):
                last_losses.append(eps_errors.mean().item())
    unet.eval()
    return sum(last_losses) / len(last_losses)


@torch.no_grad()
def held_out_loss(pipe, example, seed: int) -> float:
    """The ε loss of the reloaded model on held-out objects with their captions, at timesteps spread evenly."""
    captions, table = caption_embeddings(pipe)
    objects, rows = object_batch(stream(seed, HELD_OUT_STREAM), HELD_OUT, captions, drop_captions=False)
    generator = torch.Generator().manual_seed(seed)
    x_0, extra = example(objects, generator)
    t = torch.linspace(0, pipe.scheduler.config.num_train_timesteps - 1, HELD_OUT).long()
    eps_errors, _ = denoising_errors(pipe.unet, pipe.scheduler, x_0, extra, table[rows], t, generator)
    return eps_errors.mean().item()


def train_stage_1(folder: Path, steps: int, seed: int, batch: int) -> str:
    torch.manual_seed(seed)
    shutil.rmtree(folder, ignore_errors=True)
    make_tiny_models.make_if_stage_1(folder)
    pipe = load(IFPipeline, folder)
    loss = fit(pipe, stage_1_example, steps, seed, batch, "if stage I", captions_used=True)
    pipe.unet.half().save_pretrained(folder / "unet", variant="fp16")
    check = held_out_loss(load(IFPipeline, folder), stage_1_example, seed)
    return f"if1: ε loss {loss:.4f}; reloaded, held-out ε loss {check:.4f} ({HELD_OUT} objects, {STAGE_1_SIZE} px)"


def train_stage_2(folder: Path, steps: int, seed: int, batch: int) -> str:
    torch.manual_seed(seed)
    shutil.rmtree(folder, ignore_errors=True)
    make_tiny_models.make_if_stage_2(folder)
    pipe = load(IFSuperResolutionPipeline, folder)
    loss = fit(pipe, stage_2_examples(pipe.image_noising_scheduler, CROP), steps, seed, batch, "if stage II",
               captions_used=False)
    pipe.unet.half().save_pretrained(folder / "unet", variant="fp16")
    reloaded = load(IFSuperResolutionPipeline, folder)
    check = held_out_loss(reloaded, stage_2_examples(reloaded.image_noising_scheduler, STAGE_2_SIZE), seed)
    return (f"if2: ε loss {loss:.4f} ({CROP}-px crops); reloaded, held-out ε loss {check:.4f} "
            f"({HELD_OUT} objects, whole {STAGE_2_SIZE}-px pictures)")


# the two trainers of scripts/train_toy_models.py
stage_1 = SimpleNamespace(FOLDER=make_tiny_models.IF_I_NAME, DEFAULT_STEPS=3000, DEFAULT_BATCH=16, train=train_stage_1)
stage_2 = SimpleNamespace(FOLDER=make_tiny_models.IF_II_NAME, DEFAULT_STEPS=1500, DEFAULT_BATCH=16, train=train_stage_2)
