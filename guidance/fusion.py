"""Extension: GVCFDiffusion in the wide-image app (Guided and Variance-Corrected Fusion with One-shot Style
Alignment, AAAI 2025; arXiv 2412.12771, code TitorX/GVCFDiffusion). Symbols as in the paper: window i's weight map
w_i, its DDPM posterior mean μ_i and the noise σ_t·z_i its step injects, z_T the initial noise.

- Guided fusion (`--fusion guided`): where windows overlap, the inverse mapping weights each window by its cone
  map w (`cone_weights`: highest at the window's centre, falling linearly towards its corners), so a pixel follows
  the windows it lies near the middle of more than those it is at the edge of.
- Variance-corrected fusion (`--fusion vcf`, and with the cone weights `--fusion gvcf`), for the stochastic DDPM
  sampler (`--sampler ddpm`): averaging the x_{t−1} of n windows averages their independent noises too, which
  leaves noise of variance σ_t²/n and blurs the panorama. `variance_corrected_fusion` averages the means μ_i but
  rescales the summed noise so that it keeps variance σ_t².
- One-shot style alignment (`--style_align α`): z_T = `slerp`(z_rand, z_tiled, α), where z_tiled repeats one
  window's noise over the whole panorama, so every window starts from partly the same noise (and style).

`with_gvcf(WideImageModel)` (or the 360° model) is the model these flags run; `main.build_model` picks it.
"""

import functools

import torch

from guidance.base_model import check_like

# ε added to the cone map so that no pixel has weight 0: the reference's map is 0 at a window's corner, and the
# panorama's corner pixels, which only one window's corner covers, then divide 0 by 0.
EPSILON = 1e-3
GUIDED_FUSIONS = ("guided", "gvcf")  # those that weight the windows by the cone map
VARIANCE_CORRECTED_FUSIONS = ("vcf", "gvcf")  # those that rescale the DDPM step's noise after averaging


def cone_weights(size, epsilon=EPSILON):
    """w: the guided-fusion weight map of one size×size window, [size, size], float32.

    w(u, v) = 1 − √((u − c)² + (v − c)²) / √(2c²) + ε, with c = (size − 1)/2: the distance from the window's
    centre in pixel-centre coordinates (row u, column v), divided by the distance of a corner, so the cone falls
    linearly from its top at the centre (1 − 1/(size − 1) + ε at the four middle pixels of an even size, 1 + ε
    at the middle pixel of an odd one) to exactly ε at all four corners.
    """
    ### BEGIN SOLUTION
    centre = (size - 1) / 2
    offsets = torch.arange(size, dtype=torch.float32) - centre
    distance = (offsets[:, None].square() + offsets[None, :].square()).sqrt()
    return 1 - distance / (2 * centre**2) ** 0.5 + epsilon
    ### END SOLUTION


def variance_corrected_fusion(mus, noises, sigma, weights, sum_windows):
    """x_{t−1} on the canvas, fused from every window's DDPM step, with the noise's variance kept:

        x_{t−1} = Σ_i w_i·μ_i / Σ_i w_i + σ_t · Σ_i w_i·z_i / √(Σ_i w_i²)

    each sum over the windows i that cover a pixel. Plain averaging of μ_i + σ_t·z_i would leave the noise term
    Σ_i w_i·z_i / Σ_i w_i, of variance σ_t²·Σ w_i² / (Σ w_i)² (σ_t²/n for n equal weights): independent z_i add
    their variances, so the sum Σ_i w_i·z_i has variance Σ_i w_i², and dividing it by √(Σ_i w_i²) gives back
    unit variance.

    mus, noises: [N, C, h, w], μ_i and z_i ~ N(0, I) of every window; sigma: σ_t, the standard deviation of the
    step's noise (a number or a 0-dim tensor); weights: [h, w], the map w every window is weighted by (all ones:
    VCF; the cone: GVCF); sum_windows: a function that pastes windows [N, C, h, w] onto the canvas [1, C, H, W],
    summing where they overlap. Returns x_{t−1}, [1, C, H, W].
    """
    ### BEGIN SOLUTION
    weights = weights.expand_as(mus)
    mean = sum_windows(weights * mus) / sum_windows(weights)
    noise = sum_windows(weights * noises) / sum_windows(weights.square()).sqrt()
    return mean + sigma * noise
    ### END SOLUTION


