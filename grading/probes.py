"""Unit checks of the TODO functions, as calls on fixed inputs ("probes").

The grader runs this file as a script in a child process twice with the same seeds: once on its own
solution (the reference) and once on a submission's workspace, and compares the two sets of saved outputs
(grading/unit.py). The child only ever sees inputs and writes tensors; what is expected and whether a
check passed is decided in the grader's process, so a submission cannot forge a pass.

Public probes use fixed inputs like the public tests; hidden probes draw theirs from the rubric's
`hidden_seed` and try other sizes, step counts and views.

One mistake, one charge: each probe exercises one TODO function. Where that function calls others, the
course's own versions stand in for them (`standing_in`): diffusers' DDIM step, Tweedie's formula as the
docstring states it, window mappings by F.unfold / F.fold, and given views rather than TODO ones. A wrong
Tweedie then costs the Tweedie checks only, not every check of a sampling step that uses it.

This file must stay standalone (no imports from grading/): the child gets its text on stdin, through a
pipe (grading/unit.py), and nothing else of the grader; the submission's code, which runs inside it,
cannot read it back.

    python - WORKSPACE OUT_DIR SEEDS_JSON [--cpu_s SECONDS] [--wall_s SECONDS] < probes.py

SEEDS_JSON maps each probe to run onto its generator seed (`probe_seeds`): the child never sees the
rubric's hidden seed, only seeds derived from it by a one-way hash.
"""

import argparse
import errno
import gc
import hashlib
import json
import os
import signal
import sys
import traceback
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PUBLIC_SEED = 0
RUNNER_FILE = globals().get("__file__", "<stdin>")  # the grader hands this file over on stdin
STARTUP_TIMEOUT_S = 60  # per import or tiny-model load of the warm-up


@dataclass
class Probe:
    name: str
    task: int
    hidden: bool
    what: str  # shown to the student
    run: object  # run(env, generator) -> tensor


PROBES = {}


def probe(task, what, hidden=False):
    def register(run):
        PROBES[run.__name__] = Probe(run.__name__, task, hidden, what, run)
        return run
    return register


class Env:
    """The submission's modules and the tiny models, built on first use. A module that failed to import
    fails every later probe with the same error instead of being imported (and maybe hanging) again."""

    def __init__(self):
        self.cache = {}

    def get(self, key, build):
        if key not in self.cache:
            try:
                self.cache[key] = (True, build())
            except BaseException as err:  # noqa: BLE001 - a student module may raise anything, even SystemExit
                self.cache[key] = (False, err)
                raise
        ok, value = self.cache[key]
        if not ok:
            raise value
        return value

    def wide(self, stride=1, width=384):
        def build():
            from configs.wide_image_config import load_wide_image_config
            from guidance.wide_image_model import WideImageModel
            argv = ["--tiny", "--device", "cpu", "--prompt", "a probe",
                    "--window_stride", str(stride), "--panorama_width", str(width)]
            return WideImageModel(load_wide_image_config(argv))
        return self.get(("wide", stride, width), build)

    def circular(self, stride=1, height=64, width=384):
        def build():
            from configs.wide_image_config import load_wide_image_config
            from guidance.circular_wide_image_model import CircularWideImageModel
            argv = ["--tiny", "--device", "cpu", "--prompt", "a probe", "--circular", "--window_stride", str(stride),
                    "--panorama_height", str(height), "--panorama_width", str(width)]
            return CircularWideImageModel(load_wide_image_config(argv))
        return self.get(("circular", stride, height, width), build)

    def ambiguous(self, *views):
        def build():
            from configs.ambiguous_image_config import load_ambiguous_image_config
            from guidance.ambiguous_image_model import AmbiguousImageModel
            argv = ["--tiny", "--device", "cpu", "--views_names", *views,
                    "--prompts", *[f"a probe {i}" for i in range(len(views))]]
            return AmbiguousImageModel(load_ambiguous_image_config(argv))
        return self.get(("ambiguous", views), build)

    def fusion(self):
        return self.get("fusion", lambda: __import__("guidance.fusion", fromlist=["x"]))

    def syncdiffusion(self):
        return self.get("syncdiffusion", lambda: __import__("guidance.syncdiffusion", fromlist=["x"]))

    def regions(self):
        return self.get("regions", lambda: __import__("guidance.regions", fromlist=["x"]))

    def highres(self):
        return self.get("highres", lambda: __import__("guidance.highres", fromlist=["x"]))

    def views(self):
        return self.get("views", lambda: __import__("utils.views", fromlist=["VIEW_MAP"]))

    def inner_rotate(self):
        return self.get("inner_rotate", lambda: __import__("utils.views.view_inner_rotate", fromlist=["x"]))


