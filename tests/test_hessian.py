"""Hessian-vector products and Hessians, all four nesting orders, against a SymPy Hessian.

Each test expression is written once as ``f(x, m)`` where ``m`` is a namespace of functions:
``modes.ops`` for the engines, :class:`SymOps` (SymPy applied elementwise to NumPy object arrays of
symbols) for the oracle. Operators (``+ * / **``, ``@``, indexing, broadcasting) work unchanged on
both. The derivatives come from ``sympy.hessian`` only: nothing in the oracle calls ``modes``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sympy as sp

import modes
from modes import ops

ORDERS = ("forward-over-reverse", "reverse-over-forward", "reverse-over-reverse", "forward-over-forward")


# ------------------------------------------------------------------------------ SymPy oracle


def _elementwise(fn):
    def apply(a):
        if isinstance(a, np.ndarray):
            return np.vectorize(fn, otypes=[object])(a)
        return fn(a)

    return apply


def _sym_sum(a, axis=None):
    a = np.asarray(a, dtype=object)
    if axis is None:
        return sp.Add(*a.ravel())
    return np.sum(a, axis=axis)


class SymOps:
    """The slice of ``modes.ops`` the test expressions use, for SymPy symbols (independent code)."""

    exp = staticmethod(_elementwise(sp.exp))
    log = staticmethod(_elementwise(sp.log))
    sqrt = staticmethod(_elementwise(sp.sqrt))
    tanh = staticmethod(_elementwise(sp.tanh))
    sin = staticmethod(_elementwise(sp.sin))
    cos = staticmethod(_elementwise(sp.cos))
    sum = staticmethod(_sym_sum)
    dot = staticmethod(np.dot)
    matmul = staticmethod(np.matmul)

    @staticmethod
    def mean(a):
        a = np.asarray(a, dtype=object)
        return _sym_sum(a) / a.size

    @staticmethod
    def logsumexp(a):
        return sp.log(_sym_sum(SymOps.exp(a)))


def symbols_like(x):
    """SymPy symbols in the layout of ``x`` (symbol, list of symbols, or object array) and flat."""
    if isinstance(x, float):
        s = sp.Symbol("x0", real=True)
        return s, [s]
    n = int(np.size(x))
    flat = list(sp.symbols(f"x0:{n}", real=True))
    if isinstance(x, list):
        return flat, flat
    return np.array(flat, dtype=object).reshape(np.shape(x)), flat


def sympy_value_grad_hessian(f, x):
    """f(x), its gradient (flat) and its Hessian (n x n) from SymPy, as floats."""
    xs, flat = symbols_like(x)
    expr = sp.sympify(f(xs, SymOps))
    H = sp.hessian(expr, flat)
    g = sp.Matrix([expr]).jacobian(flat)
    point = np.asarray(x, dtype=float).ravel()
    values = dict(zip(flat, point))
    val = float(expr.evalf(30, subs=values))
    gnum = np.array(sp.lambdify(flat, g, "mpmath")(*point).tolist(), dtype=float).ravel()
    Hnum = np.array(sp.lambdify(flat, H, "mpmath")(*point).tolist(), dtype=float)
    return val, gnum, Hnum


# ---------------------------------------------------------------------------- test expressions

W = np.array([[0.5, -1.0, 0.25, 0.8], [1.5, 0.3, -0.6, 0.1], [-0.2, 0.7, 0.9, -1.1]])
B = np.array([0.1, -0.2, 0.3])
C3 = np.array([1.0, 2.0, -0.5])
W23 = np.array([[0.4, -0.3, 0.2], [0.1, 0.6, -0.5]])


def f_scalar(x, m):
    return m.exp(m.sin(x)) * x**3 / (1 + x**2) + m.sqrt(x) * m.log(x)


def f_scalar_power(x, m):
    return x**x + m.tanh(2.0 * x) / x


def f_list(v, m):
    return v[0] * m.exp(v[1]) / m.sqrt(v[2]) + m.log(v[0] * v[2]) + m.tanh(v[1] * v[2]) + (v[0] + v[1]) ** 3


def f_mlp(x, m):
    """matmul with a constant matrix, tanh, broadcasting a bias, a dot product to a power."""
    return m.sum(m.tanh(W @ x + B)) + m.dot(x, x) ** 1.5


def f_exp_log_sqrt(x, m):
    """exp, log, sqrt, division by an engine value, reversed slicing, mean."""
    return (
        m.sum(m.exp(x) / (1 + x**2))
        + m.sqrt(m.sum(x * x) + 1.0)
        + m.sum(m.log(x**2 + 2.0) / x[::-1])
        + m.mean(x) ** 2
    )


def f_broadcast_2d(x, m):
    """2-D input: broadcasting against a constant row and against an engine column, indexing."""
    return (
        m.sum(m.log(1 + x**2) * C3)
        + m.sum((x[0] * x[1]) ** 2)
        + m.sum(x[:, :1] * x)
        + m.sum(m.tanh(W23 @ x.T))
        + x[1, 2] * x[0, 0]
    )


def f_power(x, m):
    """Power with an engine exponent, a float exponent and a negative one; scalar entries."""
    return m.sum(x[:2] ** x[1:]) + x[0] ** 2.5 * x[2] + m.sum(x ** (-0.5))


def f_matmul_2d(x, m):
    """Engine @ engine, transpose, logsumexp (a derived op with a detached shift)."""
    return m.sum(x @ x) + m.sum(m.tanh(x @ x.T)) + m.logsumexp(x @ x)


CASES = {
    "scalar": (f_scalar, 0.8),
    "scalar-power": (f_scalar_power, 1.3),
    "list": (f_list, [0.7, -0.3, 1.9]),
    "array-mlp": (f_mlp, np.array([0.3, -0.8, 0.5, 1.2])),
    "array-exp-log-sqrt": (f_exp_log_sqrt, np.array([0.9, -1.4, 0.6])),
    "array-broadcast-2d": (f_broadcast_2d, np.array([[0.3, -0.5, 0.8], [1.1, 0.2, -0.7]])),
    "array-power": (f_power, np.array([1.2, 0.7, 1.6])),
    "array-matmul-2d": (f_matmul_2d, np.array([[0.3, -0.4], [0.9, 0.2]])),
}


def modes_f(name):
    f = CASES[name][0]
    return lambda x: f(x, ops)


def as_input(x):
    """A fresh copy of the test point (lists stay lists, arrays stay arrays)."""
    if isinstance(x, list):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.copy()
    return x


@functools.cache
def oracle(name):
    f, x = CASES[name]
    return sympy_value_grad_hessian(f, x)


def x_shape(x):
    return () if isinstance(x, float) else np.shape(x)


def assert_close(actual, expected, rtol=1e-9):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
    assert err <= rtol * scale, f"max abs error {err:.3e} (scale {scale:.3e})\n{actual}\n{expected}"


# ------------------------------------------------------------------------------- the oracle


@pytest.mark.parametrize("name", list(CASES))
def test_expressions_value_and_gradient_match_sympy(name):
    """The expressions mean the same in both namespaces (so the Hessian comparison is fair)."""
    _, x = CASES[name]
    val, g, _ = oracle(name)
    value, grad = modes.value_and_grad(modes_f(name), as_input(x))
    assert value == pytest.approx(val, rel=1e-12, abs=1e-12)
    assert_close(np.ravel(grad), g, rtol=1e-11)


# ----------------------------------------------------------------------------------- hessian


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", list(CASES))
def test_hessian_matches_sympy(name, order):
    _, x = CASES[name]
    _, _, H_sym = oracle(name)
    H = modes.hessian(modes_f(name), as_input(x), order=order)
    shape = x_shape(x)
    assert np.shape(H) == shape + shape
    if shape == ():
        assert isinstance(H, float)
    n = H_sym.shape[0]
    assert_close(np.reshape(H, (n, n)), H_sym)


@pytest.mark.parametrize("name", list(CASES))
def test_hessian_orders_agree_with_each_other(name):
    _, x = CASES[name]
    Hs = {o: np.asarray(modes.hessian(modes_f(name), as_input(x), order=o), dtype=float) for o in ORDERS}
    ref = Hs[ORDERS[0]]
    for o in ORDERS[1:]:
        assert_close(Hs[o], ref, rtol=1e-12)
    n = int(np.size(ref) ** 0.5)
    assert_close(ref.reshape(n, n), ref.reshape(n, n).T, rtol=1e-12)


# --------------------------------------------------------------------------------------- hvp


def directions(x, k=2, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        if isinstance(x, float):
            out.append(float(rng.standard_normal()))
        elif isinstance(x, list):
            out.append([float(v) for v in rng.standard_normal(len(x))])
        else:
            out.append(rng.standard_normal(np.shape(x)))
    return out


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("name", list(CASES))
def test_hvp_matches_sympy(name, order):
    _, x = CASES[name]
    _, _, H_sym = oracle(name)
    for v in directions(x):
        hv = modes.hvp(modes_f(name), as_input(x), v, order=order)
        assert np.shape(hv) == x_shape(x), (np.shape(hv), x_shape(x))
        assert_close(np.ravel(hv), H_sym @ np.ravel(np.asarray(v, dtype=float)))


@pytest.mark.parametrize("name", list(CASES))
def test_hvp_orders_agree_with_each_other(name):
    _, x = CASES[name]
    (v,) = directions(x, k=1, seed=7)
    hvs = [np.asarray(modes.hvp(modes_f(name), as_input(x), v, order=o), dtype=float) for o in ORDERS]
    for hv in hvs[1:]:
        assert_close(hv, hvs[0], rtol=1e-12)


def test_hvp_default_order_is_forward_over_reverse():
    f, x = modes_f("array-mlp"), CASES["array-mlp"][1]
    v = np.array([1.0, -2.0, 0.5, 3.0])
    assert np.array_equal(modes.hvp(f, x, v), modes.hvp(f, x, v, order="forward-over-reverse"))
    H = modes.hessian(f, x)
    assert np.array_equal(H, modes.hessian(f, x, order="forward-over-reverse"))


@pytest.mark.parametrize("order", ORDERS)
def test_hvp_shape_and_type_follow_x(order):
    f2 = modes_f("array-broadcast-2d")
    x2 = CASES["array-broadcast-2d"][1]
    hv = modes.hvp(f2, x2, np.ones((2, 3)), order=order)
    assert isinstance(hv, np.ndarray) and hv.shape == (2, 3)
    hv = modes.hvp(modes_f("list"), [0.7, -0.3, 1.9], [1.0, 0.0, 0.0], order=order)
    assert isinstance(hv, np.ndarray) and hv.shape == (3,)
    hv = modes.hvp(modes_f("list"), (0.7, -0.3, 1.9), np.array([1.0, 0.0, 0.0]), order=order)
    assert isinstance(hv, np.ndarray) and hv.shape == (3,)
    hv = modes.hvp(modes_f("scalar"), 0.8, 1.0, order=order)
    assert np.shape(hv) == ()


@pytest.mark.parametrize("order", ORDERS)
def test_hvp_along_unit_vectors_rebuilds_the_hessian(order):
    f, x = modes_f("array-exp-log-sqrt"), CASES["array-exp-log-sqrt"][1]
    _, _, H_sym = oracle("array-exp-log-sqrt")
    cols = [modes.hvp(f, x, e, order=order) for e in np.eye(3)]
    assert_close(np.stack(cols, axis=1), H_sym)


@pytest.mark.parametrize("order", ORDERS)
def test_hvp_is_linear_in_v(order):
    f, x = modes_f("array-mlp"), CASES["array-mlp"][1]
    u, v = directions(x, k=2, seed=3)
    lhs = modes.hvp(f, x, 2.0 * u - 3.0 * v, order=order)
    rhs = 2.0 * modes.hvp(f, x, u, order=order) - 3.0 * modes.hvp(f, x, v, order=order)
    assert_close(lhs, rhs, rtol=1e-12)
    assert_close(modes.hvp(f, x, np.zeros(4), order=order), np.zeros(4), rtol=0.0)


@pytest.mark.parametrize("order", ORDERS)
def test_hessian_of_quadratic_form_is_exact(order):
    """f = 1/2 x^T A x + b^T x has Hessian (A + A^T) / 2 exactly, at any point."""
    A = np.array([[2.0, 1.0, 0.0], [3.0, 4.0, -1.0], [0.5, 0.0, 1.0]])
    b = np.array([1.0, -1.0, 2.0])
    f = lambda x: 0.5 * ops.dot(x, A @ x) + ops.dot(b, x)
    H = modes.hessian(f, np.array([0.3, -2.0, 5.0]), order=order)
    np.testing.assert_allclose(H, (A + A.T) / 2, rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("bad", ["reverse", "forward-over-backward", "FORWARD-OVER-REVERSE", ""])
def test_bad_order_raises_value_error_listing_the_orders(bad):
    f = modes_f("list")
    for call in (
        lambda: modes.hvp(f, [0.7, -0.3, 1.9], [1.0, 0.0, 0.0], order=bad),
        lambda: modes.hessian(f, [0.7, -0.3, 1.9], order=bad),
    ):
        with pytest.raises(ValueError) as info:
            call()
        message = str(info.value)
        for o in ORDERS:
            assert o in message
        assert repr(bad) in message
