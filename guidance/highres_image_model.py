"""Extension Task 8: an image s times the model's side from Stable Diffusion 2 base (DemoFusion, CVPR 2024, and
AccDiffusion, ECCV 2024; the update rules are in guidance/highres.py, the patch prompts in guidance/highres_attention.py).

Phase 1 samples a plain image of the model's size; its latent's mean and standard deviation are the anchor. Phase s
(s = 2 … S) upsamples the latent bicubically to s times the side, noises it to every timestep with one fixed ε
(noise inversion, ẑ_t), and samples again from ẑ_T: each step adds the skip residual, runs the local path (windows
of the model's size, every `stride` latent px, moved by a random jitter and zero-padded at the border) and the global
path (dilated sampling of s² sub-latents), fuses them, and the phase ends re-standardised to the anchor.

Every DDIM step is the course's: compute_tweedie then compute_prev_state (guidance/base_model.py), per window and per
sub-latent. The canonical variable is the canvas z, [1, 4, s·h, s·w]; the instances are the local path's windows.
"""

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from guidance.base_model import BaseModel, check_like
from guidance.highres import (cosine_schedules, dilated_sampling, random_permutations, shuffle_sub_latents,
                              undo_dilated_sampling, unshuffle_sub_latents, window_words)
from guidance.highres_attention import (CrossAttentionStore, patch_prompts, prompt_words, storing_processors,
                                        word_masks)
from synckit.models import load_stable_diffusion
from utils.image_utils import tensor_to_pil


def local_windows(size, window, stride):
    """(h0, h1, w0, w1) of every window of a size×size canvas, row by row: one every `stride`, the last of a row or
    column moved back to end at the border, so that they tile it whatever the stride (DemoFusion's get_views)."""
    count = math.ceil((size - window) / stride) + 1 if size > window else 1
    starts = sorted({min(index * stride, size - window) for index in range(count)})
    return [(h0, h0 + window, w0, w0 + window) for h0 in starts for w0 in starts]


def jittered(windows, size, jitter_range, generator):
    """The windows on the canvas zero-padded by `jitter_range` on each side, each moved by a random jitter of at most
    that many latent px per axis; a window at a border moves only outwards, into the padding, so that the border stays
    covered (DemoFusion's random_jitter)."""
    def shift(start, end):
        low = 0 if end == size else -jitter_range  # at the bottom or right border: not upwards or leftwards
        high = 0 if start == 0 else jitter_range  # at the top or left border: not downwards or rightwards
        return int(torch.randint(low, high + 1, (1,), generator=generator)) + jitter_range
    moved = []
    for h0, h1, w0, w1 in windows:
        dh, dw = shift(h0, h1), shift(w0, w1)
        moved.append((h0 + dh, h1 + dh, w0 + dw, w1 + dw))
    return moved


