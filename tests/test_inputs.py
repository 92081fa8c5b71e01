"""Bad input gets a clear error before any model loads; output folders are never reused."""

import dataclasses
import json

import pytest
import torch

import main
from configs.ambiguous_image_config import load_ambiguous_image_config
from configs.wide_image_config import load_wide_image_config
from synckit.layout import AMBIGUOUS_APP, WIDE_APP, data_file, read_prompts
from synckit.models import ModelLoadError, load_stable_diffusion, resolve_device


def error_of(load, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        load(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--prompts", "a", "b", "--views_names", "identity", "spin"], "unknown view"),
    (["--prompts", "a", "b", "c"], "one prompt per view"),
    (["--prompts", "a horse", "  "], "empty"),
    (["--prompts", "a horse", "a horse"], "must differ"),
    (["--all_prompts", "--prompts_file", "nowhere.json"], "does not exist"),
    (["--stage2_noise_level", "1000"], "stage2_noise_level"),
])
def test_ambiguous_image_bad_input(argv, message, capsys):
    assert message in error_of(load_ambiguous_image_config, argv, capsys)


@pytest.mark.parametrize("argv, message", [
    (["--prompt", "a city", "--panorama_width", "3076"], "not a multiple of the VAE factor"),
    (["--prompt", "a city", "--panorama_width", "3080"], "do not cover"),
    (["--prompt", "a city", "--window_stride", "7"], "do not cover"),
    (["--prompt", "a city", "--panorama_width", "256"], "smaller than one"),
    (["--prompt", ""], "empty"),
    ([], "--prompt is required"),
    (["--prompt", "A_tranquil_lake_surrounded_by_misty_mountains"], "data-file key"),
    (["--prompt", "a city", "--eval_pos", "2600"], "outside the panorama"),
    (["--prompt", "a city", "--prompts_file", "nowhere.json"], "does not exist"),
    (["--prompt", "a city", "--view_batch_size", "0"], "view_batch_size"),
])
def test_wide_image_bad_input(argv, message, capsys):
    assert message in error_of(load_wide_image_config, argv, capsys)


def test_prompts_file_must_be_json(tmp_path, capsys):
    broken = tmp_path / "prompts.json"
    broken.write_text("{not json")
    assert "not valid JSON" in error_of(load_wide_image_config, ["--all_prompts", "--prompts_file", str(broken)], capsys)


def test_eval_pos_come_from_the_data_file():
    # students used to get the default crops 0..896 because nothing read the data file
    entries = json.load(open("data/wide_image_prompts.json"))
    entry = next(iter(entries.values()))
    config = load_wide_image_config(["--prompt", entry["prompt"]])
    assert list(config.jobs[0]["eval_pos"]) == entry["eval_pos"]
    every = load_wide_image_config(["--all_prompts"])
    assert [list(job["eval_pos"]) for job in every.jobs] == [e["eval_pos"] for e in entries.values()]


def test_all_prompts_reads_every_pair_canonical_first():
    entries = json.load(open("data/ambiguous_image_prompts.json"))
    config = load_ambiguous_image_config(["--all_prompts"])
    assert len(config.jobs) == len(entries) == 10
    assert config.jobs[0]["prompts"] == (next(iter(entries.values()))["canonical_prompt"], next(iter(entries.values()))["instance_prompt"])


def test_tiny_defaults_yield_to_explicit_flags():
    config = load_wide_image_config(["--tiny", "--prompt", "a city", "--window_stride", "2"])
    assert config.window_stride == 2 and config.panorama_width == 384


def test_tiny_runs_read_the_toy_prompts_unless_told_otherwise():
    wide = load_wide_image_config(["--tiny", "--all_prompts"])
    toy = read_prompts(WIDE_APP, data_file(WIDE_APP, toy=True))
    assert wide.prompts_file == data_file(WIDE_APP, toy=True)
    assert [job["prompt"] for job in wide.jobs] == [entry["prompt"] for entry in toy.values()]
    assert [list(job["eval_pos"]) for job in wide.jobs] == [entry["eval_pos"] for entry in toy.values()]
    first = next(iter(toy.values()))  # a single prompt takes its crops from the toy file too
    assert list(load_wide_image_config(["--tiny", "--prompt", first["prompt"]]).jobs[0]["eval_pos"]) == first["eval_pos"]
    course = load_wide_image_config(["--tiny", "--all_prompts", "--prompts_file", str(data_file(WIDE_APP))])
    assert len(course.jobs) == 10 and course.prompts_file == data_file(WIDE_APP)  # an explicit file wins

    pairs = read_prompts(AMBIGUOUS_APP, data_file(AMBIGUOUS_APP, toy=True))
    anagrams = load_ambiguous_image_config(["--tiny", "--all_prompts"])
    assert [job["name"] for job in anagrams.jobs] == list(pairs)
    first = next(iter(pairs.values()))
    assert load_ambiguous_image_config(["--tiny"]).prompts == (first["canonical_prompt"], first["instance_prompt"])
    assert load_ambiguous_image_config(["--tiny", "--prompts", "a", "b"]).prompts == ("a", "b")


