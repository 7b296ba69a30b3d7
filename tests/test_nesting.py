"""Nested differentiation without perturbation confusion, in every combination of modes.

Each differentiation opens a trace with its own level (``modes/core.py``); these tests are the
classic traps that an untagged implementation fails, run with every outer/inner pair of modes
(and forward mode's chunked passes, whose extra tangent axis must not mix across levels either),
through ``grad`` and ``jacobian``, with float, list and array inputs, up to three levels deep.
The oracles are SymPy derivatives and hand-derived closed forms, never the engines themselves.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

import modes
from modes import ops

MODES = ("forward", "reverse")
PAIRS = list(itertools.product(MODES, MODES))
PAIR_IDS = [f"{o}-over-{i}" for o, i in PAIRS]
TRIPLES = list(itertools.product(MODES, MODES, MODES))
TRIPLE_IDS = ["-".join(t) for t in TRIPLES]
ORDERS = ("forward-over-reverse", "reverse-over-forward", "reverse-over-reverse", "forward-over-forward")

# (mode, chunk): forward mode with its default chunk, one direction per pass, and a chunk of two
# (a trailing tangent axis that is neither 1 nor n), and reverse mode.
SETTINGS = [("forward", None), ("forward", 1), ("forward", 2), ("reverse", None)]
SETTING_IDS = ["fwd", "fwd-c1", "fwd-c2", "rev"]
SETTING_PAIRS = list(itertools.product(SETTINGS, SETTINGS))
SETTING_PAIR_IDS = [f"{a}-over-{b}" for a, b in itertools.product(SETTING_IDS, SETTING_IDS)]


def kw(setting):
    mode, chunk = setting
    return {"mode": mode} if chunk is None else {"mode": mode, "chunk": chunk}


def grad(f, x, mode):
    return modes.grad(f, x, mode=mode)


# -------------------------------------------------------------------------- the classic traps


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_trap_x_times_derivative_of_x_plus_y(outer, inner):
    """d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1 (an untagged dual engine returns 2)."""
    f = lambda x: x * grad(lambda y: x + y, 1.0, inner)
    assert grad(f, 1.0, outer) == 1.0
    for x0 in (-3.0, 0.0, 2.5):
        assert grad(f, x0, outer) == 1.0


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_trap_x_times_derivative_of_x_times_y(outer, inner):
    """d/dx [x * d/dy (x * y) at y = 4] = d/dx [x^2] = 2x (ReverseDiff.jl's open closure bug)."""
    f = lambda x: x * grad(lambda y: x * y, 4.0, inner)
    for x0 in (-2.0, 0.5, 1.0, 3.0, 10.0):
        assert grad(f, x0, outer) == pytest.approx(2 * x0, rel=1e-15, abs=0)


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_trap_inner_point_is_the_outer_value(outer, inner):
    """The inner call differentiates at the outer engine value and its closure captures it too.

    d/dx [d/dy (x * y) at y = x] = d/dx [x] = 1 (confusing the two gives 2);
    d/dx [d/dy (x * y^2) at y = x] = d/dx [2 x^2] = 4x.
    """
    for x0 in (-1.5, 2.0):
        assert grad(lambda x: grad(lambda y: x * y, x, inner), x0, outer) == 1.0
        got = grad(lambda x: grad(lambda y: x * y * y, x, inner), x0, outer)
        assert got == pytest.approx(4 * x0, rel=1e-15)


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_closure_capturing_outer_value_is_differentiated_by_inner_call(outer, inner):
    """g(x) = d/dy [sin(x y) + x y^2 + exp(x)] at y = 1.5 captures x; d/dx g(x) against SymPy."""
    xs, ys = sp.symbols("x y", real=True)
    expr = sp.sin(xs * ys) + xs * ys**2 + sp.exp(xs)
    oracle = sp.lambdify(xs, sp.diff(expr, ys, xs).subs(ys, 1.5))

    def g(x):
        return grad(lambda y: ops.sin(x * y) + x * y**2 + ops.exp(x), 1.5, inner)

    for x0 in (-0.7, 0.3, 1.9):
        assert grad(g, x0, outer) == pytest.approx(float(oracle(x0)), rel=1e-13, abs=1e-14)


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_inner_derivative_that_does_not_depend_on_outer_value(outer, inner):
    """Inner results that are constants for the outer call: 0 and a plain number, not an error."""
    assert grad(lambda x: x * grad(lambda y: y * y, 3.0, inner), 2.0, outer) == 6.0
    # the inner function ignores its own input: its gradient is zero, whatever x is
    assert grad(lambda x: x * x + grad(lambda y: x * x, 2.0, inner), 2.0, outer) == 4.0


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_traps_with_list_inputs(outer, inner):
    """The traps with list inputs: the inner gradient is a 1-D array built from outer values."""

    # d/dx [sum_i x_i * d/dy_i (x_0 + x_1 + y_0 + y_1 + y_2)] over the first two: ones.
    def f1(x):
        gy = grad_s(lambda y: x[0] + x[1] + y[0] + y[1] + y[2], [1.0, 2.0, 3.0], inner)
        return x[0] * gy[0] + x[1] * gy[1]

    np.testing.assert_array_equal(grad_s(f1, [1.0, -2.0], outer), [1.0, 1.0])

    # d/dx [x . grad_y (x . y)] = d/dx |x|^2 = 2x
    def f2(x):
        gy = grad_s(lambda y: x[0] * y[0] + x[1] * y[1] + x[2] * y[2], [4.0, 4.0, 4.0], inner)
        return ops.dot(ops.stack(x), gy)

    x0 = [0.5, -1.0, 3.0]
    np.testing.assert_allclose(grad_s(f2, x0, outer), 2 * np.array(x0), rtol=1e-15)


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_traps_with_array_inputs(outer, inner):
    """The traps with array inputs: d/dx sum(x * grad_y sum(x + y)) = 1, of sum(x * grad_y(x.y)) = 2x."""
    x0 = np.array([0.5, -1.0, 3.0, 2.0])
    y0 = np.array([4.0, 4.0, 4.0, 4.0])
    f1 = lambda x: ops.sum(x * grad_s(lambda y: ops.sum(x + y), y0, inner))
    np.testing.assert_array_equal(grad_s(f1, x0, outer), np.ones(4))
    f2 = lambda x: ops.sum(x * grad_s(lambda y: ops.dot(x, y), y0, inner))
    np.testing.assert_allclose(grad_s(f2, x0, outer), 2 * x0, rtol=1e-15)
    # closure over an array, inner at the outer point: d/dx sum(grad_y sum(tanh(x * y)) at y = x)
    xs = sp.symbols("a0:4", real=True)
    ys = sp.symbols("b0:4", real=True)
    inner_grad = [sp.diff(sum(sp.tanh(a * b) for a, b in zip(xs, ys)), b) for b in ys]
    g_sym = sum(e.subs(dict(zip(ys, xs))) for e in inner_grad)
    oracle = sympy_array([sp.diff(g_sym, a) for a in xs], xs, x0)
    f3 = lambda x: ops.sum(grad_s(lambda y: ops.sum(ops.tanh(x * y)), x, inner))
    np.testing.assert_allclose(grad_s(f3, x0, outer), oracle, rtol=1e-12, atol=1e-13)


def grad_s(f, x, setting):
    return modes.grad(f, x, **kw(setting))


# --------------------------------------------------------------- nesting through jacobian


def vector_g(x):
    """R^3 -> R^2, written once for the engines; ``vector_g_sym`` is the SymPy twin."""
    return ops.stack([x[0] * ops.sin(x[1]) + x[2] ** 2, ops.exp(x[0] * x[2]) - x[1] * ops.tanh(x[0])])


def vector_g_sym(x):
    return [x[0] * sp.sin(x[1]) + x[2] ** 2, sp.exp(x[0] * x[2]) - x[1] * sp.tanh(x[0])]


def scalar_f(x):
    return ops.sum(ops.exp(0.5 * x) * ops.tanh(x[::-1])) + ops.log(1.0 + ops.dot(x, x)) * x[0]


def scalar_f_sym(x):
    first = sum(sp.exp(0.5 * a) * sp.tanh(b) for a, b in zip(x, x[::-1]))
    return first + sp.log(1 + sum(a * a for a in x)) * x[0]


X3 = np.array([0.3, 0.7, -0.4])
SYM3 = sp.symbols("x0:3", real=True)


def at_point(expr, syms=SYM3, point=X3):
    return float(sp.sympify(expr).evalf(30, subs=dict(zip(syms, point))))


def sympy_array(exprs, syms=SYM3, point=X3):
    """Evaluate a nested list of SymPy expressions at ``point`` with 30 digits, as a float array."""
    return np.vectorize(lambda e: at_point(e, syms, point), otypes=[float])(np.array(exprs, dtype=object))


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_jacobian_of_gradient_is_the_sympy_hessian(outer, inner):
    H_sym = sympy_array(sp.hessian(scalar_f_sym(SYM3), SYM3).tolist())
    H = modes.jacobian(lambda z: modes.grad(scalar_f, z, **kw(inner)), X3, **kw(outer))
    assert H.shape == (3, 3)
    np.testing.assert_allclose(H, H_sym, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_jacobian_of_gradient_with_list_input(outer, inner):
    f = lambda v: v[0] * ops.exp(v[1]) / ops.sqrt(v[2]) + ops.tanh(v[1] * v[2])
    syms = sp.symbols("v0:3", real=True)
    point = [0.7, -0.3, 1.9]
    expr = syms[0] * sp.exp(syms[1]) / sp.sqrt(syms[2]) + sp.tanh(syms[1] * syms[2])
    H_sym = sympy_array(sp.hessian(expr, syms).tolist(), syms, point)
    H = modes.jacobian(lambda z: modes.grad(f, z, **kw(inner)), point, **kw(outer))
    np.testing.assert_allclose(H, H_sym, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_jacobian_inside_grad(outer, inner):
    """grad of the squared Frobenius norm of a Jacobian: d/dx sum(J_g(x)^2), against SymPy."""
    J_sym = sp.Matrix(vector_g_sym(SYM3)).jacobian(SYM3)
    F_sym = sum(e**2 for e in J_sym)
    oracle = [at_point(sp.diff(F_sym, s)) for s in SYM3]
    F = lambda x: ops.sum(modes.jacobian(vector_g, x, **kw(inner)) ** 2)
    np.testing.assert_allclose(modes.grad(F, X3, **kw(outer)), oracle, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_jacobian_of_jacobian_is_the_sympy_second_derivative_tensor(outer, inner):
    T_sym = sympy_array([[[sp.diff(gi, a, b) for b in SYM3] for a in SYM3] for gi in vector_g_sym(SYM3)])
    T = modes.jacobian(lambda z: modes.jacobian(vector_g, z, **kw(inner)), X3, **kw(outer))
    assert T.shape == (2, 3, 3)
    np.testing.assert_allclose(T, T_sym, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize(("outer", "inner"), SETTING_PAIRS, ids=SETTING_PAIR_IDS)
def test_jacobian_of_closure_over_outer_array(outer, inner):
    """jacobian over x of (jacobian over y of h(x, y) at y0): inner closure captures outer x."""
    y0 = np.array([1.2, -0.5])
    ysym = sp.symbols("y0:2", real=True)

    def h(x, y):
        return ops.stack([x[0] * y[0] ** 2 + ops.sin(x[1] * y[1]), ops.exp(x[2] * y[0]) * y[1]])

    h_sym = [SYM3[0] * ysym[0] ** 2 + sp.sin(SYM3[1] * ysym[1]), sp.exp(SYM3[2] * ysym[0]) * ysym[1]]
    Jy = sp.Matrix(h_sym).jacobian(ysym).subs(dict(zip(ysym, y0)))
    oracle = sympy_array([[[sp.diff(Jy[i, j], s) for s in SYM3] for j in range(2)] for i in range(2)])
    got = modes.jacobian(lambda x: modes.jacobian(lambda y: h(x, y), y0, **kw(inner)), X3, **kw(outer))
    assert got.shape == (2, 2, 3)
    np.testing.assert_allclose(got, oracle, rtol=1e-12, atol=1e-13)


# --------------------------------------------------------------------------- three levels


@pytest.mark.parametrize(("m1", "m2", "m3"), TRIPLES, ids=TRIPLE_IDS)
def test_third_derivative_of_scalar_function(m1, m2, m3):
    xs = sp.Symbol("x", real=True)
    expr = sp.exp(sp.sin(xs)) * xs**3 / (1 + xs**2) + sp.tanh(2 * xs) * sp.sqrt(xs)
    d3 = sp.lambdify(xs, sp.diff(expr, xs, 3), "mpmath")
    f = lambda x: ops.exp(ops.sin(x)) * x**3 / (1 + x**2) + ops.tanh(2.0 * x) * ops.sqrt(x)
    d1 = lambda x: grad(f, x, m3)
    d2 = lambda x: grad(d1, x, m2)
    for x0 in (0.4, 1.3, 2.2):
        assert grad(d2, x0, m1) == pytest.approx(float(d3(x0)), rel=1e-11)


@pytest.mark.parametrize(("m1", "m2", "m3"), TRIPLES, ids=TRIPLE_IDS)
def test_three_levels_with_a_closure_at_each_level(m1, m2, m3):
    """d/dx [x * d/dy [y * d/dz (x y z^2) at z = 2] at y = 3]: d/dz = 4xy, d/dy (4xy^2) = 24x, so 48x."""
    f = lambda x: x * grad(lambda y: y * grad(lambda z: x * y * z * z, 2.0, m3), 3.0, m2)
    for x0 in (-1.0, 0.5, 2.0):
        assert grad(f, x0, m1) == pytest.approx(48 * x0, rel=1e-15)


@pytest.mark.parametrize(("m1", "m2", "m3"), TRIPLES, ids=TRIPLE_IDS)
def test_third_derivative_tensor_of_array_function(m1, m2, m3):
    syms = sp.symbols("x0:2", real=True)
    point = np.array([0.6, -0.9])
    a, b = syms
    expr = sp.exp(a * b) + a**3 * sp.sin(b) + sp.log(1 + a**2 + b**2)
    T_sym = sympy_array([[[sp.diff(expr, i, j, k) for k in syms] for j in syms] for i in syms], syms, point)
    f = lambda x: ops.exp(x[0] * x[1]) + x[0] ** 3 * ops.sin(x[1]) + ops.log(1.0 + ops.dot(x, x))
    T = modes.jacobian(
        lambda u: modes.jacobian(lambda v: modes.grad(f, v, mode=m3), u, mode=m2), point, mode=m1
    )
    assert T.shape == (2, 2, 2)
    np.testing.assert_allclose(T, T_sym, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("outer", MODES)
def test_grad_of_hvp(order, outer):
    """Three levels through the public hvp: f = sum(x^4), <v, H(x) v> = sum(12 x^2 v^2), d/dx = 24 x v^2."""
    v = np.array([1.0, -2.0, 0.5])
    x0 = np.array([0.3, -1.1, 2.0])
    F = lambda x: ops.dot(v, modes.hvp(lambda z: ops.sum(z**4), x, v, order=order))
    np.testing.assert_allclose(modes.grad(F, x0, mode=outer), 24 * x0 * v**2, rtol=1e-14)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("outer", MODES)
def test_grad_of_hvp_with_list_input_and_direction_built_from_outer_value(order, outer):
    """d/dt sum(H(x(t)) v(t)) with x = [t, 2t], v = [t, 1] and f = a^3 b + sin b, against SymPy."""
    t, a, b = sp.symbols("t a b", real=True)
    H = sp.hessian(a**3 * b + sp.sin(b), (a, b)).subs({a: t, b: 2 * t})
    oracle = float(sp.diff(sum(H * sp.Matrix([t, 1])), t).evalf(30, subs={t: 0.7}))
    f = lambda v: v[0] ** 3 * v[1] + ops.sin(v[1])
    F = lambda s: ops.sum(modes.hvp(f, [s, 2.0 * s], [s, 1.0], order=order))
    assert modes.grad(F, 0.7, mode=outer) == pytest.approx(oracle, rel=1e-13)


# ---------------------------------------------------------------------- leaked engine values


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_value_leaked_from_finished_inner_call_raises_in_outer_call(outer, inner):
    leaked = []

    def inner_f(y):
        leaked.append(y)
        return y * y

    def f(x):
        g = grad(inner_f, 3.0, inner)
        return x * g * leaked[0]  # the inner call is over: its y must not be used

    with pytest.raises(modes.MixedTraceError):
        grad(f, 1.0, outer)


@pytest.mark.parametrize(("outer", "inner"), PAIRS, ids=PAIR_IDS)
def test_value_leaked_from_one_inner_call_into_the_next_raises(outer, inner):
    leaked = []

    def first(y):
        leaked.append(y * 2.0)
        return y * y

    def f(x):
        grad(first, x, inner)
        return grad(lambda z: z * leaked[0], 1.0, inner) * x

    with pytest.raises(modes.MixedTraceError):
        grad(f, 1.0, outer)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("later", MODES)
def test_value_leaked_from_finished_call_raises_when_reused(mode, later):
    leaked = []

    def f(x):
        leaked.append(ops.tanh(x))
        return ops.sum(x * x)

    modes.grad(f, np.array([0.5, -1.0]), mode=mode)
    (v,) = leaked
    for use in (
        lambda: v * 2.0,
        lambda: 1.0 + v,
        lambda: ops.sum(v),
        lambda: ops.exp(v),
        lambda: np.sin(v),
        lambda: modes.grad(lambda y: ops.sum(y * v), np.array([1.0, 2.0]), mode=later),
        lambda: modes.grad(lambda y: ops.sum(y * y), v, mode=later),
    ):
        with pytest.raises(modes.MixedTraceError, match="already finished"):
            use()
    # reading its number explicitly is the documented way out
    np.testing.assert_allclose(modes.primal(v), np.tanh([0.5, -1.0]), rtol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_leaked_scalar_from_list_input_raises(mode):
    leaked = []

    def f(v):
        leaked.extend(v)
        return v[0] * v[1]

    modes.grad(f, [1.0, 2.0], mode=mode)
    with pytest.raises(modes.MixedTraceError):
        _ = leaked[0] * leaked[1]
    with pytest.raises(ValueError):  # MixedTraceError is a ValueError too
        _ = leaked[0] + 1.0