def warm_up(env) -> list:
    """What the probes build, built before they run: loading models is not any one probe's time, and a
    module that hangs or fails at import is met once, here, then reported by every probe that needs it."""
    return [env.views, env.inner_rotate, env.wide, lambda: env.wide(stride=4, width=256),
            lambda: env.ambiguous("identity", "flip"), lambda: env.ambiguous("identity", "skew"),
            lambda: env.ambiguous("identity", "square_hinge", "negate"), env.circular,
            lambda: env.circular(*CIRCULAR_OTHER_GEOMETRY), env.fusion, env.syncdiffusion, env.regions,
            env.highres]


def randn(generator, *shape):
    import torch
    return torch.randn(*shape, generator=generator)


def timestep_of(scheduler, steps, generator, index=None):
    import torch
    scheduler.set_timesteps(steps)
    if index is None:
        index = int(torch.randint(len(scheduler.timesteps), (1,), generator=generator))
    return scheduler.timesteps[index]


# --- Task 1 (with Task 0's DDIM functions, on Stable Diffusion's schedule) ---------------------------

@probe(1, "compute_tweedie: x̂0 on Stable Diffusion's schedule at the first step (t = 981)")
def tweedie_sd(env, g):
    model = env.wide()
    alphas, sigmas = model.noise_schedule()
    t = timestep_of(model.scheduler, 50, g, index=0)
    return model.compute_tweedie(randn(g, 3, 4, 8, 8), randn(g, 3, 4, 8, 8), t, alphas, sigmas)


@probe(1, "compute_tweedie: another timestep and batch", hidden=True)
def tweedie_sd_hidden(env, g):
    model = env.wide()
    alphas, sigmas = model.noise_schedule()
    t = timestep_of(model.scheduler, 50, g)
    return model.compute_tweedie(randn(g, 5, 4, 8, 8), randn(g, 5, 4, 8, 8), t, alphas, sigmas)


@probe(1, "compute_prev_state: one DDIM step of 50 (t = 981 to 961)")
def prev_state_sd(env, g):
    model = env.wide()
    t = timestep_of(model.scheduler, 50, g, index=0)
    return model.compute_prev_state(randn(g, 3, 4, 8, 8), randn(g, 3, 4, 8, 8), t)


@probe(1, "compute_prev_state: the last step (past the end of the schedule)", hidden=True)
def prev_state_sd_last(env, g):
    model = env.wide()
    t = timestep_of(model.scheduler, 50, g, index=-1)
    return model.compute_prev_state(randn(g, 3, 4, 8, 8), randn(g, 3, 4, 8, 8), t)


@probe(1, "compute_prev_state: a schedule of 20 steps", hidden=True)
def prev_state_sd_20_steps(env, g):
    model = env.wide()
    t = timestep_of(model.scheduler, 20, g)
    return model.compute_prev_state(randn(g, 2, 4, 8, 8), randn(g, 2, 4, 8, 8), t)


@probe(1, "forward_mapping: crop the canonical latent into its 41 windows")
def wide_forward(env, g):
    model = env.wide()
    return model.forward_mapping(randn(g, 1, 4, model.latent_height, model.latent_width))


@probe(1, "inverse_mapping: paste 41 different windows back, averaging overlaps by their counts")
def wide_inverse(env, g):
    model = env.wide()
    return model.inverse_mapping(randn(g, len(model.mapper), 4, 8, 8))


@probe(1, "forward_mapping then inverse_mapping on another stride and width", hidden=True)
def wide_other_geometry(env, g):
    model = env.wide(stride=4, width=256)
    windows = model.forward_mapping(randn(g, 1, 4, model.latent_height, model.latent_width))
    return model.inverse_mapping(windows + randn(g, *windows.shape))


# --- Task 2 (rotation views and the anagram mappings, on DeepFloyd IF's schedule) ---------------------

@probe(2, "Rotate90CWView.view: 90° clockwise")
def rotate_view(env, g):
    return env.views().VIEW_MAP["rotate_cw"]().view(randn(g, 3, 16, 16))


@probe(2, "Rotate90CWView.inverse_view: 90° counter-clockwise")
def rotate_inverse_view(env, g):
    return env.views().VIEW_MAP["rotate_cw"]().inverse_view(randn(g, 3, 16, 16))


@probe(2, "Rotate90CWView on a 6-channel 64 px image", hidden=True)
def rotate_view_hidden(env, g):
    view = env.views().VIEW_MAP["rotate_cw"]()
    return view.view(randn(g, 6, 64, 64)) - 2 * view.inverse_view(randn(g, 6, 64, 64))


# The mapping probes use given views (skew, square_hinge: view and inverse_view differ), so that a wrong
# rotation view costs the rotation checks only.
@probe(2, "forward_mapping: identity and skew views of the canonical image")
def ambiguous_forward(env, g):
    return env.ambiguous("identity", "skew").forward_mapping(randn(g, 1, 3, 64, 64))