def gaussian_blur(z, kernel_size, sigma):
    """Each channel of z [1, C, H, W] convolved with a normalized kernel_size² Gaussian of std σ, zero-padded."""
    offsets = torch.arange(kernel_size, dtype=torch.float32) - (kernel_size - 1) / 2
    line = torch.exp(-offsets.square() / (2 * sigma ** 2))
    line = line / line.sum()
    kernel = (line[:, None] * line[None, :]).to(z).expand(z.shape[1], 1, kernel_size, kernel_size)
    return F.conv2d(z, kernel, padding=kernel_size // 2, groups=z.shape[1])


def restandardised(z, mean, std):
    """z shifted and scaled to the given mean and standard deviation (over all its values)."""
    return (z - z.mean()) / z.std() * std + mean


class HighresImageModel(BaseModel):
    """Stable Diffusion 2 base (or the tiny SD) sampling s times its own side; `__call__` returns every phase's image.
    Its instances are the local path's windows (forward_mapping / inverse_mapping); the global path's sub-latents
    come from dilated_sampling."""

    def model_paths(self):
        return [self.config.sd_path]

    def init_model(self):
        self.model = load_stable_diffusion(self.config.sd_path, self.device, self.dtype, self.offload)
        self.scheduler = self.model.scheduler

    def init_mapper(self):
        config = self.config
        self.window = config.latent_instance_size
        self.jitter_range = (self.window - config.stride) // 4
        self.windows = []  # the local path's windows on the padded canvas, set per step (per phase: AccDiffusion)

    # --- the local path's mapping: windows of the canvas zero-padded by the jitter range --------------------------

    def forward_mapping(self, z_t, **kwargs):
        """f: the padded canvas [1, C, H + 2J, W + 2J] -> the windows of `self.windows`, [N, C, w, w]."""
        return torch.cat([z_t[:, :, h0:h1, w0:w1] for h0, h1, w0, w1 in self.windows])

    def inverse_mapping(self, x_ts, **kwargs):
        """g: the windows back onto the padded canvas, averaged where they overlap, 0 where none is."""
        total, count = self.paste_windows(x_ts)
        return total / count.clamp(min=1)

    def paste_windows(self, x_ts):
        """(the windows summed at their places on the padded canvas, how many windows cover each pixel)."""
        total = x_ts.new_zeros(1, x_ts.shape[1], *self.padded_shape)
        count = x_ts.new_zeros(1, 1, *self.padded_shape)
        for window, (h0, h1, w0, w1) in zip(x_ts, self.windows):
            total[0, :, h0:h1, w0:w1] += window
            count[0, :, h0:h1, w0:w1] += 1
        return total, count

    def compute_noise_preds(self, xts, timestep, prompt_embeds=None, negative_prompt_embeds=None, guidance_scale=None,
                            **kwargs):
        """ε̂ with classifier-free guidance, one prompt embedding per instance, view_batch_size instances per call."""
        batch, preds = self.config.view_batch_size, []
        for start in range(0, len(xts), batch):
            x = xts[start:start + batch]
            embeds = torch.cat([negative_prompt_embeds[start:start + batch], prompt_embeds[start:start + batch]])
            uncond, text = self.model.unet(torch.cat([x, x]), timestep, encoder_hidden_states=embeds).sample.chunk(2)
            preds.append(uncond + guidance_scale * (text - uncond))
        return torch.cat(preds)

    def ddim_step(self, xts, eps, timestep):
        """x_{t−1} of each instance from its own x_t and ε̂: the course's Tweedie and DDIM step."""
        alphas, sigmas = self.noise_schedule()
        x0s = self.compute_tweedie(xts, eps, timestep, alphas, sigmas)
        check_like(x0s, xts, "compute_tweedie", timestep)
        x_prev = self.compute_prev_state(xts, x0s, timestep)
        check_like(x_prev, xts, "compute_prev_state", timestep)
        return x_prev

    # --- sampling ------------------------------------------------------------------------------------------------

    def encode(self, prompts, negative_prompt):
        """(prompt, negative) embeddings of each prompt, [P, 77, D] each."""
        return self.model.encode_prompt(list(prompts), self.device, num_images_per_prompt=1,
                                        do_classifier_free_guidance=True,
                                        negative_prompt=[negative_prompt] * len(prompts))

    @torch.no_grad()
    def __call__(self, prompt, negative_prompt="", progress=True):
        """Sample the image; returns {"phases": the PIL image of each phase 1 … S (the last is the result),
        "patch_prompts": {scale: each window's prompt} (AccDiffusion), "windows": {scale: the windows' pixel boxes}}."""
        config = self.config
        self.generator = torch.Generator("cpu").manual_seed(config.seed)
        embeds = self.encode([prompt], negative_prompt)
        accdiffusion = config.method == "accdiffusion"
        store = CrossAttentionStore(config.attention_map_size) if accdiffusion else None
        z = self.base_latent(embeds, store, progress)
        anchor_mean, anchor_std = z.mean(), z.std()
        result = {"phases": [self.decode(z)], "patch_prompts": {}, "windows": {}}
        words = prompt_words(self.model.tokenizer, prompt) if accdiffusion else None
        token_maps = store.maps() if accdiffusion else None
        for scale in range(2, config.scale + 1):
            z = F.interpolate(z.float(), size=(scale * self.window,) * 2, mode="bicubic").to(z)
            z, prompts = self.upscaled_latent(z, scale, embeds, words, token_maps, negative_prompt, progress)
            z = restandardised(z, anchor_mean, anchor_std)
            result["phases"].append(self.decode(z))
            factor = config.rgb_instance_size // self.window
            result["windows"][scale] = [tuple(factor * (edge - self.jitter_range) for edge in box) for box in self.windows]
            if prompts is not None:
                result["patch_prompts"][scale] = prompts
        self.model.maybe_free_model_hooks()  # --offload model: the VAE too goes back to the CPU until the next run
        return result

    def base_latent(self, embeds, store, progress):
        """Phase 1: a plain DDIM sample of the model's size, [1, 4, h, w]; with a store, its cross-attention kept."""
        config, unet = self.config, self.model.unet
        z = torch.randn(1, 4, self.window, self.window, generator=self.generator).to(self.device, self.dtype)
        processors = unet.attn_processors
        if store is not None:
            unet.set_attn_processor(storing_processors(unet, store))
        try:
            self.scheduler.set_timesteps(config.num_inference_steps)
            for timestep in tqdm(self.scheduler.timesteps, desc="phase 1", disable=not progress):
                eps = self.compute_noise_preds(z, timestep, *embeds, guidance_scale=config.guidance_scale)
                z = self.ddim_step(z, eps, timestep)
        finally:
            unet.set_attn_processor(processors)
        return z

    def upscaled_latent(self, z_up, scale, embeds, words, token_maps, negative_prompt, progress):
        """Phase `scale`: the upsampled latent z_up [1, 4, s·h, s·w] sampled again from its noise inversion. Returns
        (z_0, each window's prompt or None)."""
        config = self.config
        size = z_up.shape[-1]
        self.padded_shape = (size + 2 * self.jitter_range,) * 2
        timesteps = self.scheduler.timesteps
        noise = torch.randn(z_up.shape, generator=self.generator).to(z_up)
        inverted = [self.scheduler.add_noise(z_up, noise, timestep[None]) for timestep in timesteps]  # ẑ_t
        grid = local_windows(size, self.window, config.stride)
        prompts, window_embeds = None, None
        if words is not None:  # AccDiffusion: the windows and their jitter stay for the phase, each with its prompt
            self.windows = jittered(grid, size, self.jitter_range, self.generator)
            masks = F.pad(word_masks(token_maps, words, size), (self.jitter_range,) * 4)
            prompts = patch_prompts(words, window_words(masks, self.windows, config.c))
            unique = sorted(set(prompts))
            cond, uncond = self.encode(unique, negative_prompt)
            chosen = torch.tensor([unique.index(text) for text in prompts], device=cond.device)
            window_embeds = (cond[chosen], uncond[chosen])
        z = inverted[0]
        for index, timestep in enumerate(tqdm(timesteps, desc=f"phase {scale}", disable=not progress)):
            c1, c2, c3 = cosine_schedules(timestep, self.scheduler.config.num_train_timesteps, config.cosine_scale_1,
                                          config.cosine_scale_2, config.cosine_scale_3)
            z = (1 - c1) * z + c1 * inverted[index]  # skip residual
            if words is None:  # DemoFusion: new jitter every step, the whole prompt everywhere
                self.windows = jittered(grid, size, self.jitter_range, self.generator)
            following = inverted[min(index + 1, len(timesteps) - 1)]
            local = self.local_path(z, timestep, embeds, window_embeds, following)
            global_ = self.global_path(z, timestep, embeds, scale, c3)
            z = (1 - c2) * local + c2 * global_
        return z, prompts

    def local_path(self, z, timestep, embeds, window_embeds, following):
        """MultiDiffusion on the jittered windows: each window's DDIM step, averaged; pixels no window covers (only
        possible with jitter) take the noise-inverted latent of the next step."""
        pad = self.jitter_range
        windows = self.forward_mapping(F.pad(z, (pad,) * 4))
        count = len(windows)
        if window_embeds is None:
            cond, uncond = (embed.expand(count, -1, -1) for embed in embeds)
            scale = self.config.guidance_scale
        else:
            (cond, uncond), scale = window_embeds, self.config.multi_guidance_scale
        eps = self.compute_noise_preds(windows, timestep, cond, uncond, guidance_scale=scale)
        total, covered = self.paste_windows(self.ddim_step(windows, eps, timestep))
        inside = (slice(None), slice(None), slice(pad, pad + z.shape[-2]), slice(pad, pad + z.shape[-1]))
        total, covered = total[inside], covered[inside]
        return torch.where(covered > 0, total / covered.clamp(min=1), following)

    def global_path(self, z, timestep, embeds, scale, c3):
        """Dilated sampling: the UNet sees the s² sub-latents of a blurred z (kernel 2s − 1, σ·c3, re-standardised to
        z's statistics), shuffled among each view batch with --shuffle; each sub-latent steps from its unblurred x_t."""
        config = self.config
        blurred = restandardised(gaussian_blur(z, 2 * scale - 1, config.sigma * c3), z.mean(), z.std())
        sub_latents, blurred_subs = dilated_sampling(z, scale), dilated_sampling(blurred, scale)
        check_sub_latents(sub_latents, (scale ** 2, z.shape[1], self.window, self.window), timestep)
        stepped = []
        for start in range(0, len(sub_latents), config.view_batch_size):
            chunk = slice(start, start + config.view_batch_size)
            model_input = blurred_subs[chunk]
            if config.shuffle:
                permutation = random_permutations(model_input.shape, self.generator).to(model_input.device)
                model_input = shuffle_sub_latents(model_input, permutation)
            count = len(model_input)
            eps = self.compute_noise_preds(model_input, timestep, *(embed.expand(count, -1, -1) for embed in embeds),
                                           guidance_scale=config.guidance_scale)
            if config.shuffle:
                eps = unshuffle_sub_latents(eps, permutation)
            stepped.append(self.ddim_step(sub_latents[chunk], eps, timestep))
        canvas = undo_dilated_sampling(torch.cat(stepped), scale)
        check_like(canvas, z, "undo_dilated_sampling", timestep)
        return canvas

    def decode(self, z0):
        """Latents [1, 4, h, w] to a PIL image; tiled (diffusers' AutoencoderKL tiling, blended tiles) with --vae_tiling
        on, or auto when the side is more than twice the model's."""
        vae, config = self.model.vae, self.config
        tiled = config.vae_tiling == "on" or (config.vae_tiling == "auto" and z0.shape[-1] > 2 * self.window)
        if tiled:
            vae.enable_tiling()
        try:
            image = vae.decode(z0 / vae.config.scaling_factor).sample
        finally:
            vae.disable_tiling()
        return tensor_to_pil(image[0])


def check_sub_latents(sub_latents, shape, timestep) -> None:
    """Fail at the first step, with a hint, when dilated_sampling returns the wrong shape."""
    if not isinstance(sub_latents, torch.Tensor) or tuple(sub_latents.shape) != shape:
        got = tuple(sub_latents.shape) if isinstance(sub_latents, torch.Tensor) else type(sub_latents).__name__
        raise ValueError(f"dilated_sampling gave {got} at t={int(timestep)}, but s² sub-latents of the model's size are "
                         f"{shape}: stack them along dimension 0")
