"""Issue 11: errors that say what went wrong and what to do instead."""

from __future__ import annotations

import numpy as np
import pytest

import modes
from modes import ops
from modes.hessian import ORDERS

MODES = [("reverse", None), ("forward", None), ("forward", 1)]
MODE_IDS = ["reverse", "forward", "forward-c1"]


def raised(f, x, mode, chunk, kind=Exception):
    """The exception ``grad`` raises (pytest fails the test if none is raised)."""
    with pytest.raises(kind) as info:
        modes.grad(f, x, mode=mode, chunk=chunk)
    return info.value


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_an_unsupported_numpy_function_is_named_and_the_supported_ones_listed(mode, chunk):
    err = raised(lambda v: ops.sum(np.linalg.eig(v)[0]), np.eye(2), mode, chunk, TypeError)
    assert "numpy.linalg.eig is not supported" in str(err)
    assert "modes.ops" in str(err) and "tensordot" in str(err)
    err = raised(lambda v: ops.sum(np.interp(v, [0.0, 2.0], [1.0, 3.0])), np.ones(2), mode, chunk, TypeError)
    assert str(err).startswith("numpy.interp is not supported")
    err = raised(lambda v: ops.sum(np.heaviside(v, v)), np.ones(2), mode, chunk, TypeError)
    assert str(err).startswith("numpy.heaviside is not supported") and "sin" in str(err)


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_round_names_primal(mode, chunk):
    err = raised(lambda v: round(v), 1.4, mode, chunk, TypeError)
    assert "round()" in str(err) and "modes.primal(v)" in str(err)


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_a_format_spec_names_primal_and_plain_formatting_still_works(mode, chunk):
    err = raised(lambda v: (f"{v:.3f}", v)[1], 1.4, mode, chunk, TypeError)
    assert "'.3f'" in str(err) and "modes.primal(v)" in str(err)
    seen = []
    modes.grad(lambda v: (seen.append(f"{v}"), v)[1], 1.4, mode=mode, chunk=chunk)
    assert seen and "1.4" in seen[0]


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_three_argument_pow_is_refused_clearly(mode, chunk):
    err = raised(lambda v: pow(v, 2, 3), 1.0, mode, chunk, TypeError)
    assert "pow(x, y, mod)" in str(err) and "x ** y" in str(err)
    assert modes.grad(lambda v: pow(v, 2), 3.0, mode=mode, chunk=chunk) == 6.0


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_storing_an_engine_value_into_a_numpy_array_suggests_stack(mode, chunk):
    def f(v):
        buf = np.zeros(2)
        buf[0] = v[0]
        return ops.sum(buf)

    err = raised(f, np.ones(2), mode, chunk, TypeError)
    assert "NumPy array" in str(err) and "ops.stack" in str(err) and "ops.concatenate" in str(err)

    def g(v):
        buf = np.zeros(2)
        buf[:] = [v[0], v[1]]
        return ops.sum(buf)

    err = raised(g, [1.0, 2.0], mode, chunk, TypeError)
    assert "ops.stack" in str(err)


def test_storing_into_a_numpy_array_is_named_when_compiling():
    def f(v):
        buf = np.zeros(2)
        buf[0] = v[0]
        return buf[0] * v[1]

    with pytest.raises(TypeError, match=r"ops\.stack"):
        modes.compile(f, [1.0, 2.0])


def test_storing_into_a_numpy_array_is_named_in_nested_differentiation():
    def inner(y):
        buf = np.zeros(1)
        buf[0] = y
        return buf[0]

    with pytest.raises(TypeError, match=r"ops\.stack"):
        modes.grad(lambda x: modes.grad(lambda y: inner(y) * x, 1.0, mode="forward"), 2.0)


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_item_assignment_into_an_engine_array_suggests_where(mode, chunk):
    def f(v):
        v[0] = 1.0
        return ops.sum(v)

    err = raised(f, np.ones(2), mode, chunk, TypeError)
    assert "item assignment" in str(err) and "ops.where" in str(err) and "ops.concatenate" in str(err)


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
@pytest.mark.parametrize(
    "f,word",
    [
        (lambda v: v > 0, "boolean"),
        (lambda v: np.ones(2) > 0, "boolean"),
        (lambda v: True, "boolean"),
        (lambda v: np.ones(2) * 1j, "complex"),
        (lambda v: 1j, "complex"),
        (lambda v: np.complex128(2j), "complex"),
    ],
)
def test_a_bool_or_complex_output_of_f_is_named(f, word, mode, chunk):
    with pytest.raises(TypeError, match=rf"f returned a {word}") as info:
        modes.jacobian(f, np.ones(2), mode=mode, chunk=chunk)
    msg = str(info.value)
    assert ("ops.where" in msg) if word == "boolean" else ("not supported" in msg)


@pytest.mark.parametrize("order", ORDERS)
def test_hvp_with_a_list_x_and_a_scalar_v_names_v_and_its_shape(order):
    with pytest.raises(ValueError, match=r"argument 'v' has shape \(\), expected \(2,\)"):
        modes.hvp(lambda v: v[0] * v[1], [1.0, 2.0], 1.0, order=order)


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_an_int_too_large_for_a_float_is_named(mode, chunk):
    with pytest.raises(ValueError, match=r"argument 'x' is an integer too large for a float64"):
        modes.grad(lambda v: v * v, 10**400, mode=mode, chunk=chunk)
    with pytest.raises(ValueError, match=r"argument 'x\[0\]' is an integer too large for a float64"):
        modes.grad(lambda v: v[0] * v[1], [10**400, 1], mode=mode, chunk=chunk)
    with pytest.raises(ValueError, match=r"argument 'v' is an integer too large"):
        modes.jvp(lambda v: v * v, 1.0, 10**400)