@probe(2, "inverse_mapping: undo each view (identity, skew) and average")
def ambiguous_inverse(env, g):
    return env.ambiguous("identity", "skew").inverse_mapping(randn(g, 2, 3, 64, 64))


@probe(2, "forward_mapping and inverse_mapping with three views (identity, square_hinge, negate)", hidden=True)
def ambiguous_three_views(env, g):
    model = env.ambiguous("identity", "square_hinge", "negate")
    return model.inverse_mapping(model.forward_mapping(randn(g, 1, 3, 48, 48)) + randn(g, 3, 3, 48, 48))


@probe(2, "compute_prev_state at every step of IF's schedule of 30 steps (the last one ends at t = 0)")
def prev_state_if_every_step(env, g):
    import torch
    model = env.ambiguous("identity", "flip")
    model.scheduler.set_timesteps(30)
    return torch.stack([model.compute_prev_state(randn(g, 2, 3, 8, 8), randn(g, 2, 3, 8, 8), t)
                        for t in model.scheduler.timesteps])


@probe(2, "compute_tweedie on IF's schedule of 30 steps", hidden=True)
def tweedie_if(env, g):
    model = env.ambiguous("identity", "flip")
    alphas, sigmas = model.noise_schedule()
    t = timestep_of(model.scheduler, 30, g)
    return model.compute_tweedie(randn(g, 2, 3, 64, 64), randn(g, 2, 3, 64, 64), t, alphas, sigmas)


# --- Task 3 (inner rotation and the ε / x_t synchronization cases) -----------------------------------

@probe(3, "get_circle_mask(64, 24): pixel-centre disk")
def circle_mask(env, g):
    return env.inner_rotate().get_circle_mask(64, 24)


@probe(3, "get_circle_mask on other sizes and radii", hidden=True)
def circle_mask_hidden(env, g):
    import torch
    module = env.inner_rotate()
    return torch.cat([module.get_circle_mask(256, 96).flatten(), module.get_circle_mask(9, 3).flatten()])


def disk(size, radius):
    """get_circle_mask's contract, made here so that a wrong mask costs the mask checks only: 1.0 where the
    pixel centre (offsets i - size/2 + 0.5 from the middle) lies strictly inside the radius, [1, size, size]."""
    import torch
    offsets = torch.linspace(0.5 - size / 2, size / 2 - 0.5, size, dtype=torch.float64)
    return (offsets[:, None].square() + offsets[None, :].square() < radius**2).float()[None]


@probe(3, "inner_rotate_func_with_mask: rotate only the disk by 90°")
def inner_rotate(env, g):
    return env.inner_rotate().inner_rotate_func_with_mask(randn(g, 3, 64, 64), disk(64, 24), 90)


@probe(3, "inner_rotate_func_with_mask: -90° and 180° on 256 px", hidden=True)
def inner_rotate_hidden(env, g):
    import torch
    module = env.inner_rotate()
    mask, im = disk(256, 96), randn(g, 3, 256, 256)
    return torch.stack([module.inner_rotate_func_with_mask(im, mask, angle) for angle in (-90, 180)])


@probe(3, "inner_rotate_func_with_mask at 45°, and bilinear (interpolate=True) at 45° and 90°")
def inner_rotate_other_angles(env, g):
    import torch
    module = env.inner_rotate()
    mask, im = disk(64, 24), randn(g, 3, 64, 64)
    return torch.stack([module.inner_rotate_func_with_mask(im, mask, 45),
                        module.inner_rotate_func_with_mask(im, mask, 45, interpolate=True),
                        module.inner_rotate_func_with_mask(im, mask, 90, interpolate=True)])


@contextmanager
def standing_in(model, **functions):
    """The given functions replace the model's methods of the same name for one probe (instance attributes
    shadow the class's), then the submission's own are back."""
    for name, function in functions.items():
        setattr(model, name, function)
    try:
        yield model
    finally:
        for name in functions:
            delattr(model, name)