def slerp(z1, z2, alpha):
    """Spherical linear interpolation from z1 (alpha = 0) to z2 (alpha = 1), tensors of one shape:

        θ = arccos(⟨z1, z2⟩ / (‖z1‖·‖z2‖)),   slerp = sin((1 − α)θ)/sin θ · z1 + sin(αθ)/sin θ · z2

    with the inner product and norms over the whole tensors. For z1 and z2 of one norm every point keeps that norm
    (a straight line between them, (1 − α)·z1 + α·z2, dips towards 0), so slerped Gaussian noise stays noise of
    unit variance. Here z1 and z2 are independent Gaussian draws of hundreds of values or more, never parallel, so
    sin θ is far from 0.
    """
    ### BEGIN SOLUTION
    cos_theta = (z1 * z2).sum() / (z1.norm() * z2.norm())
    theta = torch.arccos(cos_theta.clamp(-1, 1))
    return (torch.sin((1 - alpha) * theta) * z1 + torch.sin(alpha * theta) * z2) / torch.sin(theta)
    ### END SOLUTION


def ddpm_posterior(scheduler, xts, pred_x0s, timestep):
    """(μ, σ) of DDPM's step from x_t to the schedule's previous timestep (t − num_train_timesteps //
    num_inference_steps, as the DDIM step): x_{t−1} = μ + σ·z, z ~ N(0, I), with Ho et al.'s posterior q(x_{t−1} |
    x_t, x̂0) on that stride and its "fixed_small" variance, as diffusers' DDPMScheduler computes them (ᾱ = 1 past
    the end of the schedule, the variance at least 1e-20)."""
    prev_timestep = int(timestep) - scheduler.config.num_train_timesteps // scheduler.num_inference_steps
    alpha_prod_t = scheduler.alphas_cumprod[int(timestep)]
    alpha_prod_prev = scheduler.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else torch.tensor(1.0)
    beta = 1 - alpha_prod_t / alpha_prod_prev  # β of this stride, 1 − α_t
    mu = (alpha_prod_prev.sqrt() * beta * pred_x0s + (1 - beta).sqrt() * (1 - alpha_prod_prev) * xts) / (1 - alpha_prod_t)
    variance = (1 - alpha_prod_prev) / (1 - alpha_prod_t) * beta
    return mu, variance.clamp(min=1e-20).sqrt()


