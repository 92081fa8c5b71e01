"""The toy Stable Diffusion: the tiny SD2-format pipeline of make_tiny_models, trained on 64-px scene crops.

Two stages, as Stable Diffusion was made (Rombach et al. 2022):
  1. the VAE, an autoencoder x -> z (×8 smaller, 4 channels) -> x̂, trained on an L1 reconstruction loss (as SD's,
     which keeps the flat colours' edges sharper than L2) with a small KL term; its `scaling_factor` is then set to 1/std(z) so that the diffusion sees latents of unit variance;
  2. the UNet ε_θ(z_t, t, c) on those latents with SD2's own noise schedule (ε-prediction), together with the
     text encoder that makes c from the caption; captions are dropped to "" 10% of the time, which teaches the
     unconditional ε_θ(z_t, t, ∅) that classifier-free guidance needs.
The folder is written by make_tiny_models.make_stable_diffusion (the architecture's one definition) and reloaded
with StableDiffusionPipeline.from_pretrained, as the kit loads it.
"""

import shutil
from pathlib import Path

import make_tiny_models
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, StableDiffusionPipeline
from tqdm import tqdm

from synckit import toyworld
from toy_training.common import HELD_OUT_STREAM, TRAIN_STREAM, stream, to_model_range, warmup_cosine

FOLDER = make_tiny_models.SD_NAME
DEFAULT_STEPS = 3000  # of the VAE, then of the UNet
DEFAULT_BATCH = 32
VAE_KL_WEIGHT = 1e-6  # SD's KL weight: the latents stay close to a Gaussian without blurring the reconstruction
VAE_LEARNING_RATE = 2e-3
UNET_LEARNING_RATE = 1e-3
CAPTION_DROPOUT = 0.1  # the share of "" captions: the unconditional model for classifier-free guidance
HELD_OUT = 32  # pictures for the reconstruction check and the latents' standard deviation


def scene_batch(rng, size: int, drop_captions=False):
    """(pictures [size, 3, 64, 64] in [-1, 1], captions) of random scene crops."""
    crops = [toyworld.random_scene_crop(rng) for _ in range(size)]
    captions = [caption if not drop_captions or rng.random() >= CAPTION_DROPOUT else "" for _, caption in crops]
    return to_model_range([image for image, _ in crops]), captions


def train_vae(vae, steps: int, seed: int, batch: int) -> float:
    """Reconstruction + KL; returns the held-out mean squared error of the reconstruction, in [-1, 1] units."""
    optimizer = torch.optim.AdamW(vae.parameters(), lr=VAE_LEARNING_RATE)
    schedule = warmup_cosine(optimizer, steps)
    rng = stream(seed, TRAIN_STREAM)
    vae.train()
    with tqdm(range(steps), desc="sd vae", unit="step") as bar:
        for _ in bar:
            x, _ = scene_batch(rng, batch)
            posterior = vae.encode(x).latent_dist
            loss = F.l1_loss(vae.decode(posterior.sample()).sample, x) + VAE_KL_WEIGHT * posterior.kl().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    vae.eval()
    with torch.no_grad():
        x, _ = scene_batch(stream(seed, HELD_OUT_STREAM), HELD_OUT)
        return F.mse_loss(vae.decode(vae.encode(x).latent_dist.mode()).sample, x).item()


@torch.no_grad()
def latent_scaling_factor(vae, seed: int) -> float:
    """1/std of the latents, so that z·scaling_factor has unit variance as the noise schedule assumes (SD's
    0.18215 was found the same way for its own VAE)."""
    x, _ = scene_batch(stream(seed, TRAIN_STREAM), HELD_OUT)
    return 1 / vae.encode(x).latent_dist.sample().std().item()


def train_unet(pipe, steps: int, seed: int, batch: int) -> float:
    """ε-prediction, L = ‖ε − ε_θ(√ᾱ_t·z + √(1−ᾱ_t)·ε, t, c)‖², with the text encoder; returns the last loss."""
    noise_schedule = DDPMScheduler.from_config(pipe.scheduler.config)  # SD2's betas; add_noise is q(z_t | z_0)
    networks = [pipe.unet, pipe.text_encoder]
    optimizer = torch.optim.AdamW([p for network in networks for p in network.parameters()], lr=UNET_LEARNING_RATE)
    schedule = warmup_cosine(optimizer, steps)
    rng = stream(seed, TRAIN_STREAM)
    generator = torch.Generator().manual_seed(seed)
    scaling = pipe.vae.config.scaling_factor
    for network in networks:
        network.train()
    with tqdm(range(steps), desc="sd unet", unit="step") as bar:
        for _ in bar:
            x, captions = scene_batch(rng, batch, drop_captions=True)
            with torch.no_grad():
                z0 = pipe.vae.encode(x).latent_dist.sample(generator) * scaling
            eps = torch.randn(z0.shape, generator=generator)
            t = torch.randint(0, noise_schedule.config.num_train_timesteps, (batch,), generator=generator)
            embeds, _ = pipe.encode_prompt(captions, "cpu", 1, do_classifier_free_guidance=False)
            loss = F.mse_loss(pipe.unet(noise_schedule.add_noise(z0, eps, t), t, encoder_hidden_states=embeds).sample, eps)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
    for network in networks:
        network.eval()
    return loss.item()


def train(folder: Path, steps: int, seed: int, batch: int) -> str:
    """Build the tiny SD folder, train its VAE then its UNet and text encoder, write it, and check it reloads."""
    torch.manual_seed(seed)
    shutil.rmtree(folder, ignore_errors=True)
    make_tiny_models.make_stable_diffusion(folder)
    pipe = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)

    # half the UNet's batch: the VAE's full-resolution layers cost far more per picture than the UNet's 8x8 latents
    reconstruction = train_vae(pipe.vae, steps, seed, max(1, batch // 2))
    pipe.vae.register_to_config(scaling_factor=latent_scaling_factor(pipe.vae, seed))
    pipe.vae.requires_grad_(False)
    loss = train_unet(pipe, steps, seed, batch)
    for name in ("vae", "unet", "text_encoder"):
        getattr(pipe, name).save_pretrained(folder / name)

    reloaded = StableDiffusionPipeline.from_pretrained(folder, safety_checker=None)
    return (f"sd: VAE held-out reconstruction MSE {reconstruction:.4f} (pixels in [-1, 1]), latent scaling factor "
            f"{reloaded.vae.config.scaling_factor:.4f}; UNet loss {loss:.4f}")
