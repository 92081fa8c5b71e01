"""Extension: SyncDiffusion in the wide-image app (Lee, Kim, Kim and Sung, "SyncDiffusion: Coherent Montage via
Synchronized Joint Diffusions", NeurIPS 2023; code KAIST-Visual-AI-Group/SyncDiffusion).

Averaging overlaps (MultiDiffusion) joins neighbouring windows without seams, but windows far apart never see each
other and may draw different scenes. SyncDiffusion adds, before each synchronized step that its schedule selects, one
gradient-descent step on every window's x_t towards the anchor, the middle window a: with I_i the decoded Tweedie
estimate of window i, I_i = D(x̂0(x_t^i)) (through the UNet and the VAE decoder),

    x_t^i ← x_t^i − w_s · ∇_{x_t^i} LPIPS(I_i, I_a)     for every window i ≠ a,   w_s = W · γ^s at step s (from 0),

I_a held fixed (no gradient flows into the anchor, which itself is not moved); then the usual synchronized step from
the updated x_t. LPIPS is the lpips package's, with its VGG16 trunk as the official code's.

`with_syncdiffusion(model_class)` is the model `--syncdiffusion_weight` runs; `main.build_model` picks it.
"""

import functools
import warnings
from pathlib import Path

import torch

from guidance.base_model import check_like
from synckit.models import ModelLoadError

LPIPS_NET = "vgg"  # the official code's lpips.LPIPS(net='vgg')
# The file lpips' VGG16 trunk loads (torchvision's VGG16_Weights.IMAGENET1K_V1, which `pretrained=True` means there),
# from torch.hub's checkpoint folder; named here so that a missing file is one message, not a failed download.
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
RANDOM_TRUNK_SEED = 0  # --tiny: the random VGG16 trunk is the same in every run


def syncdiffusion_step(xts, anchor, weight, image_of, loss_fn, chunk_size):
    """One SyncDiffusion gradient step on the windows' x_t; returns the updated windows, [N, C, h, w].

    xts: x_t of every window, [N, C, h, w]. anchor: the index a of the anchor window. weight: this step's w.
    image_of: a differentiable function from windows [n, C, h, w] to their images [n, 3, H, W] (the decoded x̂0).
    loss_fn: loss_fn(images [n, 3, H, W], anchor_image [1, 3, H, W]) -> the n windows' losses, [n] or [n, 1, 1, 1],
    each depending on its own window only. chunk_size: at most this many windows per image_of call and backward pass
    (a memory bound; the result does not depend on it).

        I_a = image_of(x_t^a), held fixed (computed without gradient, or detached)
        L_i = loss_fn(image_of(x_t^i), I_a)
        x_t^i ← x_t^i − weight · ∂L_i/∂x_t^i    for every i ≠ a;  x_t^a unchanged

    Each L_i depends only on x_t^i, so the gradient of the sum of a chunk's losses with respect to the chunk's
    windows is every window's own gradient at once: one backward pass per chunk, not one per window. The caller has
    gradients enabled (torch.enable_grad()); `xts` itself does not require grad: differentiate with respect to a
    detached copy (`.detach().requires_grad_()`), e.g. with torch.autograd.grad, and return a tensor without graph.
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        anchor_image = image_of(xts[anchor:anchor + 1])
    others = torch.tensor([index for index in range(len(xts)) if index != anchor], device=xts.device)
    updated = xts.clone()
    for chunk in others.split(chunk_size):
        windows = xts[chunk].detach().requires_grad_()
        loss = loss_fn(image_of(windows), anchor_image).sum()
        (gradient,) = torch.autograd.grad(loss, windows)
        updated[chunk] = xts[chunk] - weight * gradient
    return updated
    ### END SOLUTION


def step_weight(config, step_index):
    """w_s of step `step_index` (0 for the first step), or None where the schedule does not guide that step: every
    --syncdiffusion_freq-th step of steps 1..--syncdiffusion_last_step (counted from 1), as the official
    `(i + 1) % sync_freq == 0 and i < sync_thres`, weighted W·γ^i (its exponential_decay_list)."""
    if (step_index + 1) % config.syncdiffusion_freq or step_index >= config.syncdiffusion_last_step:
        return None
    return config.syncdiffusion_weight * config.syncdiffusion_decay**step_index


def vgg16_weights_file() -> Path:
    """Where torchvision looks for the VGG16 weights before downloading them: torch.hub's checkpoint folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_URL.rsplit("/", 1)[1]


