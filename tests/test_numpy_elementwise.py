"""Issue 12's elementwise functions: SymPy derivatives, central differences, both modes, Hessians, kinks.

Oracle 1: SymPy differentiates the same formula symbolically (evaluated to float64).
Oracle 2: :func:`modes.check_grads` (central differences, forward vs reverse, adjoint identity).
Conventions: step functions (sign, floor, ceil, rint, trunc, round, fix) have derivative 0;
``fmax``/``fmin`` ties split 0.5 / 0.5 like ``maximum``; ``hypot``'s kink at (0, 0) takes 0.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import modes
from modes import ops

SETTINGS = [("reverse", None), ("forward", None), ("forward", 1), ("forward", 2)]
IDS = ["reverse", "forward", "forward-c1", "forward-c2"]

s = sp.Symbol("s", real=True)
t = sp.Symbol("t", real=True)

GENERAL = np.array([-1.3, -0.4, 0.3, 0.9, 1.7])
UNIT = np.array([-0.85, -0.3, 0.1, 0.6, 0.95])
POSITIVE = np.array([0.2, 0.7, 1.3, 2.5, 40.0])
ABOVE_ONE = np.array([1.05, 1.5, 3.0, 20.0])

# name -> (numpy ufunc, SymPy expression in s, points)
UNARY = {
    "arcsin": (np.arcsin, sp.asin(s), UNIT),
    "arccos": (np.arccos, sp.acos(s), UNIT),
    "arctan": (np.arctan, sp.atan(s), np.array([-30.0, -1.3, 0.3, 2.0, 1e3])),
    "arcsinh": (np.arcsinh, sp.asinh(s), np.array([-1e3, -1.3, 0.3, 2.0, 1e5])),
    "arccosh": (np.arccosh, sp.acosh(s), ABOVE_ONE),
    "arctanh": (np.arctanh, sp.atanh(s), UNIT),
    "expm1": (np.expm1, sp.exp(s) - 1, np.array([-20.0, -1e-9, 1e-12, 0.3, 5.0])),
    "exp2": (np.exp2, 2**s, GENERAL),
    "log2": (np.log2, sp.log(s, 2), POSITIVE),
    "log10": (np.log10, sp.log(s, 10), POSITIVE),
    "cbrt": (np.cbrt, sp.cbrt(s), POSITIVE),
    "sinc": (np.sinc, sp.sin(sp.pi * s) / (sp.pi * s), np.array([-2.5, -0.7, -0.15, 0.01, 0.19, 0.21, 1.5])),
    "reciprocal": (np.reciprocal, 1 / s, POSITIVE),
    "deg2rad": (np.deg2rad, s * sp.pi / 180, GENERAL),
    "rad2deg": (np.rad2deg, s * 180 / sp.pi, GENERAL),
    "fabs": (np.fabs, sp.Abs(s), GENERAL),
}
STEPS = {"sign": np.sign, "floor": np.floor, "ceil": np.ceil, "rint": np.rint, "trunc": np.trunc}
STEPS.update({"round": np.round, "around": np.around, "fix": np.fix})

# name -> (numpy ufunc, SymPy expression in (s, t), x points, y points)
BINARY = {
    "hypot": (np.hypot, sp.sqrt(s**2 + t**2), GENERAL, np.array([0.5, -2.0, 1e-3, 3.0, -0.2])),
    "arctan2": (np.arctan2, sp.atan2(s, t), GENERAL, np.array([0.5, -2.0, -1e-3, 3.0, -0.2])),
    "logaddexp": (
        np.logaddexp,
        sp.log(sp.exp(s) + sp.exp(t)),
        GENERAL,
        np.array([0.5, -2.0, 30.0, -40.0, 1.7]),
    ),
    "logaddexp2": (np.logaddexp2, sp.log(2**s + 2**t, 2), GENERAL, np.array([0.5, -2.0, 30.0, -40.0, 1.7])),
    # x - y * k with k = floor(x / y) (trunc for fmod), a constant between the jumps
    "remainder": (
        np.remainder,
        lambda x, y: s - t * int(np.floor_divide(x, y)),
        GENERAL * 3,
        np.array([0.7, -0.7, 0.4, 2.0, -5.0]),
    ),
    "fmod": (
        np.fmod,
        lambda x, y: s - t * int(np.trunc(x / y)),
        GENERAL * 3,
        np.array([0.7, 0.7, -0.4, 2.0, 5.0]),
    ),
}


def sympy_derivative(expr, symbols, points):
    """Each partial derivative of ``expr``, evaluated in float64 at each point (rows)."""
    out = []
    for p in points:
        e = expr(*p) if callable(expr) else expr
        subs = dict(zip(symbols, (sp.Float(float(v), 30) for v in np.atleast_1d(p))))
        out.append([float(sp.diff(e, v).subs(subs).evalf(30)) for v in symbols])
    return np.array(out)


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_unary_functions_match_sympy_and_numpy(name, mode, chunk):
    ufunc, expr, xs = UNARY[name]
    fn = getattr(ops, name)
    d_ref = sympy_derivative(expr, [s], xs)[:, 0]
    J = modes.jacobian(lambda v: ufunc(v), xs, mode=mode, chunk=chunk)
    np.testing.assert_allclose(np.diag(J), d_ref, rtol=2e-14, atol=1e-300)
    assert np.count_nonzero(J - np.diag(np.diag(J))) == 0
    np.testing.assert_array_equal(modes.jacobian(lambda v: fn(v), xs, mode=mode, chunk=chunk), J)
    # values are NumPy's (floats take the math path: same to an ulp)
    np.testing.assert_allclose(
        modes.value_and_grad(lambda v: ops.sum(fn(v)), xs)[0], np.sum(ufunc(xs)), rtol=1e-15
    )
    for x in xs[:3]:
        assert fn(float(x)) == pytest.approx(float(ufunc(x)), rel=1e-15)
        assert modes.grad(fn, float(x), mode=mode) == pytest.approx(
            sympy_derivative(expr, [s], [x])[0, 0], rel=2e-14
        )


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_functions_second_derivatives(name):
    """Hessians from every nesting order agree with each other and with differences of gradients."""
    ufunc, expr, xs = UNARY[name]
    report = modes.check_grads(lambda v: ops.sum(ufunc(v) * v[::-1]), xs, order=2, fd_rtol=1e-5)
    assert report, str(report)
    d2 = sympy_derivative(sp.diff(expr, s), [s], xs[:2])[:, 0]
    for x, want in zip(xs[:2], d2):
        assert modes.hessian(lambda v: ufunc(v), float(x)) == pytest.approx(want, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_binary_functions_match_sympy_and_numpy(name, mode, chunk):
    ufunc, expr, xs, ys = BINARY[name]
    ref = sympy_derivative(expr, [s, t], np.stack([xs, ys], axis=1))
    J = modes.jacobian(lambda v: ufunc(v[0], v[1]), np.stack([xs, ys]), mode=mode, chunk=chunk)
    np.testing.assert_allclose(J[np.arange(5), 0, np.arange(5)], ref[:, 0], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(J[np.arange(5), 1, np.arange(5)], ref[:, 1], rtol=1e-13, atol=1e-300)
    np.testing.assert_array_equal(
        modes.jacobian(lambda v: getattr(ops, name)(v[0], v[1]), np.stack([xs, ys]), mode=mode, chunk=chunk),
        J,
    )
    for x, y in zip(xs, ys):
        assert getattr(ops, name)(float(x), float(y)) == pytest.approx(
            float(ufunc(x, y)), rel=1e-15, abs=1e-15
        )


@pytest.mark.parametrize("name", ["hypot", "arctan2", "logaddexp", "logaddexp2"])
def test_binary_functions_broadcast_and_nest(name):
    ufunc = BINARY[name][0]
    x = np.array([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6]])
    assert modes.check_grads(lambda v: ufunc(v, v[0] * 0.5 + 1.0), x)
    assert modes.check_grads(lambda v: ops.sum(ufunc(v, v[0] * 0.5 + 1.0)), x, order=2)


@pytest.mark.parametrize("name", list(STEPS))
@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_step_functions_have_derivative_zero_even_at_their_jumps(name, mode, chunk):
    x = np.array([-1.5, -1.0, -0.3, 0.0, 0.5, 1.0, 2.5])  # jumps of floor/ceil/rint/sign included
    fn = STEPS[name]
    value, g = modes.value_and_grad(lambda v: ops.sum(fn(v) * 2.0), x, mode=mode)
    assert value == pytest.approx(2.0 * np.sum(fn(x)))
    np.testing.assert_array_equal(g, np.zeros_like(x))
    np.testing.assert_array_equal(modes.grad(lambda v: ops.sum(fn(v) * v), x, mode=mode), fn(x))


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_round_and_fix_are_step_functions_with_numpys_values(mode, chunk):
    x = np.array([-1.55, -0.5, 0.5, 1.5, 2.345, 7.0])
    for call, ref in [
        (lambda v: np.round(v), np.round(x)),
        (lambda v: np.round(v, 1), np.round(x, 1)),
        (lambda v: np.around(v, decimals=2), np.around(x, decimals=2)),
        (lambda v: np.fix(v), np.fix(x)),
    ]:
        value, J = modes.jvp(call, x, np.ones_like(x))
        np.testing.assert_array_equal(value, ref)
        np.testing.assert_array_equal(J, np.zeros_like(x))
    with pytest.raises(TypeError, match="out= is not supported"):
        modes.grad(lambda v: ops.sum(np.round(v, out=np.empty(6))), x, mode=mode)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_remainder_and_the_mod_operator(mode, chunk):
    x = np.array([-2.3, -0.2, 0.35, 1.9])
    f = lambda v: ops.sum((v * 3.0) % 0.7 + 5.0 % (v + 9.0) + np.mod(v, v[::-1] + 4.0))
    assert modes.check_grads(f, x)
    g = modes.grad(f, x, mode=mode)
    fd = modes.finite_difference_jacobian(f, x)
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    # float operands go through the scalar fast path: Python's % has NumPy's sign convention
    assert modes.grad(lambda v: v[0] % -0.7, [2.0], mode=mode) == [1.0]
    assert modes.grad(lambda v: 2.0 % v[0], [-0.7], mode=mode) == [pytest.approx(-np.floor_divide(2.0, -0.7))]


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_fmax_fmin_split_ties_and_skip_nans(mode, chunk):
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([1.0, 5.0, np.nan, 0.0])  # a tie, y larger, y nan, x larger
    J = modes.jacobian(lambda v: np.fmax(v, y), x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(np.diag(J), [0.5, 0.0, 1.0, 1.0])
    J = modes.jacobian(lambda v: np.fmin(v, y), x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(np.diag(J), [0.5, 1.0, 1.0, 0.0])
    J = modes.jacobian(lambda v: np.fmax(y, v), x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(np.diag(J), [0.5, 0.0, 1.0, 1.0])
    assert modes.check_grads(lambda v: np.fmax(v, v[::-1] * 0.5), x)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_hypot_kink_at_the_origin_is_zero(mode, chunk):
    g = modes.grad(lambda v: np.hypot(v[0], v[1]), np.zeros(2), mode=mode)
    np.testing.assert_array_equal(g, [0.0, 0.0])


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf * 0 in the value
@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_nan_to_num_passes_finite_entries_only(mode, chunk):
    x = np.array([1.0, 2.0, 3.0])

    def f(v):
        w = v * np.array([1.0, np.inf, np.nan])
        return np.nan_to_num(w, posinf=7.0)

    value, J = modes.value_and_grad(lambda v: ops.sum(f(v) * np.array([1.0, 1.0, 1.0])), x, mode=mode)
    assert value == 8.0
    np.testing.assert_array_equal(J, [1.0, 0.0, 0.0])


def test_predicates_read_primal_values():
    def f(v):
        assert np.isfinite(v).all() and not np.isnan(v).any() and not np.isinf(v[0])
        assert list(np.signbit(v)) == [True, False]
        return ops.sum(v)

    for mode in ("forward", "reverse"):
        modes.grad(f, np.array([-1.0, 2.0]), mode=mode)


def test_explain_parses_the_new_functions():
    e = modes.explain("arctan(x) + expm1(y) * log2(x)", {"x": 0.5, "y": 0.25})
    assert e.gradient["x"] == pytest.approx(1 / 1.25 + np.expm1(0.25) / (0.5 * np.log(2)))
    assert e.gradient["y"] == pytest.approx(np.exp(0.25) * np.log2(0.5))
