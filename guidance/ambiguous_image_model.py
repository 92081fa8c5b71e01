"""Tasks 2–3: ambiguous images (visual anagrams) with DeepFloyd IF, stage I at 64 px then stage II at 256 px.

Canonical space: one image z, [1, 3, S, S]. Instance spaces: its views x^i = view_i(z), [N, 3, S, S],
each denoised with its own prompt.
"""

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from guidance.base_model import BaseModel
from synckit.models import ModelLoadError, ddim_scheduler, load_deepfloyd
from utils.image_utils import tensor_to_pil
from utils.views import get_views


class AmbiguousImageModel(BaseModel):
    def model_paths(self):
        return [self.config.stage_1_path, self.config.stage_2_path]

    def init_model(self):
        self.stage_1, self.stage_2 = load_deepfloyd(
            self.config.stage_1_path, self.config.stage_2_path, self.device, self.dtype, self.offload
        )
        # Both stages were trained on one noise schedule, so one DDIM scheduler serves both (as the original).
        # Their configs differ only in the thresholding maximum, which `x0_thresholds` keeps per stage.
        self.scheduler = ddim_scheduler(self.stage_1)
        stage_schedulers = [self.scheduler, ddim_scheduler(self.stage_2)]
        if not torch.allclose(self.scheduler.alphas_cumprod, stage_schedulers[1].alphas_cumprod):
            raise ModelLoadError(f"{self.config.stage_2_path} has another noise schedule than {self.config.stage_1_path}; "
                                 "pass the two stages of one DeepFloyd IF release")
        # IF's configs ask for dynamic thresholding of x̂0 (Imagen): diffusers' IF pipeline and Visual Anagrams
        # apply it, the handout and SyncTweedies do not; --dynamic_thresholding turns it on, with each stage's
        # own ratio and maximum.
        self.x0_thresholds = [scheduler._threshold_sample if self.config.dynamic_thresholding else None
                              for scheduler in stage_schedulers]

    def init_mapper(self):
        self.views = get_views(self.config.views_names, self.config.rotate_angle)

    def forward_mapping(self, z_t, **kwargs):
        """f: every view of the canonical image [1, C, S, S], stacked as [N, C, S, S].
        Keyword arguments (`bg`, and what one_step_process passes on) may be passed to the views, which ignore
        them (see BaseModel.forward_mapping and utils/views/view_base.py)."""
        ### BEGIN SOLUTION
        return torch.stack([view.view(z_t[0], **kwargs) for view in self.views])
        ### END SOLUTION

    def inverse_mapping(self, x_ts, **kwargs):
        """g: undo each view and average, [N, C, S, S] -> [1, C, S, S].
        Keyword arguments (`var_type`, and what one_step_process passes on) may be passed to the views, which
        ignore them (see BaseModel.inverse_mapping and utils/views/view_base.py)."""
        ### BEGIN SOLUTION
        return torch.stack([view.inverse_view(x, **kwargs) for view, x in zip(self.views, x_ts)]).mean(0, keepdim=True)
        ### END SOLUTION

    def compute_noise_preds(self, xts, timestep, unet=None, prompt_embeds=None, negative_prompt_embeds=None,
                            upscaled=None, noise_level=None, **kwargs):
        """ε̂ of every view under its own prompt.

        IF's UNets predict 2·C channels for C-channel images: ε̂ and the interpolation weights of a learned
        variance, stacked on the channel axis. Deterministic DDIM uses only ε̂, so the split happens here.
        """
        if upscaled is None:
            preds = self.guided_noise_preds(unet, xts, timestep, prompt_embeds, negative_prompt_embeds)
        else:  # stage II sees [x_t, upscaled stage-I image] and the noise level of the latter as a class label
            preds = self.guided_noise_preds(
                unet, torch.cat([xts, upscaled], dim=1), timestep, prompt_embeds, negative_prompt_embeds,
                class_labels=noise_level,
            )
        channels = xts.shape[1]
        if preds.shape[1] != 2 * channels:
            raise ValueError(
                f"DeepFloyd's UNet returned {preds.shape[1]} channels for {channels}-channel images; expected "
                f"{2 * channels} (ε̂ then the learned variance). Is the model folder an IF stage?"
            )
        eps, _learned_variance = preds.split(channels, dim=1)
        return eps

    def denoise(self, xts, unet, progress, description, sync_target, threshold_x0, **kwargs):
        """The DDIM loop of one stage, synchronized every step; returns the synchronized x_0 of every view."""
        self.scheduler.set_timesteps(self.config.num_inference_steps)
        alphas, sigmas = self.noise_schedule()
        for timestep in tqdm(self.scheduler.timesteps, desc=description, disable=not progress):
            xts = self.one_step_process({"xts": xts}, timestep, alphas, sigmas, sync_target, unet=unet,
                                        threshold_x0=threshold_x0, **kwargs)["x_t_1"]
        return self.forward_mapping(self.inverse_mapping(xts))

    @torch.no_grad()
    def __call__(self, prompts, progress=True, sync_target=None):
        """Sample one anagram; returns one PIL image per view (view i is what prompt i describes).
        `sync_target`: eps, x0 or xt (default: the config's)."""
        prompt_embeds, negative_prompt_embeds = self.stage_1.encode_prompt(
            list(prompts), do_classifier_free_guidance=True, device=self.device,
        )
        embeds = dict(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds)
        generator = torch.Generator("cpu").manual_seed(self.config.seed)

        def initial_noise(size):
            """x_T of every view. `independent` (the original assignment's start): each view its own noise, so
            the views disagree at first and averaging ε̂, x̂0 or x_{t-1} leads to different anagrams.
            `canonical`: views of one z_T; for views that only move pixels the views then agree at every
            step, and the three targets make the same picture (the Task 3 notebook works out why)."""
            if self.config.init_noise == "canonical":
                z_T = torch.randn(1, 3, size, size, generator=generator)
                return self.forward_mapping(z_T.to(self.device, self.dtype))
            return torch.randn(len(self.views), 3, size, size, generator=generator).to(self.device, self.dtype)

        # Stage I: 64 px.
        unet_1 = self.stage_1.unet
        stage_1_views = self.denoise(initial_noise(unet_1.config.sample_size), unet_1, progress, "stage I", sync_target,
                                     self.x0_thresholds[0], **embeds)
        self.stage_1.maybe_free_model_hooks()  # --offload model: T5 and stage I wait on the CPU during stage II

        # Stage II: 256 px, conditioned on the stage-I anagram: its canonical image, upsampled and noised to
        # `stage2_noise_level` as IF-II was trained (diffusers' IFSuperResolutionPipeline does the same), then
        # viewed per instance, so that every view is conditioned on a view of one image (as Visual Anagrams).
        unet_2 = self.stage_2.unet
        size = unet_2.config.sample_size
        canonical = F.interpolate(self.inverse_mapping(stage_1_views).clamp(-1, 1), size=(size, size), mode="bilinear",
                                  align_corners=True)
        noise_level = torch.full((len(prompts),), self.config.stage2_noise_level, device=self.device)
        canonical_noise = torch.randn(canonical.shape, generator=generator).to(self.device, self.dtype)
        canonical = self.stage_2.image_noising_scheduler.add_noise(canonical, canonical_noise, noise_level[:1])
        views = self.denoise(
            initial_noise(size), unet_2, progress, "stage II", sync_target, self.x0_thresholds[1],
            upscaled=self.forward_mapping(canonical), noise_level=noise_level, **embeds,
        )
        self.stage_2.maybe_free_model_hooks()
        return [tensor_to_pil(view) for view in views]