def load_lpips(pretrained_trunk, device):
    """lpips.LPIPS(net='vgg') in float32 on `device`, frozen, its linear layers the package's calibrated ones.

    pretrained_trunk: the VGG16 trunk with torchvision's ImageNet weights (the real models), which must be on disk
    already (vgg16_weights_file), or a ModelLoadError says where to put them; False (--tiny): the same lpips code with
    a randomly initialized trunk (lpips' pnet_rand), seeded, so that it runs offline and is the same in every run."""
    import lpips

    path = vgg16_weights_file()
    if pretrained_trunk and not path.is_file():
        raise ModelLoadError(
            f"SyncDiffusion's LPIPS needs torchvision's ImageNet VGG16 weights, and {path} does not exist: download "
            f"{VGG16_URL} (528 MB) to that path (torch.hub's folder; set TORCH_HOME to use another), e.g. "
            f"`curl -L --create-dirs -o {path} {VGG16_URL}`. Without them, drop --syncdiffusion_weight, or add --tiny"
        )
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        # lpips calls torchvision's deprecated `pretrained=` argument; nothing for the user to change
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(RANDOM_TRUNK_SEED)
        try:
            model = lpips.LPIPS(net=LPIPS_NET, pnet_rand=not pretrained_trunk, verbose=False)
        except (RuntimeError, OSError) as err:  # a truncated or corrupt weights file
            raise ModelLoadError(f"could not load the VGG16 weights {path} ({err}): download {VGG16_URL} there "
                                 "again") from err
    return model.requires_grad_(False).to(device)


def step_index_of(scheduler, timestep) -> int:
    """The position of `timestep` in the scheduler's timesteps (0 for the first, noisiest step)."""
    return int((scheduler.timesteps == timestep).nonzero()[0, 0])


class SyncDiffusion:
    """SyncDiffusion's gradient step before each selected step of a wide-image model (WideImageModel, the 360° one,
    or either with GVCFDiffusion's fusions); see the module's docstring."""

    syncdiffusion = True  # WideImageModel refuses a config with --syncdiffusion_weight unless this is set

    def init_model(self):
        # LPIPS first: without the VGG16 weights the run stops before Stable Diffusion loads (or downloads).
        self.lpips = load_lpips(not self.config.tiny, self.device)
        # Every network stays on the device (--offload auto; the config refuses model): diffusers' model offload
        # moves the UNet off the GPU when the VAE runs, and the backward pass then needs the UNet again.
        self.offload = "none"
        super().init_model()
        # Gradients are only ever taken with respect to x_t: frozen weights keep no graph for themselves.
        self.model.unet.requires_grad_(False)
        self.model.vae.requires_grad_(False)
        self.anchor = len(self.mapper) // 2  # the middle window, as the official anchor_view_idx

    def decoded_x0(self, xts, timestep, alphas, sigmas, **kwargs):
        """I: every window's Tweedie estimate x̂0 decoded to RGB, clamped to [-1, 1] as the official code's [0, 1]
        images (then scaled by 2, less 1, for LPIPS); differentiable through the UNet and the VAE decoder."""
        eps = self.compute_noise_preds(xts, timestep, **kwargs)
        return self.vae_decode(self.compute_tweedie(xts, eps, timestep, alphas, sigmas, **kwargs)).clamp(-1, 1)

    def lpips_distance(self, images, anchor_image):
        """LPIPS of every image [n, 3, H, W] to the anchor's [1, 3, H, W], in [-1, 1], [n, 1, 1, 1]; in float32, so
        that its feature normalization (an ε of 1e-10) does not underflow in float16."""
        return self.lpips(images.float(), anchor_image.float())

    def guide(self, xts, timestep, alphas, sigmas, **kwargs):
        """x_t of every window after this step's SyncDiffusion gradient step, or `xts` itself where the schedule does
        not guide this step."""
        weight = step_weight(self.config, step_index_of(self.scheduler, timestep))
        if weight is None:
            return xts

        def image_of(windows):
            return self.decoded_x0(windows, timestep, alphas, sigmas, **kwargs)

        with torch.enable_grad():  # sampling runs under torch.no_grad()
            guided = syncdiffusion_step(xts, self.anchor, weight, image_of, self.lpips_distance,
                                        self.config.syncdiffusion_batch_size)
        check_like(guided, xts, "syncdiffusion_step", timestep)
        return guided

    def one_step_process(self, input_params, timestep, alphas, sigmas, sync_target=None, **kwargs):
        """The model's synchronized step, from the windows' x_t after SyncDiffusion's gradient step."""
        xts = self.guide(input_params["xts"], timestep, alphas, sigmas, **kwargs)
        return super().one_step_process({**input_params, "xts": xts}, timestep, alphas, sigmas, sync_target, **kwargs)


@functools.cache
def with_syncdiffusion(model_class):
    """`model_class` (a wide-image model) with SyncDiffusion's gradient step; one class each."""
    return type(f"SyncDiffusion{model_class.__name__}", (SyncDiffusion, model_class), {})
