"""What a unit check says about wrong values: where, how many, how far off."""

import numpy as np

from grading.unit import Outcome, judge


def test_matching_values_pass_within_the_tolerance():
    want = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    assert judge(Outcome(want + 5e-5), want) == (True, "matches")


def test_a_mismatch_names_the_worst_element_the_count_and_the_relative_error():
    want = np.zeros((2, 3, 4), dtype=np.float32)
    want[...] = 1.0
    got = want.copy()
    got[1, 2, 3] = -1.0  # one value with the wrong sign
    got[0, 0, 0] = 1.5
    passed, message = judge(Outcome(got), want)
    assert not passed
    assert "2 of 24 are off" in message
    assert "at [1, 2, 3] (got -1, expected 1)" in message
    # ‖got − want‖ / ‖want‖ = sqrt(2² + 0.5²) / sqrt(24)
    assert f"relative error {np.sqrt(4.25) / np.sqrt(24):.3g}" in message


def test_shape_and_nan_are_reported_before_values():
    want = np.ones((2, 2), dtype=np.float32)
    assert judge(Outcome(np.ones((4,), dtype=np.float32)), want) == (False, "returned shape [4], expected [2, 2]")
    assert judge(Outcome(np.full((2, 2), np.nan, dtype=np.float32)), want) == (False, "returned NaN or inf")
    assert judge(Outcome(None, "not implemented yet: TODO"), want) == (False, "not implemented yet: TODO")