def course_ddim(model):
    """Tweedie's formula, as compute_tweedie's docstring states it, and diffusers' own deterministic DDIM
    step from x̂0 (prediction_type "sample"; no clipping or thresholding, as the course's step)."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(model.scheduler.config, prediction_type="sample", clip_sample=False,
                                          thresholding=False)
    scheduler.set_timesteps(model.scheduler.num_inference_steps)

    def compute_tweedie(xts, eps, timestep, alphas, sigmas, **kwargs):
        return (xts - sigmas[timestep] * eps) / alphas[timestep]

    def compute_prev_state(xts, pred_x0s, timestep, **kwargs):
        return scheduler.step(pred_x0s, timestep, xts, eta=0.0).prev_sample

    return dict(compute_tweedie=compute_tweedie, compute_prev_state=compute_prev_state)


def course_window_mappings(model):
    """The wide image's windows by F.unfold (crop every window, row by row) and F.fold (paste back, summing
    overlaps; folding ones counts them)."""
    import torch
    import torch.nn.functional as F

    size, stride = model.config.latent_instance_size, model.config.window_stride
    canvas = (model.latent_height, model.latent_width)

    def forward_mapping(z_t, **kwargs):
        columns = F.unfold(z_t, size, stride=stride)[0]  # [C·size·size, N]
        return columns.T.reshape(-1, z_t.shape[1], size, size)

    def inverse_mapping(x_ts, **kwargs):
        columns = x_ts.reshape(len(x_ts), -1).T[None]
        return F.fold(columns, canvas, size, stride=stride) / F.fold(torch.ones_like(columns), canvas, size, stride=stride)

    return dict(forward_mapping=forward_mapping, inverse_mapping=inverse_mapping)


def course_flip_mappings():
    """The anagram mappings for the views (identity, flip): flip is its own inverse."""
    import torch

    def forward_mapping(z_t, **kwargs):
        return torch.cat([z_t, z_t.flip(-2)])

    def inverse_mapping(x_ts, **kwargs):
        return (x_ts[:1] + x_ts[1:].flip(-2)) / 2

    return dict(forward_mapping=forward_mapping, inverse_mapping=inverse_mapping)


def one_step(model, sync_target, g, instance_shape, mappings, **kwargs):
    """x_{t-1} of one synchronized step from x_t that DISAGREE between instances (independent noise): from
    instances that already agree, synchronizing ε̂, x̂0 or x_{t-1} gives the same result, and a branch that
    synchronizes the wrong quantity would pass. Only one_step_process is the submission's own."""
    alphas, sigmas = model.noise_schedule()
    t = timestep_of(model.scheduler, model.config.num_inference_steps, g, index=0)
    with standing_in(model, **course_ddim(model), **mappings):
        return model.one_step_process({"xts": randn(g, *instance_shape)}, t, alphas, sigmas, sync_target=sync_target,
                                      **kwargs)["x_t_1"]


def if_embeds(model):
    import torch
    with torch.no_grad():
        positive, negative = model.stage_1.encode_prompt(["a probe 0", "a probe 1"], do_classifier_free_guidance=True, device="cpu")
    return dict(unet=model.stage_1.unet, prompt_embeds=positive, negative_prompt_embeds=negative)


def sd_embeds(model):
    import torch
    with torch.no_grad():
        positive, negative = model.model.encode_prompt("a probe", "cpu", 1, True, negative_prompt="")
    return dict(prompt_embeds=positive, negative_prompt_embeds=negative)


@probe(3, "one_step_process with sync_target eps (identity + flip, instances that disagree)")
def one_step_eps(env, g):
    model = env.ambiguous("identity", "flip")
    return one_step(model, "eps", g, (2, 3, 64, 64), course_flip_mappings(), **if_embeds(model))


@probe(3, "one_step_process with sync_target xt (identity + flip, instances that disagree)")
def one_step_xt(env, g):
    model = env.ambiguous("identity", "flip")
    return one_step(model, "xt", g, (2, 3, 64, 64), course_flip_mappings(), **if_embeds(model))


@probe(3, "one_step_process with sync_target eps and xt on the wide image's windows", hidden=True)
def one_step_wide(env, g):
    import torch
    model = env.wide(stride=4, width=256)
    size = model.config.latent_instance_size
    return torch.cat([one_step(model, target, g, (len(model.mapper), 4, size, size), course_window_mappings(model),
                               **sd_embeds(model)) for target in ("eps", "xt")])


# --- Extension task 4 (360° panoramas: windows that wrap past the right edge) ------------------------------

CIRCULAR_OTHER_GEOMETRY = (4, 128, 256)  # stride, height, width: 16×32 latents, three rows of 8 windows


@probe(4, "circular forward_mapping: crop 48 windows, those past the right edge wrapping to the left")
def circular_forward(env, g):
    model = env.circular()
    return model.forward_mapping(randn(g, 1, 4, model.latent_height, model.latent_width))


@probe(4, "circular inverse_mapping: paste 48 different windows back round the cylinder, averaging overlaps")
def circular_inverse(env, g):
    model = env.circular()
    return model.inverse_mapping(randn(g, len(model.mapper), 4, 8, 8))


@probe(4, "circular forward_mapping on three rows of windows, another stride and width", hidden=True)
def circular_forward_other_geometry(env, g):
    model = env.circular(*CIRCULAR_OTHER_GEOMETRY)
    return model.forward_mapping(randn(g, 1, 4, model.latent_height, model.latent_width))


