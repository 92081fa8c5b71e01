"""scripts/toy_training/deepfloyd.py: a few steps of the tiny IF trainers write stage I and stage II folders that load
as the kit loads them (fp16 variant), with UNets that the training really changed and the same T5 in both."""

import pytest
import torch
from diffusers import IFPipeline, IFSuperResolutionPipeline
from safetensors.torch import load_file
from script_modules import import_scripts

UNUSED = dict(safety_checker=None, feature_extractor=None, watermarker=None)


@pytest.mark.slow  # the quick suite's minute is spent: CI's slow suite keeps the trainer alive
def test_a_few_steps_write_the_two_stages_the_kit_loads(tmp_path, capsys, monkeypatch):
    trainer, make_tiny_models = import_scripts("train_toy_models", "make_tiny_models")
    monkeypatch.setattr(trainer.deepfloyd, "HELD_OUT", 2)  # the check's whole 128-px pictures are the slow part
    trainer.main(["--models", "if1", "if2", "--steps", "2", "--batch", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "if1: ε loss" in out and "if2: ε loss" in out

    make_tiny_models.make_if_stage_1(tmp_path / "untrained")
    before = IFPipeline.from_pretrained(tmp_path / "untrained", variant="fp16", **UNUSED)
    stage_1 = IFPipeline.from_pretrained(tmp_path / trainer.deepfloyd.stage_1.FOLDER, variant="fp16", **UNUSED)
    stage_2 = IFSuperResolutionPipeline.from_pretrained(
        tmp_path / trainer.deepfloyd.stage_2.FOLDER, variant="fp16", **UNUSED
    )
    for folder in (trainer.deepfloyd.stage_1.FOLDER, trainer.deepfloyd.stage_2.FOLDER):  # stored as the fp16 variant
        weights = load_file(tmp_path / folder / "unet" / "diffusion_pytorch_model.fp16.safetensors")
        assert {tensor.dtype for tensor in weights.values()} == {torch.float16}
    trained, initial = stage_1.unet.state_dict(), before.unet.state_dict()
    assert any(not torch.equal(trained[key], initial[key]) for key in trained), "the stage I UNet did not change"
    for key, value in stage_1.text_encoder.state_dict().items():  # stage II reuses stage I's prompt embeddings
        assert torch.equal(value, stage_2.text_encoder.state_dict()[key])

    embeds, negative = stage_1.encode_prompt(["a red arrow pointing up"], do_classifier_free_guidance=True, device="cpu")
    with torch.no_grad():
        eps_1 = stage_1.unet.float()(torch.randn(2, 3, 32, 32), 500, encoder_hidden_states=torch.cat([negative, embeds]).float()).sample
        eps_2 = stage_2.unet.float()(
            torch.randn(1, 6, 128, 128), 500, encoder_hidden_states=embeds.float(), class_labels=torch.tensor([50])
        ).sample
    assert eps_1.shape == (2, 6, 32, 32) and eps_2.shape == (1, 6, 128, 128)
    assert torch.isfinite(eps_1).all() and torch.isfinite(eps_2).all()
