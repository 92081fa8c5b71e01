"""synckit.compare: bad input stops with one line before anything is sampled; a resumed run samples only the cells
that are missing (with a stand-in model here: the bookkeeping, not the models); and (slow) a tiny comparison
end to end, on the tiny models."""

import json

import numpy as np
import pytest
from PIL import Image

import main
from synckit import compare, compare_run
from synckit.compare_report import GAP, HEADER, LABEL_WIDTH

PROMPT = "a village under a blue sky"  # a toy prompt: the tiny models know its words


def stopped(argv) -> str:
    with pytest.raises(SystemExit) as stop:
        compare.main(argv)
    message = str(stop.value.code)
    assert message.startswith("error: ") and "\n" not in message  # one line
    return message


def test_an_unknown_method_is_named_with_the_known_ones(tmp_path):
    message = stopped(["--tiny", "--methods", "x0", "multidiffusion", "--out", str(tmp_path / "out")])
    assert "multidiffusion" in message and "gvcf" in message
    assert not (tmp_path / "out").exists()


def test_a_prompt_file_that_does_not_parse_is_named(tmp_path):
    broken = tmp_path / "prompts.json"
    broken.write_text('{"a": {"prompt": "a village"', encoding="utf-8")
    assert str(broken) in stopped(["--tiny", "--prompts_file", str(broken), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_prompt_main_refuses_is_refused_before_sampling(tmp_path):
    # a data-file key in place of its prompt: main.py's own check refuses it, and says which method's flags it parsed
    message = stopped(["--tiny", "--methods", "x0", "--prompts", "a_village_under_a_blue_sky", "--out", str(tmp_path / "out")])
    assert message.startswith("error: method x0 (--sync_target x0): --prompt 'a_village_under_a_blue_sky' is a data-file key")
    assert not (tmp_path / "out").exists()


def test_an_out_folder_of_another_comparison_is_refused_naming_the_difference(tmp_path):
    settings = compare.settings_of(compare.build_parser().parse_args(
        ["--tiny", "--methods", "x0", "--prompts", PROMPT, "--seeds", "3", "--out", str(tmp_path)]), [PROMPT])
    (tmp_path / "run.json").write_text(json.dumps({"settings": settings}), encoding="utf-8")
    message = stopped(["--tiny", "--methods", "x0", "--prompts", PROMPT, "--seeds", "2", "--out", str(tmp_path)])
    assert "seeds 2 here, 3 there" in message and "methods" not in message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run.json"]


def test_an_out_folder_of_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    assert "no run.json" in stopped(["--tiny", "--methods", "x0", "--prompts", PROMPT, "--out", str(tmp_path)])


def test_missing_metric_weights_stop_before_sampling(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))  # no VGG weights there
    message = stopped(["--methods", "x0", "--prompts", "a photo of a beach", "--device", "cpu",
                       "--out", str(tmp_path / "out")])
    assert "vgg16-397923af.pth" in message and "vgg19-dcbb9e9d.pth" in message and "--tiny" in message
    assert not (tmp_path / "out" / "samples").exists()


class StandIn:
    """A stand-in for the kit's model: a flat picture of the config's size, grey level from the seed; records calls."""

    calls = []

    def __init__(self, config):
        self.config = config

    def __call__(self, prompt, negative_prompt="", progress=True):
        StandIn.calls.append((self.config.panorama_width, prompt, self.config.seed))
        level = np.full((self.config.panorama_height, self.config.panorama_width, 3), 10 * self.config.seed, np.uint8)
        return Image.fromarray(level)


def test_a_resumed_run_samples_only_the_missing_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(main, "build_model", StandIn)
    args = compare.build_parser().parse_args(["--tiny", "--methods", "x0", "xt", "--prompts", PROMPT, "other sky",
                                              "--seeds", "2", "--out", str(tmp_path)])
    prompts, configs = compare.check_args(args)
    reference = compare.method_config(args, prompts[0], compare.single_window_flags(configs["x0"]))
    StandIn.calls = []
    compare_run.run_grid(tmp_path, configs, reference, prompts, 2)
    # 2 methods × 2 prompts × 2 seeds panoramas (384 px), then 2 prompts × 12 single windows (64 px: 6 crops × 2 seeds)
    assert len(StandIn.calls) == 8 + 24 and sum(width == 64 for width, _, _ in StandIn.calls) == 24

    compare.cell_path(tmp_path, "xt", "other sky", 2).unlink()  # a panorama lost
    compare.cell_path(tmp_path, compare_run.REFERENCE, PROMPT, 7).with_suffix(".json").unlink()  # killed mid-cell
    StandIn.calls = []
    compare_run.run_grid(tmp_path, configs, reference, prompts, 2)
    assert StandIn.calls == [(384, "other sky", 2), (64, PROMPT, 7)]
    assert np.asarray(Image.open(compare.cell_path(tmp_path, "xt", "other sky", 2))).max() == 20  # seed 2's picture


@pytest.mark.slow
def test_a_tiny_comparison_writes_the_table_csv_grid_and_record(tmp_path):
    argv = ["--tiny", "--methods", "x0", "circular", "--prompts", PROMPT, "--seeds", "2", "--steps", "3",
            "--out", str(tmp_path)]
    compare.main(argv)
    rows = [line for line in (tmp_path / "table.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows] == ["| method", "| x0", "| circular"]
    csv_lines = (tmp_path / "table.csv").read_text(encoding="utf-8").splitlines()
    assert csv_lines[0].startswith("method,intra_lpips_mean,intra_lpips_std") and len(csv_lines) == 3
    with Image.open(tmp_path / "grid.png") as grid:  # one prompt's column; two methods' rows of two stacked panoramas
        assert grid.size == (LABEL_WIDTH + 384 + GAP, HEADER + 2 * (2 * (64 + GAP) + GAP))
    results = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["results"]
    assert results["circular"]["wrap_seam"][0] < results["x0"]["wrap_seam"][0]  # the 360° panorama closes its wrap
    before = {path: path.stat().st_mtime_ns for path in tmp_path.rglob("*.png") if path.name != "grid.png"}
    compare.main(argv)  # a finished run again: nothing is sampled, the table is written again
    assert {path: path.stat().st_mtime_ns for path in before} == before