@probe(4, "circular inverse_mapping on three rows of windows, another stride and width", hidden=True)
def circular_inverse_other_geometry(env, g):
    model = env.circular(*CIRCULAR_OTHER_GEOMETRY)
    return model.inverse_mapping(randn(g, len(model.mapper), 4, 8, 8))


# --- Extension task 5 (GVCFDiffusion: guided and variance-corrected fusion, one-shot style alignment) -------------

def course_cone(size, epsilon):
    """cone_weights' contract, made here so that a wrong cone costs the cone checks only: 1 − (distance from the
    window's centre, pixel-centre coordinates) / (a corner's distance) + ε, [size, size]."""
    import torch
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    distance = (offsets[:, None].square() + offsets[None, :].square()).sqrt()
    return (1 - distance / distance[0, 0] + epsilon).float()


def course_sum_windows(canvas, size, stride):
    """Windows of size×size every `stride` latent px, row by row, pasted onto the canvas and summed (F.fold)."""
    import torch.nn.functional as F

    def sum_windows(x_ts):
        return F.fold(x_ts.reshape(len(x_ts), -1).T[None], canvas, size, stride=stride)
    return sum_windows


@probe(5, "cone_weights(8, 0.001): the guided fusion's weight map of a tiny window")
def cone_weights_tiny(env, g):
    return env.fusion().cone_weights(8, 0.001)


@probe(5, "cone_weights on other sizes (64, and an odd one) and another ε", hidden=True)
def cone_weights_other_sizes(env, g):
    import torch
    module = env.fusion()
    return torch.cat([module.cone_weights(64, 0.001).flatten(), module.cone_weights(7, 0.05).flatten()])


@probe(5, "variance_corrected_fusion with equal weights (VCF) of the tiny panorama's 41 windows")
def vcf_tiny(env, g):
    import torch
    return env.fusion().variance_corrected_fusion(randn(g, 41, 4, 8, 8), randn(g, 41, 4, 8, 8), 0.7,
                                                  torch.ones(8, 8), course_sum_windows((8, 48), 8, 1))


@probe(5, "variance_corrected_fusion with the cone weights (GVCF) on two rows of windows, another stride", hidden=True)
def gvcf_other_geometry(env, g):
    # a 16×32 latent, windows of 8 every 4 px: 3 rows of 7
    return env.fusion().variance_corrected_fusion(randn(g, 21, 4, 8, 8), randn(g, 21, 4, 8, 8), 0.2,
                                                  course_cone(8, 0.001), course_sum_windows((16, 32), 8, 4))


@probe(5, "slerp between two noises of the tiny panorama's size at α = 0.3")
def slerp_tiny(env, g):
    return env.fusion().slerp(randn(g, 1, 4, 8, 48), randn(g, 1, 4, 8, 48), 0.3)


@probe(5, "slerp at α = 0.8 and 1 on another shape", hidden=True)
def slerp_other_alphas(env, g):
    import torch
    z1, z2 = randn(g, 1, 4, 16, 32), randn(g, 1, 4, 16, 32)
    return torch.stack([env.fusion().slerp(z1, z2, alpha) for alpha in (0.8, 1.0)])


# --- Extension task 6 (SyncDiffusion's gradient step) ----------------------------------------------------------------
# The step runs on stand-ins for the decoded x̂0 and for LPIPS (fixed differentiable functions of the probe's own),
# so that these checks test the update rule, not Stable Diffusion or the lpips package (not in the grader's image).

def stand_in_image(windows):
    """A smooth, nonlinear 'decoding' of windows [n, 4, h, w] into 3-channel images, each window on its own."""
    import torch
    return torch.tanh(windows[:, :3] + 0.5 * windows[:, 1:4].square())


def stand_in_distance(images, anchor_image):
    """Per window: mean softplus of the difference to the anchor's image, [n]. Its gradient is not 0 where the
    images agree, so a step that moved the anchor would show."""
    import torch.nn.functional as F
    return F.softplus(images - anchor_image).mean(dim=(1, 2, 3))


def stand_in_distance_other(images, anchor_image):
    """Another per-window loss, [n, 1, 1, 1] as LPIPS returns it: a smooth L1 distance plus the images' mean (so,
    again, a gradient that is not 0 at the anchor)."""
    import torch.nn.functional as F
    return (F.smooth_l1_loss(images, anchor_image.expand_as(images), reduction="none") + images).mean(
        dim=(1, 2, 3), keepdim=True)


@probe(6, "syncdiffusion_step on the tiny panorama's 41 windows (anchor 20), all in one pass, stand-in loss")
def syncdiffusion_step_tiny(env, g):
    return env.syncdiffusion().syncdiffusion_step(randn(g, 41, 4, 8, 8), 20, 20.0, stand_in_image,
                                                  stand_in_distance, 41)


