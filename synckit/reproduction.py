"""How a regenerated image is compared with the submitted one: shared by the grader's GPU stage
(grading/reproduce.py) and the setup check, which measures how much a GPU's own runs differ."""

import numpy as np
from PIL import Image


def mean_abs_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean |a − b| of two same-size images as RGB, in 0..1 pixel units (grading/rubric.toml [reproduction]
    max_mean_abs_diff is a bound on it)."""
    return float(np.abs(np.asarray(a.convert("RGB"), dtype=np.float32) / 255
                        - np.asarray(b.convert("RGB"), dtype=np.float32) / 255).mean())