def tiled_noise(window_noise, height, width):
    """One window's noise [1, C, P, P] repeated side by side, without overlap, over a [1, C, height, width] canvas
    (height and width multiples of P: the config checks it for --style_align)."""
    size = window_noise.shape[-1]
    return window_noise.repeat(1, 1, height // size, width // size)


class GVCFDiffusion:
    """GVCFDiffusion's fusions for a wide-image model (WideImageModel or the 360° one); see the module's docstring.
    With every flag at its default it would do what the model does, but main.build_model then uses the plain one."""

    gvcf = True  # WideImageModel refuses a config with GVCFDiffusion's flags unless this is set

    def init_mapper(self):
        super().init_mapper()
        size = self.config.latent_instance_size
        # w of every window: the cone for the guided fusions; VCF is GVCF with equal weights
        self.window_weights = cone_weights(size) if self.config.fusion in GUIDED_FUSIONS else torch.ones(size, size)
        # how many windows cover each latent pixel, for sum_windows; columns past the right edge (360°) wrap
        self.window_count = torch.zeros(1, 1, self.latent_height, self.latent_width)
        for h0, h1, w0, w1 in self.mapper:
            self.window_count[..., h0:h1, torch.arange(w0, w1) % self.latent_width] += 1

    def inverse_mapping(self, x_ts, **kwargs):
        """The model's inverse mapping; for the guided fusions weighted by the cone map, Σ_i w_i·x_i / Σ_i w_i."""
        if self.config.fusion not in GUIDED_FUSIONS:
            return super().inverse_mapping(x_ts, **kwargs)
        weights = self.window_weights.to(x_ts).expand_as(x_ts).contiguous()
        # The plain mapping averages: the ratio of the averages of w_i·x_i and of w_i is the weighted average, the
        # window counts cancelling.
        return super().inverse_mapping(weights * x_ts, **kwargs) / super().inverse_mapping(weights, **kwargs)

    def sum_windows(self, x_ts):
        """The windows [N, C, h, w] pasted onto the canvas, summed where they overlap: the plain mapping's average
        times the number of windows there."""
        # contiguous: variance_corrected_fusion may pass expanded weights, and a mapping may reshape with view
        return super().inverse_mapping(x_ts.contiguous()) * self.window_count.to(x_ts)

    def canonical_noise(self):
        """z_T, where this panorama's one random stream from --seed starts: first z_T as WideImageModel draws it,
        then (--style_align) one window's noise z_s, then (--sampler ddpm) every step's noise of every window."""
        self.generator = torch.Generator("cpu").manual_seed(self.config.seed)
        z_rand = torch.randn(1, 4, self.latent_height, self.latent_width, generator=self.generator)
        if not self.config.style_align:
            return z_rand
        size = self.config.latent_instance_size
        z_s = torch.randn(1, 4, size, size, generator=self.generator)
        return slerp(z_rand, tiled_noise(z_s, self.latent_height, self.latent_width), self.config.style_align)

    def window_noise(self, xts):
        """Fresh independent N(0, I) noise z_i for every window, drawn on the CPU (the same on every device)."""
        return torch.randn(xts.shape, generator=self.generator).to(xts.device, xts.dtype)

    def compute_prev_state(self, xts, pred_x0s, timestep, **kwargs):
        """--sampler ddpm: DDPM's stochastic step, μ_i + σ_t·z_i, every window with its own noise; else the model's
        deterministic DDIM step."""
        if self.config.sampler == "ddim":
            return super().compute_prev_state(xts, pred_x0s, timestep, **kwargs)
        mus, sigma = ddpm_posterior(self.scheduler, xts, pred_x0s, timestep)
        return mus + sigma * self.window_noise(xts)

    def one_step_process(self, input_params, timestep, alphas, sigmas, sync_target=None, **kwargs):
        """--fusion vcf, gvcf: every window's DDPM step (its μ_i and z_i), fused by variance_corrected_fusion into
        x_{t−1}, which the windows then crop; the other fusions step as the model does."""
        if self.config.fusion not in VARIANCE_CORRECTED_FUSIONS:
            return super().one_step_process(input_params, timestep, alphas, sigmas, sync_target, **kwargs)
        if (sync_target or self.config.sync_target) != "xt":
            raise ValueError(f"--fusion {self.config.fusion} fuses the windows' x_(t-1): sync_target must be xt")
        xts = input_params["xts"]
        eps_preds = self.compute_noise_preds(xts, timestep, **kwargs)
        x0s = self.compute_tweedie(xts, eps_preds, timestep, alphas, sigmas, **kwargs)
        mus, sigma = ddpm_posterior(self.scheduler, xts, x0s, timestep)
        fused = variance_corrected_fusion(mus, self.window_noise(xts), sigma, self.window_weights.to(xts),
                                          self.sum_windows)
        x_t_1 = self.forward_mapping(fused)
        check_like(x_t_1, xts, "the windows of variance_corrected_fusion's x_(t-1)", timestep)
        return {"x0s": x0s, "x_t_1": x_t_1}


@functools.cache
def with_gvcf(model_class):
    """`model_class` (WideImageModel or CircularWideImageModel) with GVCFDiffusion's fusions; one class each."""
    return type(f"GVCF{model_class.__name__}", (GVCFDiffusion, model_class), {})
