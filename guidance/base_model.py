"""Synchronized sampling: N diffusion processes x^i tied to one canonical variable z.

    forward_mapping  f_i : z   -> x^i   (crop a window / apply a view)
    inverse_mapping  g   : x^i -> z     (paste back / undo the view, averaging where instances overlap)

Each denoising step predicts ε̂^i for every instance, and synchronizes one quantity through z = g(x),
x = f(z): the noise ε̂ (Visual Anagrams), Tweedie's x̂0 (SyncTweedies, the default) or x_{t-1}
(MultiDiffusion). Notation as in the handout: `alphas[t]` = √ᾱ_t and `sigmas[t]` = √(1−ᾱ_t).
"""

from abc import ABC, abstractmethod

import torch

from synckit.models import resolve_device, resolve_dtype, resolve_offload


class BaseModel(ABC):
    def __init__(self, config):
        self.config = config
        self.device = resolve_device(config, self.model_paths())
        self.dtype = resolve_dtype(config, self.device)
        self.offload = resolve_offload(config, self.device)
        self.scheduler = None  # the diffusers DDIM scheduler, set once by init_model
        self.init_mapper()
        self.init_model()

    @abstractmethod
    def model_paths(self) -> list: ...

    @abstractmethod
    def init_model(self): ...

    @abstractmethod
    def init_mapper(self): ...

    @abstractmethod
    def forward_mapping(self, z_t, **kwargs):
        """f: the canonical variable [1, ...] -> every instance [N, C, h, w].

        Keyword arguments come from SyncTweedies' general interface and may be ignored: `bg` holds the
        instances before synchronization, for mappings that leave some instance pixels uncovered by z (e.g.
        the background around a rendered object) and fill them from `bg`. Every pixel of a window or of a
        view comes from z, so this assignment's mappings ignore it.
        """

    @abstractmethod
    def inverse_mapping(self, x_ts, **kwargs):
        """g: every instance [N, C, h, w] -> the canonical variable [1, ...], averaging where instances overlap.

        `var_type` says which quantity is being synchronized ("eps", "tweedie" for x̂0, or "xt"), for
        mappings that treat them differently (SyncTweedies' general interface); this assignment maps all three
        the same way, so its mappings may ignore it.
        """

    @abstractmethod
    def compute_noise_preds(self, xts, timestep, **kwargs):
        """ε̂_θ(x_t^i) for every instance, with classifier-free guidance; same shape as `xts`."""

    def guided_noise_preds(self, unet, model_input, timestep, text_embeds, uncond_embeds, **unet_kwargs):
        """Classifier-free guidance, ε̃ = ε(∅) + w·(ε(c) − ε(∅)) (Ho & Salimans 2022), running the UNet on
        at most `view_batch_size` instances per call (each doubled for the unconditional pass)."""
        batch = self.config.view_batch_size
        preds = []
        for start in range(0, len(model_input), batch):
            chunk = slice(start, start + batch)
            x = model_input[chunk]
            extra = {name: torch.cat([value[chunk]] * 2) for name, value in unet_kwargs.items()}
            embeds = torch.cat([uncond_embeds[chunk], text_embeds[chunk]])
            uncond, text = unet(torch.cat([x, x]), timestep, encoder_hidden_states=embeds, **extra).sample.chunk(2)
            preds.append(uncond + self.config.guidance_scale * (text - uncond))
        return torch.cat(preds)

    def noise_schedule(self):
        """(alphas, sigmas) indexed by timestep: √ᾱ_t and √(1−ᾱ_t) of the scheduler in use."""
        alphas_cumprod = self.scheduler.alphas_cumprod
        return alphas_cumprod.sqrt(), (1 - alphas_cumprod).sqrt()

    def compute_tweedie(self, xts, eps, timestep, alphas, sigmas, **kwargs):
        """Tweedie's estimate of the clean sample, φ(x_t, ε̂) = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t."""
        ### BEGIN SOLUTION
        return (xts - sigmas[timestep] * eps) / alphas[timestep]
        ### END SOLUTION

    def compute_prev_state(self, xts, pred_x0s, timestep, **kwargs):
        """Deterministic DDIM step (η = 0) from x_t to the previous timestep of the schedule, not t − 1.

        ψ(x_t, x̂0) = √ᾱ_prev·x̂0 + √((1−ᾱ_prev)/(1−ᾱ_t))·(x_t − √ᾱ_t·x̂0), where the previous timestep is
        t − num_train_timesteps // num_inference_steps, and ᾱ_prev = final_alpha_cumprod past the end.
        """
        if kwargs.get("threshold_x0") is not None:  # --dynamic_thresholding (IF only; off by default)
            pred_x0s = kwargs["threshold_x0"](pred_x0s)
        ### BEGIN SOLUTION
        scheduler = self.scheduler
        prev_timestep = int(timestep) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
        alpha_prod_t = scheduler.alphas_cumprod[int(timestep)]
        alpha_prod_prev = scheduler.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else scheduler.final_alpha_cumprod
        # the noise this step implies, ε̂ = (x_t − √ᾱ_t·x̂0)/√(1−ᾱ_t), re-scaled to the previous noise level
        noise_direction = ((1 - alpha_prod_prev) / (1 - alpha_prod_t)).sqrt() * (xts - alpha_prod_t.sqrt() * pred_x0s)
        return alpha_prod_prev.sqrt() * pred_x0s + noise_direction
        ### END SOLUTION

    def one_step_process(self, input_params, timestep, alphas, sigmas, sync_target=None, **kwargs):
        """One DDIM step of every instance, synchronizing `sync_target` (eps, x0 or xt; default: the config's)
        across instances.

        input_params: {"xts": x_t of every instance, [N, C, H, W]}.
        kwargs: passed on to every call of the step: the model's inputs (UNet, prompt embeddings, ...) for
        compute_noise_preds, and `threshold_x0` (--dynamic_thresholding) for compute_prev_state.
        Returns {"x0s": the x̂0 the step used, "x_t_1": x_{t-1} of every instance}.
        """
        xts = input_params["xts"]
        eps_preds = self.compute_noise_preds(xts, timestep, **kwargs)
        sync_target = sync_target or self.config.sync_target

        if sync_target == "eps":
            # Case 1 (Visual Anagrams): average the noise predictions, then step each instance.
            # TODO: synchronize eps_preds the way the x0 branch below synchronizes x̂0 (inverse_mapping with
            # var_type="eps", then forward_mapping with bg=eps_preds), then compute_tweedie and compute_prev_state
            # from the synchronized ε̂, to set x0s and x_t_1. Pass **kwargs on to every call, as the x0 branch
            # does: it carries the model's inputs and --dynamic_thresholding's threshold_x0 to compute_prev_state.
            ### BEGIN SOLUTION
            eps_preds = self.forward_mapping(self.inverse_mapping(eps_preds, var_type="eps", **kwargs), bg=eps_preds, **kwargs)
            x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
            x_t_1 = self.compute_prev_state(xts, x0s, timestep, **kwargs)
            ### END SOLUTION
        elif sync_target == "x0":
            # Case 2 (SyncTweedies): average Tweedie's x̂0, then step each instance from its own x_t.
            x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
            check_like(x0s, xts, "compute_tweedie", timestep)
            # var_type names the quantity and bg holds the instances before averaging, for mappings that need
            # them (see forward_mapping / inverse_mapping); this assignment's mappings may ignore both.
            # Do not edit these lines to skip synchronization: any change outside the TODO regions voids every
            # task. The walkthrough notebooks of Tasks 1 and 2 sample without synchronization, for comparison.
            z0s = self.inverse_mapping(x0s, var_type="tweedie", **kwargs)
            x0s = self.forward_mapping(z0s, bg=x0s, **kwargs)
            x_t_1 = self.compute_prev_state(xts, x0s, timestep, **kwargs)
        elif sync_target == "xt":
            # Case 3 (MultiDiffusion): step each instance on its own, then average the x_{t-1}.
            # TODO: compute_tweedie and compute_prev_state from each instance's own ε̂ (set x0s), then
            # synchronize x_{t-1} (inverse_mapping with var_type="xt", then forward_mapping with bg=x_t_1) to set
            # x_t_1. Pass **kwargs on to every call, as in the x0 branch (threshold_x0 reaches compute_prev_state).
            ### BEGIN SOLUTION
            x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
            x_t_1 = self.compute_prev_state(xts, x0s, timestep, **kwargs)
            x_t_1 = self.forward_mapping(self.inverse_mapping(x_t_1, var_type="xt", **kwargs), bg=x_t_1, **kwargs)
            ### END SOLUTION
        else:
            raise ValueError(f"sync_target must be one of eps, x0, xt; got {sync_target!r}")

        check_like(x0s, xts, "x0s of one_step_process", timestep)
        check_like(x_t_1, xts, "x_t_1 of one_step_process", timestep)
        return {"x0s": x0s, "x_t_1": x_t_1}


def check_like(result, xts, produced_by, timestep):
    """Fail at the first step, with a hint, when a student function returns the wrong shape or NaN."""
    if not isinstance(result, torch.Tensor) or result.shape != xts.shape:
        shape = tuple(result.shape) if isinstance(result, torch.Tensor) else type(result).__name__
        raise ValueError(
            f"{produced_by} gave {shape} at t={int(timestep)} but x_t is {tuple(xts.shape)}: every per-instance "
            "tensor must keep x_t's shape (check the channel count, and that mappings keep one entry per instance)"
        )
    if not torch.isfinite(result).all():
        raise FloatingPointError(
            f"{produced_by} has NaN or inf at t={int(timestep)}: alphas and sigmas are already √ᾱ_t and √(1−ᾱ_t) "
            "(no second square root), and the previous ᾱ past the last step is scheduler.final_alpha_cumprod"
        )
