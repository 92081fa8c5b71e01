"""Extension: region prompts in the wide-image app (MultiDiffusion's region-based generation; Bar-Tal, Yariv, Lipman
and Dekel, "MultiDiffusion: Fusing Diffusion Paths for Controlled Image Generation", ICML 2023; code
omerbt/MultiDiffusion, region_based.py).

A layout (`--regions LAYOUT.json`, read by synckit/regions.py) gives a background prompt and (prompt, mask) pairs.
Every prompt p runs on every window i, an instance x_{p,i}, and the instances are fused with the masks as weights
(the paper's Eq. 5 with W_i the masks):

    z = Σ_p Σ_i F_i^{-1}(M_{p,i} ⊙ x_{p,i}) / Σ_p Σ_i F_i^{-1}(M_{p,i})

M_{p,i} being prompt p's mask cropped to window i: a region's prediction counts where its mask is, the background's
(mask 1 − Σ of the regions' masks, at least 0) where no region is, and where regions overlap their mean.

Bootstrapping (the first `--bootstrapping` steps, 20 as the official code): before the UNet sees a region's window,
the window outside the region is replaced by a constant-colour image noised to the step's level, √ᾱ_t·b + √(1−ᾱ_t)·ε
with ε the window's crop of the initial noise z_T, a different random colour b each time; so the region's prompt
draws its subject inside the mask, against a plain background, rather than spreading it over the whole window.

`with_regions(WideImageModel)` is the model `--regions` runs; `main.build_model` picks it.
"""

import functools

import torch
from tqdm.auto import tqdm

from guidance.base_model import check_like
from synckit.regions import read_layout


def region_fusion(instances, masks, sum_windows):
    """The canvas from every prompt's windows, each counted where its mask is:

        z = Σ_p Σ_i F_i^{-1}(M_{p,i} ⊙ x_{p,i}) / Σ_p Σ_i F_i^{-1}(M_{p,i})

    instances: x_{p,i}, [P, N, C, h, w] (prompt p, window i); masks: M_{p,i}, prompt p's mask cropped to window i,
    [P, N, 1, h, w], weights ≥ 0; sum_windows: pastes windows [N, C, h, w] onto the canvas [1, C, H, W], summing where
    they overlap (F_i^{-1} summed over i). Every canvas pixel has some weight (the layout check guarantees it).
    Returns z, [1, C, H, W].
    """
    ### BEGIN SOLUTION
    weights = masks.expand_as(instances)
    return sum_windows((weights * instances).sum(0)) / sum_windows(weights.sum(0))
    ### END SOLUTION


def bootstrap_regions(xts, masks, backgrounds, noise, alpha, sigma):
    """Bootstrapping: each window's x_t kept inside its region's mask, and outside it a constant-colour background
    noised to this step's level, as the scheduler's add_noise would:

        x_t ← M ⊙ x_t + (1 − M) ⊙ (√ᾱ_t·b + √(1−ᾱ_t)·ε)

    xts: x_t of the regions' windows, [n, C, h, w]; masks: M, each window's mask, [n, 1, h, w], 1 inside; backgrounds:
    b, the latent of a constant-colour image per window, [n, C, h, w]; noise: ε, [n, C, h, w]; alpha, sigma: √ᾱ_t
    and √(1−ᾱ_t) (numbers or 0-dim tensors). Returns the bootstrapped x_t, [n, C, h, w].
    """
    ### BEGIN SOLUTION
    return masks * xts + (1 - masks) * (alpha * backgrounds + sigma * noise)
    ### END SOLUTION