def test_defaults_are_the_courses():
    wide = load_wide_image_config(["--prompt", "a city"])
    assert (wide.num_inference_steps, wide.guidance_scale, wide.seed, wide.window_stride) == (50, 7.5, 1, 8)
    assert (wide.panorama_height, wide.panorama_width, wide.sd_path) == (512, 3072, "stabilityai/stable-diffusion-2-base")
    amb = load_ambiguous_image_config([])
    assert wide.prompts_file == data_file(WIDE_APP) and amb.prompts_file == data_file(AMBIGUOUS_APP)
    assert (amb.num_inference_steps, amb.guidance_scale, amb.stage2_noise_level, amb.rotate_angle) == (30, 10.0, 50, 90.0)
    assert (amb.stage_1_path, amb.stage_2_path) == ("DeepFloyd/IF-I-M-v1.0", "DeepFloyd/IF-II-M-v1.0")
    assert amb.views_names == ("identity", "rotate_cw") and amb.sync_target == wide.sync_target == "x0"


class Stop(Exception):
    """Raised in place of loading the models: what main.py said before that is what a run says before sampling."""


@pytest.mark.parametrize("argv, unknown", [
    (["--app", "wide_image", "--prompt", "A tranquil lake surrounded by misty mountains"],
     '"tranquil", "lake", "surrounded", "by", "misty" are not among them'),
    (["--app", "ambiguous_image", "--prompts", "a red arrow pointing up", "a purple arrow pointing right"],
     '"purple" is not among them'),
    (["--app", "ambiguous_image", "--all_prompts", "--prompts_file", str(data_file(AMBIGUOUS_APP))],
     '"oil", "painting", "of", "mountain", "horse", "photo", "duck", "rabbit" and 24 more are not among them'),
])
def test_a_tiny_run_warns_in_one_line_about_words_the_tiny_models_do_not_know(argv, unknown, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(main, "build_model", lambda config: (_ for _ in ()).throw(Stop()))
    with pytest.raises(Stop):
        main.main([*argv, "--tiny", "--save_top_dir", str(tmp_path)])
    warning, = capsys.readouterr().err.splitlines()
    assert warning.startswith("warning: the tiny models know only the toy world's words (") and unknown in warning
    assert warning.endswith(f"so the picture will not follow the prompt; see data/toy_{argv[1]}_prompts.json for "
                            "prompts they know")


@pytest.mark.parametrize("argv", [
    ["--app", "wide_image", "--tiny", "--all_prompts"],
    ["--app", "ambiguous_image", "--tiny", "--all_prompts", "--views_names", "identity", "inner_rotate"],
    ["--app", "ambiguous_image", "--tiny", "--prompts", "A Red Arrow pointing UP", "a red arrow pointing right!"],
    ["--app", "wide_image", "--prompt", "A tranquil lake", "--device", "cpu"],  # the real models know English
])
def test_toy_prompts_and_real_models_get_no_warning(argv, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(main, "build_model", lambda config: (_ for _ in ()).throw(Stop()))
    with pytest.raises(Stop):
        main.main([*argv, "--save_top_dir", str(tmp_path)])
    assert capsys.readouterr().err == ""


def test_existing_output_folder_is_not_reused(tmp_path, capsys):
    taken = tmp_path / "run"
    taken.mkdir()
    (taken / "panorama.png").write_bytes(b"precious")
    with pytest.raises(SystemExit, match="already has files"):
        main.main(["--app", "wide_image", "--tiny", "--prompt", "a city", "--save_top_dir", str(tmp_path), "--tag", "run"])
    assert (taken / "panorama.png").read_bytes() == b"precious"
    assert sorted(p.name for p in taken.iterdir()) == ["panorama.png"]


def test_time_stamped_folders_never_collide(tmp_path):
    config = load_wide_image_config(["--prompt", "a", "--save_top_dir", str(tmp_path), "--save_dir_now"])
    folders = {main.create_output_dir(config) for _ in range(3)}
    assert len(folders) == 3 and all(folder.is_dir() for folder in folders)


def test_missing_model_gives_one_actionable_error():
    with pytest.raises(ModelLoadError, match="--tiny"):
        load_stable_diffusion("no-such-user/no-such-model", "cpu", torch.float32)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_real_models_refuse_a_cpu_unless_asked():
    config = load_wide_image_config(["--prompt", "a city"])
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        resolve_device(config, [config.sd_path])
    on_cpu = dataclasses.replace(config, device="cpu")
    assert resolve_device(on_cpu, [on_cpu.sd_path]).type == "cpu"


def test_load_failure_leaves_no_empty_folder(tmp_path, capsys):
    with pytest.raises(SystemExit, match="error: "):
        main.main([
            "--app", "wide_image", "--prompt", "a city", "--sd_path", "no-such-user/no-such-model",
            "--device", "cpu", "--save_top_dir", str(tmp_path), "--tag", "run",
        ])
    assert not (tmp_path / "run").exists()


def test_a_config_is_read_only_once_checked():
    # settings are built and checked once; a variant is a new object, so nothing changes under a running model
    config = load_wide_image_config(["--tiny", "--prompt", "a city"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 2
    with pytest.raises(TypeError):
        config.jobs[0]["prompt"] = "a village"
    variant = dataclasses.replace(config, seed=2)
    assert (variant.seed, config.seed) == (2, 1)
    assert load_wide_image_config(["--tiny", "--prompt", "a city"]) == config
