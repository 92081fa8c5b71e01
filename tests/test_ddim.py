"""Task 0: Tweedie's formula and the deterministic DDIM step, on both noise schedules."""

import pytest
import torch
from diffusers import DDIMScheduler


COURSE_STEPS = {"sd2": 50, "deepfloyd": 30}


@pytest.fixture(params=["sd2", "deepfloyd"])
def model(request, wide_model, ambiguous_model):
    """Both schedules at the course's step counts: SD2 (scaled_linear, steps_offset=1, 50 steps) and IF
    stage I (squaredcos_cap_v2, 30 steps)."""
    model = wide_model if request.param == "sd2" else ambiguous_model
    model.scheduler.set_timesteps(COURSE_STEPS[request.param])
    return model


def test_schedules_are_the_real_models(wide_model, ambiguous_model):
    # the tiny models must carry the real schedules, or everything below tests the wrong thing
    sd, deepfloyd = wide_model.scheduler, ambiguous_model.scheduler
    assert isinstance(sd, DDIMScheduler) and isinstance(deepfloyd, DDIMScheduler)
    assert sd.config.beta_schedule == "scaled_linear" and sd.config.steps_offset == 1
    assert deepfloyd.config.beta_schedule == "squaredcos_cap_v2" and deepfloyd.config.variance_type == "learned_range"
    sd.set_timesteps(50)
    deepfloyd.set_timesteps(30)
    assert (sd.timesteps[0], sd.timesteps[-1]) == (981, 1)
    assert (deepfloyd.timesteps[0], deepfloyd.timesteps[-1]) == (957, 0)


def test_tweedie_inverts_forward_noising(model):
    torch.manual_seed(0)
    x0 = torch.randn(3, 4, 8, 8)
    eps = torch.randn_like(x0)
    alphas, sigmas = model.noise_schedule()
    for timestep in model.scheduler.timesteps:
        xt = model.scheduler.add_noise(x0, eps, timestep)  # x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε
        recovered = model.compute_tweedie(xt, eps, timestep, alphas, sigmas)
        torch.testing.assert_close(recovered, x0, atol=2e-4, rtol=1e-4)


def test_ddim_step_matches_diffusers_on_every_step(model):
    # Reference: diffusers' own DDIM step with η = 0; we do not clip x̂0 (neither did the course), so turn
    # IF's clipping and thresholding off in the reference.
    reference = DDIMScheduler.from_config(model.scheduler.config, clip_sample=False, thresholding=False)
    reference.set_timesteps(model.scheduler.num_inference_steps)
    alphas, sigmas = model.noise_schedule()
    torch.manual_seed(1)
    xt = torch.randn(2, 3, 8, 8)
    for timestep in model.scheduler.timesteps:  # the last step reaches past t = 0: final_alpha_cumprod
        eps = torch.randn_like(xt)
        x0 = model.compute_tweedie(xt, eps, timestep, alphas, sigmas)
        ours = model.compute_prev_state(xt, x0, timestep)
        expected = reference.step(eps, timestep, xt, eta=0.0).prev_sample
        torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4, msg=f"DDIM step differs at t={int(timestep)}")
        xt = expected


def test_last_step_lands_on_the_clean_estimate_for_deepfloyd(ambiguous_model):
    # IF's DDIM config has set_alpha_to_one: past t = 0 the sample is x̂0 itself. Clamping the previous
    # timestep to 0 instead would leave noise in the image.
    model = ambiguous_model
    model.scheduler.set_timesteps(30)
    last = model.scheduler.timesteps[-1]
    xt, x0 = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(model.compute_prev_state(xt, x0, last), x0)


def test_step_with_fewer_inference_steps_jumps_further(wide_model):
    # the previous timestep is t − 1000 // steps, so with 10 steps one DDIM step goes from 901 to 801
    model = wide_model
    model.scheduler.set_timesteps(10)
    try:
        alphas_cumprod = model.scheduler.alphas_cumprod
        xt, x0 = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)
        prev = model.compute_prev_state(xt, x0, torch.tensor(901))
        eps = (xt - alphas_cumprod[901].sqrt() * x0) / (1 - alphas_cumprod[901]).sqrt()
        expected = alphas_cumprod[801].sqrt() * x0 + (1 - alphas_cumprod[801]).sqrt() * eps
        torch.testing.assert_close(prev, expected, atol=1e-5, rtol=1e-5)
    finally:
        model.scheduler.set_timesteps(model.config.num_inference_steps)


def test_dynamic_thresholding_is_off_by_default_and_uses_each_stages_own_maximum(ambiguous_model):
    # --dynamic_thresholding (Imagen's, as IF's configs ask): s = the 95th percentile of |x̂0| per sample,
    # kept in [1, stage maximum], and x̂0 clamped to [-s, s] then divided by s. Stage I's maximum is 1.5,
    # stage II's 1.0. The handout's step (the default) thresholds nothing.
    from configs.ambiguous_image_config import load_ambiguous_image_config
    from guidance.ambiguous_image_model import AmbiguousImageModel

    assert ambiguous_model.x0_thresholds == [None, None]
    model = AmbiguousImageModel(load_ambiguous_image_config(["--tiny", "--prompts", "a", "b", "--dynamic_thresholding"]))
    x0 = torch.full((1, 3, 8, 8), 1.2)
    x0.view(-1)[:6] = 0.6  # 3% of the values: the 95th percentile of |x̂0| is 1.2
    stage_1 = torch.full_like(x0, 1.0)  # s = 1.2: every value / 1.2
    stage_1.view(-1)[:6] = 0.5
    stage_2 = torch.full_like(x0, 1.0)  # s = min(1.2, 1.0): clamp to [-1, 1], / 1
    stage_2.view(-1)[:6] = 0.6
    for threshold_x0, expected in zip(model.x0_thresholds, (stage_1, stage_2)):
        torch.testing.assert_close(threshold_x0(x0), expected)
    # the given step applies it to x̂0 before the student's DDIM update
    model.scheduler.set_timesteps(30)
    t = model.scheduler.timesteps[10]
    xt = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(model.compute_prev_state(xt, x0, t, threshold_x0=model.x0_thresholds[0]),
                               model.compute_prev_state(xt, stage_1, t))