@probe(6, "syncdiffusion_step with another anchor, weight, loss and window size, in uneven chunks", hidden=True)
def syncdiffusion_step_chunks(env, g):
    import torch
    count = int(torch.randint(7, 14, (1,), generator=g))
    weight = 5 + float(torch.rand(1, generator=g)) * 25  # large enough that a moved anchor is off by far more than 1e-4
    return env.syncdiffusion().syncdiffusion_step(randn(g, count, 4, 16, 16), count // 2, weight, stand_in_image,
                                                  stand_in_distance_other, 3)


# --- Extension task 7 (region prompts: MultiDiffusion's mask-weighted fusion and bootstrapping) ---------------------

def window_crops(canvases, size, stride):
    """Every size×size window, every `stride` latent px row by row, of each canvas [P, C, H, W]: [P, N, C, size, size]
    (F.unfold), as the model crops each prompt's mask for region_fusion."""
    import torch.nn.functional as F
    prompts, channels = canvases.shape[:2]
    windows = F.unfold(canvases, size, stride=stride)  # [P, C·size·size, N]
    return windows.transpose(1, 2).reshape(prompts, -1, channels, size, size)


@probe(7, "region_fusion of a background and two regions on the tiny panorama's 41 windows")
def region_fusion_tiny(env, g):
    import torch
    regions = (torch.rand(2, 8, 48, generator=g) < 0.3).float()  # overlapping, leaving pixels to the background
    masks = torch.cat([(1 - regions.sum(0, keepdim=True)).clamp(min=0), regions])[:, None]
    return env.regions().region_fusion(randn(g, 3, 41, 4, 8, 8), window_crops(masks, 8, 1),
                                       course_sum_windows((8, 48), 8, 1))


@probe(7, "region_fusion without a background: regions that cover the canvas, with weights other than 1, on three "
          "rows of windows", hidden=True)
def region_fusion_no_background(env, g):
    import torch
    prompts = int(torch.randint(2, 5, (1,), generator=g))
    # each pixel in one region for sure, and in others by chance, weighted 0.5 to 2
    owner = torch.randint(prompts, (16, 32), generator=g)
    covered = (torch.arange(prompts)[:, None, None] == owner) | (torch.rand(prompts, 16, 32, generator=g) < 0.2)
    masks = (covered * (0.5 + 1.5 * torch.rand(prompts, 16, 32, generator=g)))[:, None]
    return env.regions().region_fusion(randn(g, prompts, 21, 4, 8, 8), window_crops(masks, 8, 4),
                                       course_sum_windows((16, 32), 8, 4))


@probe(7, "bootstrap_regions on six windows with box masks")
def bootstrap_tiny(env, g):
    import torch
    masks = torch.zeros(6, 1, 8, 8)
    masks[:, :, 2:6, 1:5] = 1
    return env.regions().bootstrap_regions(randn(g, 6, 4, 8, 8), masks, randn(g, 6, 4, 8, 8), randn(g, 6, 4, 8, 8),
                                           torch.tensor(0.6), torch.tensor(0.8))


@probe(7, "bootstrap_regions on another window size and count, random masks and noise level", hidden=True)
def bootstrap_other_level(env, g):
    import torch
    count = int(torch.randint(3, 10, (1,), generator=g))
    alpha_bar = 0.05 + 0.9 * torch.rand((), generator=g)
    masks = (torch.rand(count, 1, 16, 16, generator=g) < 0.5).float()
    return env.regions().bootstrap_regions(randn(g, count, 4, 16, 16), masks, randn(g, count, 4, 16, 16),
                                           randn(g, count, 4, 16, 16), alpha_bar.sqrt(), (1 - alpha_bar).sqrt())


# --- Extension task 8 (higher resolution: DemoFusion's schedules and dilated sampling, AccDiffusion's shuffle and
# patch prompts) ------------------------------------------------------------------------------------------------------
# Each function is a pure tensor function: every probe calls one, on inputs made here (the permutations included).

def course_permutations(shape, generator):
    """A random permutation of 0 … B − 1 along dimension 0 at every position of `shape` (ranks of uniform numbers)."""
    import torch
    return torch.rand(shape, generator=generator).argsort(dim=0)


def course_windows(size, window, stride):
    """(h0, h1, w0, w1) of windows every `stride` on a size×size canvas, the last moved back to end at the border."""
    starts = sorted({min(start, size - window) for start in range(0, size - window + stride, stride)})
    return [(h0, h0 + window, w0, w0 + window) for h0 in starts for w0 in starts]


@probe(8, "cosine_schedules (α = 3, 1, 1) at every timestep of Stable Diffusion's 50-step schedule")
def cosine_schedules_sd(env, g):
    import torch
    model = env.wide()
    model.scheduler.set_timesteps(50)
    return torch.tensor([env.highres().cosine_schedules(t, 1000, 3.0, 1.0, 1.0) for t in model.scheduler.timesteps])


