"""Task 1: a wide image from overlapping windows of Stable Diffusion 2.

Canonical space: the panorama latent z, [1, 4, H/8, W/8] (64×384 for 512×3072).
Instance spaces: the N windows x^i = f_i(z), [N, 4, 64, 64], 41 of them with stride 8.
"""

import torch
from tqdm.auto import tqdm

from configs.wide_image_config import gvcf_flags
from guidance.base_model import BaseModel
from synckit.models import load_stable_diffusion
from utils.image_utils import tensor_to_pil


def get_windows(height, width, window_size, stride):
    """(h0, h1, w0, w1) of every window, row by row; the config check guarantees they tile the canvas."""
    return [
        (h0, h0 + window_size, w0, w0 + window_size)
        for h0 in range(0, height - window_size + 1, stride)
        for w0 in range(0, width - window_size + 1, stride)
    ]


class WideImageModel(BaseModel):
    circular = False  # whether the windows wrap past the right edge (CircularWideImageModel, --circular)
    gvcf = False  # whether it has GVCFDiffusion's fusions (guidance/fusion.py: --fusion, --sampler, --style_align)
    syncdiffusion = False  # whether it has SyncDiffusion's gradient step (guidance/syncdiffusion.py)
    region_prompts = False  # whether it has region prompts (guidance/regions.py, --regions)

    def model_paths(self):
        return [self.config.sd_path]

    def init_model(self):
        self.model = load_stable_diffusion(self.config.sd_path, self.device, self.dtype, self.offload)
        if self.config.vae_tiling:
            self.model.vae.enable_tiling()
        self.scheduler = self.model.scheduler

    def init_mapper(self):
        config = self.config
        if config.circular != self.circular:  # a 360° config given to the plain model, or the reverse
            raise ValueError(f"--circular is {config.circular}, but {type(self).__name__}'s windows "
                             f"{'wrap' if self.circular else 'do not wrap'}; main.build_model picks the right model")
        if gvcf_flags(config) and not self.gvcf:
            raise ValueError(f"{', '.join(gvcf_flags(config))} need GVCFDiffusion's fusions, which "
                             f"{type(self).__name__} has not; main.build_model picks the right model")
        if config.syncdiffusion_weight and not self.syncdiffusion:
            raise ValueError(f"--syncdiffusion_weight needs SyncDiffusion's gradient step, which {type(self).__name__} "
                             "has not; main.build_model picks the right model")
        if config.regions is not None and not self.region_prompts:
            raise ValueError(f"--regions needs region prompts, which {type(self).__name__} has not; main.build_model "
                             "picks the right model")
        vae_factor = config.rgb_instance_size // config.latent_instance_size
        self.latent_height = config.panorama_height // vae_factor
        self.latent_width = config.panorama_width // vae_factor
        self.mapper = get_windows(self.latent_height, self.latent_width, config.latent_instance_size, config.window_stride)

    def forward_mapping(self, z_t, **kwargs):
        """f: crop the canonical latent [1, C, H, W] into the windows of `self.mapper`, [N, C, h, w].
        Keyword arguments (`bg`, and what one_step_process passes on): ignored, see BaseModel.forward_mapping."""
        ### BEGIN SOLUTION
        # One gather for all windows: row and column indices of every window, broadcast to [N, h, w].
        windows = torch.tensor(self.mapper, device=z_t.device)
        rows = windows[:, 0, None] + torch.arange(windows[0, 1] - windows[0, 0], device=z_t.device)
        cols = windows[:, 2, None] + torch.arange(windows[0, 3] - windows[0, 2], device=z_t.device)
        crops = z_t[0][:, rows[:, :, None], cols[:, None, :]]  # [C, N, h, w]
        return crops.permute(1, 0, 2, 3)
        ### END SOLUTION

    def inverse_mapping(self, x_ts, **kwargs):
        """g: paste the windows [N, C, h, w] back onto the canvas [1, C, H, W], averaging overlaps by their counts.
        Keyword arguments (`var_type`, and what one_step_process passes on): ignored, see BaseModel.inverse_mapping."""
        ### BEGIN SOLUTION
        windows = torch.tensor(self.mapper, device=x_ts.device)
        rows = windows[:, 0, None] + torch.arange(x_ts.shape[-2], device=x_ts.device)
        cols = windows[:, 2, None] + torch.arange(x_ts.shape[-1], device=x_ts.device)
        # flat canvas index of every window pixel, [N*h*w]
        canvas_index = (rows[:, :, None] * self.latent_width + cols[:, None, :]).flatten()
        channels = x_ts.shape[1]
        values = x_ts.permute(1, 0, 2, 3).reshape(channels, -1)
        total = torch.zeros(channels, self.latent_height * self.latent_width, dtype=x_ts.dtype, device=x_ts.device)
        total.index_add_(1, canvas_index, values)
        count = torch.bincount(canvas_index, minlength=total.shape[1])
        return (total / count).reshape(1, channels, self.latent_height, self.latent_width)
        ### END SOLUTION

    def compute_noise_preds(self, xts, timestep, prompt_embeds=None, negative_prompt_embeds=None, **kwargs):
        """ε̂ of every window; all windows share the prompt."""
        n = len(xts)
        return self.guided_noise_preds(
            self.model.unet, xts, timestep,
            prompt_embeds.expand(n, -1, -1), negative_prompt_embeds.expand(n, -1, -1),
        )

    @torch.no_grad()
    def __call__(self, prompt, negative_prompt="", progress=True, sync_target=None):
        """Sample one panorama; returns it as a PIL image. `sync_target`: eps, x0 or xt (default: the config's)."""
        config = self.config
        prompt_embeds, negative_prompt_embeds = self.model.encode_prompt(
            prompt, self.device, num_images_per_prompt=1, do_classifier_free_guidance=True,
            negative_prompt=negative_prompt,
        )
        # x_T of every window is a crop of one canonical noise z_T, so overlaps start in agreement.
        xts = self.forward_mapping(self.canonical_noise().to(self.device, self.dtype))

        self.scheduler.set_timesteps(config.num_inference_steps)
        alphas, sigmas = self.noise_schedule()
        for timestep in tqdm(self.scheduler.timesteps, desc="wide image", disable=not progress):
            out = self.one_step_process(
                {"xts": xts}, timestep, alphas, sigmas, sync_target,
                prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
            )
            xts = out["x_t_1"]
        panorama = self.decode(self.inverse_mapping(xts))
        self.model.maybe_free_model_hooks()  # --offload model: the VAE too goes back to the CPU until the next run
        return panorama

    def canonical_noise(self):
        """z_T, [1, 4, H, W]: the seed's draw, on the CPU so that every device starts from the same noise."""
        generator = torch.Generator("cpu").manual_seed(self.config.seed)
        return torch.randn(1, 4, self.latent_height, self.latent_width, generator=generator)

    def decode(self, z0):
        """The whole canonical latent in one VAE call, no seams to average in RGB (--vae_tiling: blended tiles)."""
        return tensor_to_pil(self.vae_decode(z0)[0])

    def vae_decode(self, z0):
        """Latents [1, 4, h, w] to RGB in [-1, 1], [1, 3, 8h, 8w]."""
        vae = self.model.vae
        return vae.decode(z0 / vae.config.scaling_factor).sample