class RegionPrompts:
    """Region prompts for the wide-image model: the instances are every prompt of the layout on every window, prompt
    by prompt (instance p·N + i is prompt p on window i); see the module's docstring."""

    region_prompts = True  # WideImageModel refuses a config with --regions unless this is set

    def init_mapper(self):
        super().init_mapper()
        config = self.config
        self.factor = config.rgb_instance_size // config.latent_instance_size
        self.layout = read_layout(config.regions, config.panorama_height, config.panorama_width, self.factor)
        masks = torch.from_numpy(self.layout.latent_masks(self.factor))  # [R, H, W], the regions'
        if self.layout.background is not None:  # the official bg_mask: 1 − Σ of the regions' masks, at least 0
            masks = torch.cat([(1 - masks.sum(0, keepdim=True)).clamp(min=0), masks])
        # the regions' prompts (not the background's) are bootstrapped
        self.bootstrapped_prompts = slice(1 if self.layout.background is not None else 0, None)
        # M_{p,i}: each prompt's mask cropped to each window, [P, N, 1, h, w]
        self.instance_masks = super().forward_mapping(masks[None]).transpose(0, 1)[:, :, None].contiguous()
        # how many windows cover each latent pixel, for sum_windows
        self.window_count = torch.zeros(1, 1, self.latent_height, self.latent_width)
        for h0, h1, w0, w1 in self.mapper:
            self.window_count[..., h0:h1, w0:w1] += 1

    def sum_windows(self, x_ts):
        """Windows [N, C, h, w] pasted onto the canvas, summed where they overlap: the window mapping's average times
        the number of windows there."""
        return super().inverse_mapping(x_ts.contiguous()) * self.window_count.to(x_ts)

    def forward_mapping(self, z_t, **kwargs):
        """Every prompt's copy of every window of z_t, [P·N, C, h, w]."""
        return super().forward_mapping(z_t, **kwargs).repeat(len(self.layout.prompts), 1, 1, 1)

    def inverse_mapping(self, x_ts, **kwargs):
        """The instances fused with the masks as weights (region_fusion)."""
        prompts = len(self.layout.prompts)
        canvas = region_fusion(x_ts.unflatten(0, (prompts, len(x_ts) // prompts)), self.instance_masks.to(x_ts),
                               self.sum_windows)
        check_canvas(canvas, (1, x_ts.shape[1], self.latent_height, self.latent_width))
        return canvas

    def canonical_noise(self):
        """z_T as WideImageModel draws it from --seed; bootstrapping's colours and choices continue that stream."""
        self.generator = torch.Generator("cpu").manual_seed(self.config.seed)
        return torch.randn(1, 4, self.latent_height, self.latent_width, generator=self.generator)

    def bootstrap_backgrounds(self):
        """The latents of --bootstrapping constant-colour window images, [B, 4, h, w], colours uniform in RGB, each
        encoded by the VAE (a sample of its latent distribution), as the official get_random_background."""
        vae, size = self.model.vae, self.config.rgb_instance_size
        colours = torch.rand(self.config.bootstrapping, 3, 1, 1, generator=self.generator)
        latents = []
        for colour in colours:  # one at a time: 20 images of 512×512 px at once would take GBs of activations
            image = (2 * colour - 1).expand(1, 3, size, size).to(self.device, self.dtype)
            latents.append(vae.encode(image).latent_dist.sample(self.generator) * vae.config.scaling_factor)
        return torch.cat(latents)

    def bootstrapped(self, xts, noise, backgrounds, timestep, alphas, sigmas):
        """The instances with every region's windows bootstrapped (a background chosen at random for each)."""
        prompts = len(self.layout.prompts)
        xts = xts.unflatten(0, (prompts, len(xts) // prompts)).clone()
        regions = xts[self.bootstrapped_prompts]
        chosen = torch.randint(len(backgrounds), (regions.shape[0] * regions.shape[1],), generator=self.generator)
        bootstrapped = bootstrap_regions(
            regions.flatten(0, 1), self.instance_masks[self.bootstrapped_prompts].flatten(0, 1).to(xts),
            backgrounds[chosen.to(backgrounds.device)], noise.repeat(regions.shape[0], 1, 1, 1),
            alphas[timestep], sigmas[timestep],
        )
        check_like(bootstrapped, regions.flatten(0, 1), "bootstrap_regions", timestep)
        xts[self.bootstrapped_prompts] = bootstrapped.unflatten(0, regions.shape[:2])
        return xts.flatten(0, 1)

    @torch.no_grad()
    def __call__(self, negative_prompt="", progress=True, sync_target=None):
        """Sample the layout's image; returns it as a PIL image. `sync_target`: eps, x0 or xt (default: the
        config's)."""
        config, prompts, windows = self.config, list(self.layout.prompts), len(self.mapper)
        prompt_embeds, negative_prompt_embeds = self.model.encode_prompt(
            prompts, self.device, num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt=[negative_prompt] * len(prompts),
        )
        # instance p·N + i takes prompt p's embeddings
        prompt_embeds = prompt_embeds.repeat_interleave(windows, 0)
        negative_prompt_embeds = negative_prompt_embeds.repeat_interleave(windows, 0)
        z_t = self.canonical_noise().to(self.device, self.dtype)
        noise = super().forward_mapping(z_t)  # ε of bootstrapping: each window's crop of z_T, as the official code
        backgrounds = self.bootstrap_backgrounds() if config.bootstrapping else None
        xts = self.forward_mapping(z_t)

        self.scheduler.set_timesteps(config.num_inference_steps)
        alphas, sigmas = self.noise_schedule()
        for index, timestep in enumerate(tqdm(self.scheduler.timesteps, desc="regions", disable=not progress)):
            bootstrapping = index < config.bootstrapping
            if bootstrapping:
                xts = self.bootstrapped(xts, noise, backgrounds, timestep, alphas, sigmas)
            xts = self.one_step_process(
                {"xts": xts}, timestep, alphas, sigmas, sync_target,
                prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
            )["x_t_1"]
            if bootstrapping:
                # Outside its mask a region's window stepped from the bootstrapped background (with the eps and x0
                # targets each window keeps its own x_t): crop it again from the fused canvas, as the official code
                # crops every step's windows from its one latent. Where the masks weigh it, nothing changes.
                xts = self.forward_mapping(self.inverse_mapping(xts, var_type="xt"))
        image = self.decode(self.inverse_mapping(xts))
        self.model.maybe_free_model_hooks()  # --offload model: the VAE too goes back to the CPU until the next run
        return image


def check_canvas(canvas, shape) -> None:
    """Fail at the first fusion, with a hint, when region_fusion returns the wrong shape or NaN."""
    if not isinstance(canvas, torch.Tensor) or tuple(canvas.shape) != shape:
        got = tuple(canvas.shape) if isinstance(canvas, torch.Tensor) else type(canvas).__name__
        raise ValueError(f"region_fusion gave {got}, but the canvas is {shape}: sum the prompts' windows (dimension "
                         "0) before sum_windows pastes them")
    if not torch.isfinite(canvas).all():
        raise FloatingPointError("region_fusion has NaN or inf: divide the weighted sum by the summed weights, "
                                 "which are above 0 at every pixel (the background, or regions covering the canvas)")


@functools.cache
def with_regions(model_class):
    """`model_class` (WideImageModel) with region prompts; one class each."""
    return type(f"Regions{model_class.__name__}", (RegionPrompts, model_class), {})