@probe(8, "cosine_schedules with other exponents, on a 20-step schedule and at t = 0", hidden=True)
def cosine_schedules_other_exponents(env, g):
    import torch
    exponents = (0.5 + 3 * torch.rand(3, generator=g)).tolist()
    timesteps = [*range(951, 0, -50), 0]
    return torch.tensor([env.highres().cosine_schedules(t, 1000, *exponents) for t in timesteps])


@probe(8, "dilated_sampling of a 16×16 latent at s = 2")
def dilated_sampling_s2(env, g):
    return env.highres().dilated_sampling(randn(g, 1, 4, 16, 16), 2)


@probe(8, "dilated_sampling at s = 3 and 4 on other sizes", hidden=True)
def dilated_sampling_s3_s4(env, g):
    import torch
    module = env.highres()
    return torch.cat([module.dilated_sampling(randn(g, 1, 4, 24, 24), 3).flatten(),
                      module.dilated_sampling(randn(g, 1, 4, 32, 32), 4).flatten()])


@probe(8, "undo_dilated_sampling of 4 sub-latents of 8×8 at s = 2")
def undo_dilated_s2(env, g):
    return env.highres().undo_dilated_sampling(randn(g, 4, 4, 8, 8), 2)


@probe(8, "undo_dilated_sampling of 9 and 16 sub-latents (s = 3, 4) of other sizes", hidden=True)
def undo_dilated_s3_s4(env, g):
    import torch
    module = env.highres()
    return torch.cat([module.undo_dilated_sampling(randn(g, 9, 4, 8, 8), 3).flatten(),
                      module.undo_dilated_sampling(randn(g, 16, 4, 6, 6), 4).flatten()])


@probe(8, "shuffle_sub_latents: 4 sub-latents of 8×8 permuted at every position")
def shuffle_tiny(env, g):
    x = randn(g, 4, 4, 8, 8)
    return env.highres().shuffle_sub_latents(x, course_permutations(x.shape, g))


@probe(8, "shuffle_sub_latents on a view batch of 9 sub-latents of another size", hidden=True)
def shuffle_batch_of_9(env, g):
    x = randn(g, 9, 4, 6, 10)
    return env.highres().shuffle_sub_latents(x, course_permutations(x.shape, g))


@probe(8, "unshuffle_sub_latents: 4 noise predictions of 8×8 put back at every position")
def unshuffle_tiny(env, g):
    x = randn(g, 4, 4, 8, 8)
    return env.highres().unshuffle_sub_latents(x, course_permutations(x.shape, g))


@probe(8, "unshuffle_sub_latents on a view batch of 9 of another size", hidden=True)
def unshuffle_batch_of_9(env, g):
    x = randn(g, 9, 4, 6, 10)
    return env.highres().unshuffle_sub_latents(x, course_permutations(x.shape, g))


@probe(8, "window_words: boxes of words on the tiny 16×16 canvas, 9 windows, c = 0.25 (some shares exactly c)")
def window_words_tiny(env, g):
    import torch
    masks = torch.zeros(4, 16, 16)
    masks[0, :4, :4] = 1  # a quarter of window 0 (exactly c), a sixteenth of nothing else
    masks[1, 4:12, 4:12] = 1  # the middle window, and a quarter of each of its neighbours
    masks[2, 10:, :] = 1  # the bottom rows
    masks[3] = (torch.rand(16, 16, generator=g) < 0.3).float()
    return env.highres().window_words(masks, course_windows(16, 8, 4), 0.25).float()


@probe(8, "window_words: random masks of 6 words, windows of another size and stride, another c", hidden=True)
def window_words_random(env, g):
    import torch
    masks = (torch.rand(6, 24, 24, generator=g) < torch.rand(6, 1, 1, generator=g)).float()
    threshold = 0.2 + 0.5 * float(torch.rand((), generator=g))
    return env.highres().window_words(masks, course_windows(24, 12, 4), threshold).float()


# --- the child process ------------------------------------------------------------------------------

def probe_seeds(hidden_seed) -> dict:
    """Each probe's generator seed: public ones fixed, hidden ones a one-way hash of the rubric's seed."""
    def seed(name):
        if not PROBES[name].hidden:
            return PUBLIC_SEED * 100_003 + zlib.crc32(name.encode())
        return int.from_bytes(hashlib.sha256(f"{hidden_seed}:{name}".encode()).digest()[:7], "big")
    return {name: seed(name) for name in PROBES}


class ProbeTimeout(BaseException):
    """Raised by a timer; a BaseException so that a student's `except Exception` cannot swallow it."""

    def __init__(self, what):
        super().__init__(what)
        self.what = what


def on_timer(signum, frame):
    raise ProbeTimeout("CPU time" if signum == signal.SIGPROF else "wall-clock time")


