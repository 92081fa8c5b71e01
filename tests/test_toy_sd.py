"""scripts/toy_training/sd.py: a few steps of the tiny SD trainer write a pipeline the kit loads, with the latent
scaling factor of its own VAE and networks that the training really changed."""

import pytest
import torch
from diffusers import StableDiffusionPipeline
from script_modules import import_scripts


@pytest.mark.slow  # ~5 s idle, and the quick suite's 60 s are spent: CI's slow suite keeps the trainer alive
def test_a_few_steps_write_a_pipeline_the_kit_loads(tmp_path, capsys):
    trainer, make_tiny_models = import_scripts("train_toy_models", "make_tiny_models")
    trainer.main(["--models", "sd", "--steps", "2", "--batch", "2", "--out", str(tmp_path)])
    assert "sd: VAE held-out reconstruction MSE" in capsys.readouterr().out

    untrained = tmp_path / "untrained"
    make_tiny_models.make_stable_diffusion(untrained)
    before = StableDiffusionPipeline.from_pretrained(untrained, safety_checker=None)
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / trainer.sd.FOLDER, safety_checker=None)
    for name in ("vae", "unet", "text_encoder"):
        trained, initial = getattr(pipe, name).state_dict(), getattr(before, name).state_dict()
        assert trained.keys() == initial.keys()
        assert any(not torch.equal(trained[key], initial[key]) for key in trained), f"{name} did not change"
    assert pipe.vae.config.scaling_factor != before.vae.config.scaling_factor  # 1/std of its own latents

    embeds, _ = pipe.encode_prompt("green hills under a blue sky", "cpu", 1, do_classifier_free_guidance=False)
    with torch.no_grad():
        eps = pipe.unet(torch.randn(1, 4, 8, 8), 500, encoder_hidden_states=embeds).sample
    assert eps.shape == (1, 4, 8, 8) and torch.isfinite(eps).all()
