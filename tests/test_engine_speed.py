"""The speed script's problems compute what they claim (its timings live in its output, not here)."""

import numpy as np
import pytest

import modes
from experiments.engine_speed import interleaved, mlp_problem


def test_mlp_problem_matches_numpy_and_its_gradient_checks():
    loss, loss_np, p = mlp_problem(d=4, h=5, batch=8)
    assert p.size == 4 * 5 + 2 * 5 + 1
    assert modes.primal(loss(p)) == pytest.approx(loss_np(p), rel=1e-14)
    assert modes.check_grads(loss, p, raise_on_failure=True)


def test_interleaved_returns_a_median_per_kernel():
    med = interleaved({"a": lambda: sum(range(10)), "b": lambda: np.zeros(3)}, rounds=3)
    assert set(med) == {"a", "b"} and all(v > 0 for v in med.values())