def start_timers(cpu_s, wall_s):
    """CPU time (all threads) is what the limit is about: it does not grow on a busy machine. The
    wall-clock alarm, far above it, stops code that sleeps or waits."""
    signal.setitimer(signal.ITIMER_PROF, cpu_s)
    signal.alarm(wall_s)


def stop_timers():
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.alarm(0)


class HungBefore(BaseException):
    """Raised instead of running a function that already ran past a time limit in an earlier check."""


HUNG = {}  # the stand-in code of each function that hung -> what calling it again says


def refuse(*args, **kwargs):
    """Stands in for a function that hung (its code is swapped in, so it runs with the student module's
    globals: every name here is a builtin or reached through the runner's own module)."""
    runner = __import__("__main__")
    raise runner.HungBefore(runner.HUNG[runner.sys._getframe().f_code])


def stop_calling_the_hung_function(err, workspace, probe_name) -> None:
    """After a time-out: the submission's function that was running (the innermost frame in the workspace)
    raises HungBefore from now on, so an endless loop costs one time limit, not one per check that calls it."""
    frames = [frame for frame, _ in traceback.walk_tb(err.__traceback__)
              if frame.f_code.co_filename.startswith(str(workspace)) and frame.f_code.co_filename != RUNNER_FILE]
    if not frames or frames[-1].f_code.co_freevars:  # a closure's code cannot be swapped: it just runs again
        return
    code = frames[-1].f_code
    stand_in = refuse.__code__.replace(co_name=code.co_name, co_qualname=code.co_qualname)
    HUNG[stand_in] = f"{code.co_qualname} did not finish in an earlier check ({probe_name}); not run again"
    for function in gc.get_referrers(code):
        if getattr(function, "__code__", None) is code:
            function.__code__ = stand_in


def describe(err, workspace, limits):
    """One readable paragraph: the exception and where in the student's files it happened."""
    if isinstance(err, ProbeTimeout):
        limit = limits[0] if err.what == "CPU time" else limits[1]
        return f"did not finish within {limit} s of {err.what} (an endless loop?)"
    if isinstance(err, HungBefore):
        return str(err)
    if isinstance(err, SystemExit):
        return f"called exit({err.code!r}); graded code must return, not exit"
    if isinstance(err, OSError) and err.errno == errno.EFBIG:
        return "killed for writing more than the file-size limit (printing megabytes?)"
    if isinstance(err, NotImplementedError):
        return f"not implemented yet: {err}"
    text = f"{type(err).__name__}: {err}"[:800]
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename.startswith(str(workspace))]
    if frames:
        frame = frames[-1]
        text += f"\n  at {Path(frame.filename).relative_to(workspace)}:{frame.lineno} in {frame.name}: {frame.line}"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("workspace", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("seeds", type=Path, help="JSON: probe name -> generator seed, for the probes to run")
    parser.add_argument("--cpu_s", type=int, default=60)
    parser.add_argument("--wall_s", type=int, default=180)
    parser.add_argument("--startup_timeout", type=int, default=STARTUP_TIMEOUT_S)
    args = parser.parse_args(argv)
    seeds = json.loads(args.seeds.read_text())
    workspace = args.workspace.resolve()
    sys.path.insert(0, str(workspace))
    os.chdir(workspace)

    from safetensors.torch import save_file
    import torch

    torch.manual_seed(0)
    signal.signal(signal.SIGALRM, on_timer)
    signal.signal(signal.SIGPROF, on_timer)
    env = Env()
    for build in warm_up(env):
        start_timers(args.startup_timeout, 3 * args.startup_timeout)
        try:
            build()
        except BaseException:  # noqa: BLE001 - kept in env; each probe that needs it reports it
            pass
        stop_timers()
    with open(args.out_dir / "progress.jsonl", "a") as log:
        def record(**entry):
            log.write(json.dumps(entry) + "\n")
            log.flush()

        for name, spec in PROBES.items():
            if name not in seeds:
                continue
            record(probe=name, event="start")
            start_timers(args.cpu_s, args.wall_s)
            try:
                output = spec.run(env, torch.Generator().manual_seed(seeds[name]))
                stop_timers()
                if not isinstance(output, torch.Tensor):
                    raise TypeError(f"returned {type(output).__name__}, not a tensor")
                save_file({"output": output.detach().to("cpu", torch.float32).contiguous()}, args.out_dir / f"{name}.safetensors")
                record(probe=name, event="done", shape=list(output.shape))
            except BaseException as err:  # noqa: BLE001 - everything a submission does is reported, nothing stops the rest
                stop_timers()
                record(probe=name, event="error", message=describe(err, workspace, (args.cpu_s, args.wall_s)))
                if isinstance(err, ProbeTimeout):
                    stop_calling_the_hung_function(err, workspace, name)


if __name__ == "__main__":
    main()
