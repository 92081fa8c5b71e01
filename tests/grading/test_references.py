"""The references file: written once, root-only, and refused when made from another rubric or solution."""

import numpy as np
import pytest
from safetensors.numpy import save_file

from grading import probes
from grading.references import ReferenceError, fingerprint, load, save
from grading.rubric import load_rubric


def outputs():
    return {name: np.full((2, 2), index, dtype=np.float32) for index, name in enumerate(probes.PROBES)}


def test_a_saved_file_is_private_loads_back_and_is_never_replaced(tmp_path):
    rubric = load_rubric()
    path = tmp_path / "references.safetensors"
    save(outputs(), rubric, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load(path, rubric)
    assert set(loaded) == set(probes.PROBES) and np.array_equal(loaded["tweedie_sd"], outputs()["tweedie_sd"])
    with pytest.raises(ReferenceError, match="already exists"):
        save(outputs(), rubric, path)


def test_a_file_made_for_another_hidden_seed_is_refused(tmp_path):
    rubric = load_rubric()
    other = {**rubric, "unit": {**rubric["unit"], "hidden_seed": rubric["unit"]["hidden_seed"] + 1}}
    assert fingerprint(other) != fingerprint(rubric)
    path = tmp_path / "old.safetensors"
    save(outputs(), other, path)
    with pytest.raises(ReferenceError, match="another solution, rubric seed or set of checks"):
        load(path, rubric)


def test_a_file_without_every_check_or_unreadable_is_refused(tmp_path):
    rubric = load_rubric()
    partial = tmp_path / "partial.safetensors"
    save_file(dict(list(outputs().items())[:3]), partial, metadata={"fingerprint": fingerprint(rubric)})
    with pytest.raises(ReferenceError, match="make it anew"):
        load(partial, rubric)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not safetensors")
    with pytest.raises(ReferenceError, match="cannot read"):
        load(broken, rubric)
