"""Issue 11: inputs that used to give a silently wrong number now give the right one or a clear error.

Oracles: SciPy (softmax), analytic limits (pow at 0), NumPy's own masked arithmetic, forward vs
reverse mode and every chunk size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import modes
from modes import ops


def every_setting(n):
    """Reverse mode and forward mode with every chunk size from 1 to n (and the default)."""
    return [("reverse", None), ("forward", None)] + [("forward", c) for c in range(1, n + 1)]


SETTINGS = every_setting(3)


# ------------------------------------------------------------------ complex values are refused

COMPLEX_FUNCTIONS = {
    "emath.sqrt constant": (lambda x: x * np.emath.sqrt(-4.0), 3.0),
    "python complex": (lambda x: x * 1j, 3.0),
    "reflected complex": (lambda x: 1j * x + x, 3.0),
    "complex then abs": (lambda x: abs(x * 1j), 3.0),
    "complex array constant": (lambda v: ops.sum(v * np.array([1 + 2j, 1.0])), np.array([1.0, 2.0])),
    "complex matrix": (lambda v: ops.sum(np.array([[1j, 0.0], [0.0, 1.0]]) @ v), np.array([1.0, 2.0])),
    "complex where branch": (lambda v: ops.sum(ops.where(v > 1.5, v, 1j)), np.array([1.0, 2.0])),
    "stacked with complex": (lambda v: ops.sum(ops.stack([v[0], 2j])), [1.0, 2.0]),
    "complex power": (lambda x: x ** (0.5 + 1j), 3.0),
}


@pytest.mark.parametrize("mode,chunk", SETTINGS)
@pytest.mark.parametrize("label", COMPLEX_FUNCTIONS)
def test_a_complex_value_inside_an_engine_value_is_a_type_error(label, mode, chunk):
    """Complex differentiation is not supported: an engine value never holds a complex number."""
    f, x = COMPLEX_FUNCTIONS[label]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning either: the refusal comes first
        with pytest.raises(TypeError, match=r"complex") as info:
            modes.value_and_grad(f, x, mode=mode, chunk=chunk)
    assert "not supported" in str(info.value)


def test_a_complex_value_is_refused_in_every_entry_point():
    f = lambda x: x * 1j
    for call in (
        lambda: modes.jvp(f, 3.0, 1.0),
        lambda: modes.vjp(f, 3.0, 1.0),
        lambda: modes.jacobian(f, 3.0, mode="forward"),
        lambda: modes.record(f, 3.0),
        lambda: modes.hvp(lambda x: (x * 1j) * x, 3.0, 1.0),
    ):
        with pytest.raises(TypeError, match=r"complex"):
            call()


# ------------------------------------------------------------------------- empty inputs, chunks


@pytest.mark.parametrize("mode,chunk", SETTINGS)
@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_an_empty_array_gives_an_empty_gradient_in_both_modes(shape, mode, chunk):
    x = np.ones(shape)
    value, g = modes.value_and_grad(lambda v: ops.sum(v * v) + 1.0, x, mode=mode, chunk=chunk)
    assert value == 1.0
    assert isinstance(g, np.ndarray) and g.shape == shape and g.dtype == np.float64
    J = modes.jacobian(lambda v: ops.stack([ops.sum(v), ops.sum(v * v)]), x, mode=mode, chunk=chunk)
    assert J.shape == (2,) + shape
    J = modes.jacobian(lambda v: v * 2.0, x, mode=mode, chunk=chunk)
    assert J.shape == shape + shape


def test_an_empty_array_counts_one_pass_in_forward_mode():
    with modes.counting(memory=False) as s:
        modes.grad(lambda v: ops.sum(v), np.ones(0), mode="forward")
    assert s.passes == 1


def test_choose_chunk_of_zero_inputs_is_one_direction():
    assert modes.choose_chunk(0) == 1
    assert modes.choose_chunk(0, 5) == 1
