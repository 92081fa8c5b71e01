"""scripts/toy_world_report.py: its measures, and (slow) the figures the trained tiny models must keep showing."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def report():
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("toy_world_report")
    finally:
        sys.path.remove(str(SCRIPTS))


def test_the_seam_ratio_sees_jumps_at_tile_borders_only(report):
    stripes = np.tile((np.arange(384) % 2 * 10 + 100)[None, :, None], (64, 1, 3))  # a step of 10 between all columns
    assert report.seam_ratio(Image.fromarray(stripes.astype(np.uint8))) == pytest.approx(1.0)
    tiles = stripes.copy()
    tiles[:, 64:128] += 100  # one tile brighter: jumps at its two borders
    ratio = report.seam_ratio(Image.fromarray(np.clip(tiles, 0, 255).astype(np.uint8)))
    assert ratio > 3  # (two of the five borders jump by 100 where every step is 10: 4.6)


def test_the_toy_prompts_are_read_from_the_data_files(report):
    panoramas, pairs = report.toy_prompts("wide_image"), report.toy_prompts("ambiguous_image")
    assert panoramas and all(isinstance(prompt, str) for prompt in panoramas)
    assert pairs and all(len(pair) == 2 for pair in pairs)


@pytest.mark.slow
def test_the_synchronized_toy_panorama_has_no_seams_and_independent_windows_do(report):
    # Measured with the shipped tiny SD (2026-11-30): 1.00 synchronized, 4.87 for independent windows.
    seams, _ = report.wide_seams(report.toy_prompts("wide_image")[0])
    assert seams["synchronized"] <= 1.2
    assert seams["independent windows"] >= 2.0
