"""Every primitive and every public op, in both modes, against two independent oracles.

Oracle 1: the analytic derivative, written here with plain NumPy (never with ``modes``).
Oracle 2: central finite differences of a plain NumPy reference implementation of the same function.

Each check runs in reverse mode, forward mode with the default chunk, forward mode with chunk 1 (the
textbook baseline) and forward mode with chunk 2 (a chunk axis that is neither 1 nor n).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import modes
from modes import ops

SETTINGS = [("reverse", None), ("forward", None), ("forward", 1), ("forward", 2)]
SETTING_IDS = ["reverse", "forward", "forward-c1", "forward-c2"]


# --------------------------------------------------------------------------------- oracles


def fd_jacobian(fun, x, h=1e-6):
    """Central finite differences of a plain NumPy function: shape ``out.shape + x.shape``."""
    x = np.array(x, dtype=float)
    y0 = np.asarray(fun(x), dtype=float)
    J = np.zeros(y0.shape + x.shape)
    for j in np.ndindex(x.shape):
        step = h * max(1.0, abs(float(x[j])))
        xp, xm = x.copy(), x.copy()
        xp[j] += step
        xm[j] -= step
        J[(Ellipsis, *j)] = (np.asarray(fun(xp), dtype=float) - np.asarray(fun(xm), dtype=float)) / (2 * step)
    return J


def linear_jacobian(lin, shape):
    """The Jacobian of an affine NumPy map ``lin`` on inputs of ``shape``, column by column."""
    cols = {}
    at_zero = np.asarray(lin(np.zeros(shape)), dtype=float)
    for j in np.ndindex(shape):
        e = np.zeros(shape)
        e[j] = 1.0
        cols[j] = np.asarray(lin(e), dtype=float) - at_zero
    out_shape = next(iter(cols.values())).shape
    J = np.zeros(out_shape + tuple(shape))
    for j, c in cols.items():
        J[(Ellipsis, *j)] = c
    return J


def broadcast_jacobian(d, x_shape, out_shape):
    """Jacobian of ``x -> d * broadcast_to(x, out_shape)`` (an elementwise op's partial ``d``)."""
    d = np.broadcast_to(np.asarray(d, dtype=float), out_shape)
    return linear_jacobian(lambda e: d * np.broadcast_to(e, out_shape), x_shape)


def check_jacobian(f_engine, f_ref, x, j_expected, settings=SETTINGS, rtol=1e-12, atol=1e-13):
    """The engine's Jacobian in every setting equals the analytic one and central differences."""
    J_fd = fd_jacobian(f_ref, np.asarray(x, dtype=float))
    j_expected = np.asarray(j_expected, dtype=float)
    # the two oracles agree with each other (guards against a wrong hand-derived formula)
    np.testing.assert_allclose(j_expected, J_fd, rtol=1e-6, atol=1e-6)
    for mode, chunk in settings:
        J = modes.jacobian(f_engine, x, mode=mode, chunk=chunk)
        assert np.shape(J) == j_expected.shape, (mode, chunk)
        np.testing.assert_allclose(J, j_expected, rtol=rtol, atol=atol, err_msg=f"{mode} chunk={chunk}")
        np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-6, err_msg=f"{mode} chunk={chunk} vs FD")
    # the value computed through both engines is the reference value
    ref = np.asarray(f_ref(np.asarray(x, dtype=float)), dtype=float)
    u = np.ones(ref.shape) if ref.shape else 1.0
    v = np.ones(np.shape(x)) if np.shape(x) else 1.0
    if isinstance(x, list):
        v = list(v)
    value_fwd, _ = modes.jvp(f_engine, x, v)
    value_rev, _ = modes.vjp(f_engine, x, u)
    np.testing.assert_allclose(value_fwd, ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(value_rev, ref, rtol=1e-13, atol=1e-15)


# ------------------------------------------------------------------- elementwise unary table


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


GENERAL = [-1.3, -0.4, 0.3, 0.9, 1.7]
POSITIVE = [0.2, 0.7, 1.3, 2.5]

# name -> (NumPy value, analytic derivative in NumPy, sample points)
UNARY = {
    "sin": (np.sin, np.cos, GENERAL),
    "cos": (np.cos, lambda x: -np.sin(x), GENERAL),
    "tan": (np.tan, lambda x: 1.0 / np.cos(x) ** 2, [-1.2, -0.3, 0.5, 1.1]),
    "exp": (np.exp, np.exp, GENERAL),
    "log": (np.log, lambda x: 1.0 / x, POSITIVE),
    "log1p": (np.log1p, lambda x: 1.0 / (1.0 + x), [-0.6, -0.1, 0.4, 2.0]),
    "sqrt": (np.sqrt, lambda x: 0.5 / np.sqrt(x), POSITIVE),
    "tanh": (np.tanh, lambda x: 1.0 / np.cosh(x) ** 2, GENERAL),
    "sinh": (np.sinh, np.cosh, GENERAL),
    "cosh": (np.cosh, np.sinh, GENERAL),
    "sigmoid": (_sigmoid, lambda x: np.exp(-x) / (1.0 + np.exp(-x)) ** 2, [*GENERAL, -5.0, 6.0]),
    "relu": (lambda x: np.where(x > 0, x, 0.0), lambda x: (np.asarray(x) > 0).astype(float), GENERAL),
    "abs": (np.abs, np.sign, GENERAL),
    "neg": (np.negative, lambda x: -np.ones_like(x), GENERAL),
    "square": (np.square, lambda x: 2.0 * x, GENERAL),
    "positive": (np.positive, lambda x: np.ones_like(x), GENERAL),
}

# every way the API spells each unary primitive: ops functions, NumPy ufuncs, Python operators
SPELLINGS = [
    ("sin", "ops.sin", ops.sin),
    ("sin", "np.sin", np.sin),
    ("cos", "ops.cos", ops.cos),
    ("cos", "np.cos", np.cos),
    ("tan", "ops.tan", ops.tan),
    ("tan", "np.tan", np.tan),
    ("exp", "ops.exp", ops.exp),
    ("exp", "np.exp", np.exp),
    ("log", "ops.log", ops.log),
    ("log", "np.log", np.log),
    ("log1p", "ops.log1p", ops.log1p),
    ("log1p", "np.log1p", np.log1p),
    ("sqrt", "ops.sqrt", ops.sqrt),
    ("sqrt", "np.sqrt", np.sqrt),
    ("tanh", "ops.tanh", ops.tanh),
    ("tanh", "np.tanh", np.tanh),
    ("sinh", "ops.sinh", ops.sinh),
    ("sinh", "np.sinh", np.sinh),
    ("cosh", "ops.cosh", ops.cosh),
    ("cosh", "np.cosh", np.cosh),
    ("sigmoid", "ops.sigmoid", ops.sigmoid),
    ("relu", "ops.relu", ops.relu),
    ("abs", "ops.abs", ops.abs),
    ("abs", "np.abs", np.abs),
    ("abs", "abs()", abs),
    ("neg", "unary-minus", lambda x: -x),
    ("neg", "np.negative", np.negative),
    ("neg", "ops.negative", ops.negative),
    ("square", "ops.square", ops.square),
    ("square", "np.square", np.square),
    ("positive", "ops.positive", ops.positive),
    ("positive", "np.positive", np.positive),
    ("positive", "unary-plus", lambda x: +x),
]
SPELLING_IDS = [s[1] for s in SPELLINGS]
SPELLINGS = [(s[0], s[2]) for s in SPELLINGS]


@pytest.mark.parametrize("name,fn", SPELLINGS, ids=SPELLING_IDS)
@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_unary_on_scalars(name, fn, mode, chunk):
    ref, deriv, points = UNARY[name]
    for x0 in points:
        value, g = modes.value_and_grad(fn, x0, mode=mode, chunk=chunk)
        assert type(g) is float
        assert value == pytest.approx(float(ref(x0)), rel=1e-13, abs=1e-300)
        assert g == pytest.approx(float(deriv(x0)), rel=1e-12, abs=1e-15), x0
        assert g == pytest.approx(float(fd_jacobian(ref, x0)), rel=1e-6, abs=1e-7), x0


@pytest.mark.parametrize("name,fn", SPELLINGS, ids=SPELLING_IDS)
def test_unary_on_arrays(name, fn):
    ref, deriv, points = UNARY[name]
    x = np.array(points, dtype=float)
    check_jacobian(fn, ref, x, np.diag(deriv(x)))
    # a 2-D array, through a weighted sum so that grad (not only jacobian) is exercised
    X = np.resize(x, (2, 3))
    W = np.arange(1.0, 7.0).reshape(2, 3)
    for mode, chunk in SETTINGS:
        g = modes.grad(lambda v: ops.sum(fn(v) * W), X, mode=mode, chunk=chunk)
        assert g.shape == X.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, W * deriv(X), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name,fn", SPELLINGS, ids=SPELLING_IDS)
def test_unary_on_list_entries(name, fn):
    ref, deriv, points = UNARY[name]
    x = list(points[:3])
    # f receives engine scalars; each output entry depends on one input
    check_jacobian(
        lambda v: ops.stack([fn(v[0]), fn(v[1]) * 2.0, fn(v[2]) + fn(v[0])]),
        lambda z: np.stack([ref(z[0]), ref(z[1]) * 2.0, ref(z[2]) + ref(z[0])]),
        x,
        np.array(
            [
                [deriv(x[0]), 0.0, 0.0],
                [0.0, 2.0 * deriv(x[1]), 0.0],
                [deriv(x[0]), 0.0, deriv(x[2])],
            ]
        ),
    )


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_sigmoid_keeps_relative_accuracy_in_its_tails(mode, chunk):
    """sigmoid(-40) = 4.25e-18 is a normal float: value and derivative must not underflow to 0."""
    for x0 in (-40.0, -20.0, -10.0, 10.0, 20.0):
        value, g = modes.value_and_grad(ops.sigmoid, x0, mode=mode, chunk=chunk)
        expected = 1.0 / (1.0 + math.exp(-x0))
        expected_d = math.exp(-x0) / (1.0 + math.exp(-x0)) ** 2
        assert value == pytest.approx(expected, rel=1e-12, abs=0), x0
        assert g == pytest.approx(expected_d, rel=1e-12, abs=0), x0
    x = np.array([-40.0, -20.0, 20.0])
    g = modes.grad(lambda v: ops.sum(ops.sigmoid(v)), x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, np.exp(-x) / (1.0 + np.exp(-x)) ** 2, rtol=1e-12)


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_tanh_derivative_keeps_relative_accuracy_in_its_tails(mode, chunk):
    """tanh'(x) = 1 / cosh(x)^2 = 1.7e-17 at x = 20 is a normal float; 1 - tanh(x)^2 cancels to 0."""
    for x0 in (-20.0, -15.0, 10.0, 15.0, 20.0):
        g = modes.grad(ops.tanh, x0, mode=mode, chunk=chunk)
        assert g == pytest.approx(1.0 / math.cosh(x0) ** 2, rel=1e-12, abs=0), x0
    x = np.array([-20.0, 12.0, 20.0])
    g = modes.grad(lambda v: ops.sum(ops.tanh(v)), x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, 1.0 / np.cosh(x) ** 2, rtol=1e-12)


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_sech2_is_tanhs_accurate_partial(mode, chunk):
    """sech2(x, tanh(x)) = 1/cosh(x)^2 on both sides of its switch to cosh (|x| = 2), and its
    derivative (tanh'' = -2 sech^2 tanh) through the partial in x alone, the one in t being 0."""
    from modes.rules import sech2

    points = [-30.0, -2.0, -1.999, -0.4, 0.0, 0.7, 1.999, 2.0, 2.5, 19.0]
    for x0 in points:
        assert sech2(x0, math.tanh(x0)) == pytest.approx(1.0 / math.cosh(x0) ** 2, rel=1e-14, abs=0)
        d = modes.grad(lambda v: sech2(v, ops.tanh(v)), x0, mode=mode, chunk=chunk)
        expected = -2.0 * math.tanh(x0) / math.cosh(x0) ** 2
        assert d == pytest.approx(expected, rel=1e-12, abs=1e-300), x0
    x = np.array(points)
    np.testing.assert_allclose(sech2(x, np.tanh(x)), 1.0 / np.cosh(x) ** 2, rtol=1e-14)
    h = modes.hessian(ops.tanh, 2.5)
    assert h == pytest.approx(-2.0 * math.tanh(2.5) / math.cosh(2.5) ** 2, rel=1e-13)


# ------------------------------------------------------------------ elementwise binary table

# name -> (engine spellings, NumPy value, d/dx, d/dy, x points, y points)
# d/dx and d/dy are the analytic partials (ties in maximum/minimum split 0.5 / 0.5)
BINARY = {
    "add": (
        [lambda a, b: a + b, np.add, ops.add],
        np.add,
        lambda a, b: np.ones_like(a + b),
        lambda a, b: np.ones_like(a + b),
        GENERAL,
        [0.7, -1.1, 2.3],
    ),
    "sub": (
        [lambda a, b: a - b, np.subtract, ops.subtract],
        np.subtract,
        lambda a, b: np.ones_like(a + b),
        lambda a, b: -np.ones_like(a + b),
        GENERAL,
        [0.7, -1.1, 2.3],
    ),
    "mul": (
        [lambda a, b: a * b, np.multiply, ops.multiply],
        np.multiply,
        lambda a, b: b + 0 * a,
        lambda a, b: a + 0 * b,
        GENERAL,
        [0.7, -1.1, 2.3],
    ),
    "div": (
        [lambda a, b: a / b, np.divide, ops.divide],
        np.divide,
        lambda a, b: 1.0 / b + 0 * a,
        lambda a, b: -a / b**2,
        GENERAL,
        [0.7, -1.1, 2.3],
    ),
    "pow": (
        [lambda a, b: a**b, np.power, ops.power],
        np.power,
        lambda a, b: b * a ** (b - 1),
        lambda a, b: a**b * np.log(a),
        POSITIVE,
        [0.7, -1.1, 2.3, 3.0],
    ),
    "maximum": (
        [ops.maximum, np.maximum],
        np.maximum,
        lambda a, b: (a > b) + 0.5 * (a == b) + 0.0,
        lambda a, b: (b > a) + 0.5 * (a == b) + 0.0,
        GENERAL,
        [0.7, -1.1, 0.1],
    ),
    "minimum": (
        [ops.minimum, np.minimum],
        np.minimum,
        lambda a, b: (a < b) + 0.5 * (a == b) + 0.0,
        lambda a, b: (b < a) + 0.5 * (a == b) + 0.0,
        GENERAL,
        [0.7, -1.1, 0.1],
    ),
}

BINARY_CASES = [(name, i) for name, spec in BINARY.items() for i in range(len(spec[0]))]
BINARY_IDS = [f"{name}-{i}" for name, i in BINARY_CASES]


@pytest.mark.parametrize("name,k", BINARY_CASES, ids=BINARY_IDS)
@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_binary_on_two_engine_scalars(name, k, mode, chunk):
    fns, ref, dx, dy, xs, ys = BINARY[name]
    fn = fns[k]
    for a in xs:
        for b in ys:
            value, g = modes.value_and_grad(lambda v: fn(v[0], v[1]), [a, b], mode=mode, chunk=chunk)
            assert value == pytest.approx(float(ref(a, b)), rel=1e-14, abs=1e-15)
            expected = [float(dx(np.float64(a), np.float64(b))), float(dy(np.float64(a), np.float64(b)))]
            np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)
            fd = fd_jacobian(lambda z: ref(z[0], z[1]), [a, b])
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,k", BINARY_CASES, ids=BINARY_IDS)
def test_binary_same_value_on_both_sides(name, k):
    """``op(x, x)``: both partials land on one node (d/dx = dx + dy)."""
    fns, ref, dx, dy, xs, _ = BINARY[name]
    x = np.array(xs, dtype=float)
    check_jacobian(lambda v: fns[k](v, v), lambda z: ref(z, z), x, np.diag(dx(x, x) + dy(x, x)))


def _constants(y):
    """The kinds of constants a user writes next to an engine value (all positive if y > 0)."""
    return [
        float(y),
        np.float64(y),
        np.array(y),  # a 0-d array
        np.array([y, 0.5 * y + 0.25, abs(y) + 1.0]),
    ]


@pytest.mark.parametrize("name,k", BINARY_CASES, ids=BINARY_IDS)
def test_binary_engine_with_constant_on_either_side(name, k):
    """Engine value on the left or the right (reflected operators), constants of every kind."""
    fns, ref, dx, dy, xs, ys = BINARY[name]
    fn = fns[k]
    x0 = float(xs[1])
    c0 = float(ys[0])
    c_left = 1.7 if name == "pow" else c0  # a constant base must be positive for the y-derivative
    for c in _constants(c0):
        # engine on the left: d/dx op(x, c)
        J = broadcast_jacobian(dx(np.float64(x0), np.asarray(c, dtype=float)), (), np.shape(c))
        check_jacobian(lambda v, c=c: fn(v, c), lambda z, c=c: ref(z, c), x0, J)
    for c in _constants(c_left):
        # engine on the right: d/dy op(c, y)
        J = broadcast_jacobian(dy(np.asarray(c, dtype=float), np.float64(x0)), (), np.shape(c))
        check_jacobian(lambda v, c=c: fn(c, v), lambda z, c=c: ref(c, z), x0, J)


@pytest.mark.parametrize("name,k", BINARY_CASES, ids=BINARY_IDS)
def test_binary_broadcasting(name, k):
    """Shapes (3,) with (2, 3), (2, 3) with (2, 1), scalar with array; engine and constant on each side."""
    fns, ref, dx, dy, _, _ = BINARY[name]
    fn = fns[k]
    rng = np.random.default_rng(7)
    lo = 0.3 if name == "pow" else -1.5
    pairs = [((3,), (2, 3)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((2, 1), (1, 3)), ((), (2, 3)), ((2, 3), ())]
    for sa, sb in pairs:
        a = rng.uniform(lo, 2.0, size=sa)
        b = rng.uniform(0.5, 2.0, size=sb) * rng.choice([-1.0, 1.0], size=sb)
        a = float(a) if sa == () else a
        b = float(b) if sb == () else b
        out_shape = np.broadcast_shapes(sa, sb)
        ab, bb = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        # d/da with b constant, d/db with a constant
        check_jacobian(
            lambda v, b=b: fn(v, b),
            lambda z, b=b: ref(z, b),
            a,
            broadcast_jacobian(dx(ab, bb), sa, out_shape),
        )
        check_jacobian(
            lambda v, a=a: fn(a, v),
            lambda z, a=a: ref(a, z),
            b,
            broadcast_jacobian(dy(ab, bb), sb, out_shape),
        )
        # both engine values, packed into one flat input
        na = int(np.prod(sa))
        z0 = np.concatenate([np.ravel(a), np.ravel(b)])

        def unpack(z, sa=sa, sb=sb, na=na):
            return ops.reshape(z[:na], sa), ops.reshape(z[na:], sb)

        def unpack_ref(z, sa=sa, sb=sb, na=na):
            return np.reshape(z[:na], sa), np.reshape(z[na:], sb)

        Ja = broadcast_jacobian(dx(ab, bb), sa, out_shape).reshape(out_shape + (na,))
        Jb = broadcast_jacobian(dy(ab, bb), sb, out_shape).reshape(out_shape + (z0.size - na,))
        check_jacobian(
            lambda z: fn(*unpack(z)), lambda z: ref(*unpack_ref(z)), z0, np.concatenate([Ja, Jb], axis=-1)
        )


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_powers_with_constant_exponents_and_negative_bases(mode, chunk):
    x = np.array([-1.5, -0.5, 0.75, 2.0])
    cases = [
        (lambda v: v**2, 2.0 * x),
        (lambda v: v**3, 3.0 * x**2),
        (lambda v: v ** np.float64(2.0), 2.0 * x),
        (lambda v: v**-1, -1.0 / x**2),
        (
            lambda v: v ** np.array([2.0, 3.0, 2.0, 3.0]),
            np.array([2.0, 3.0, 2.0, 3.0]) * x ** np.array([1.0, 2.0, 1.0, 2.0]),
        ),
    ]
    for f, d in cases:
        np.testing.assert_allclose(modes.jacobian(f, x, mode=mode, chunk=chunk), np.diag(d), rtol=1e-13)
    # the reflected forms 2.0 ** x, np.float64(2) ** x, array ** x
    for base in (2.0, np.float64(2.0), 2):
        np.testing.assert_allclose(
            modes.jacobian(lambda v, base=base: base**v, x, mode=mode, chunk=chunk),
            np.diag(2.0**x * math.log(2.0)),
            rtol=1e-13,
        )
    B = np.array([0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(
        modes.jacobian(lambda v: B**v, x, mode=mode, chunk=chunk), np.diag(B**x * np.log(B)), rtol=1e-13
    )


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_int_constants_in_operators(mode, chunk):
    f = lambda v: (1 + v) * 2 - 3 / v + v / 4 - (5 - v) + 2**v + v**2
    ref = lambda x: (1 + x) * 2 - 3 / x + x / 4 - (5 - x) + 2**x + x**2
    d = lambda x: 2 + 3 / x**2 + 0.25 + 1 + 2**x * math.log(2) + 2 * x
    for x0 in (0.5, -1.25, 3.0):
        value, g = modes.value_and_grad(f, x0, mode=mode, chunk=chunk)
        assert value == pytest.approx(ref(x0), rel=1e-14)
        assert g == pytest.approx(d(x0), rel=1e-13)
        assert g == pytest.approx(float(fd_jacobian(ref, x0)), rel=1e-7)


# ------------------------------------------------------------------------------ where


@pytest.mark.parametrize("spelling", [ops.where, np.where], ids=["ops.where", "np.where"])
def test_where_passes_the_selected_branch(spelling):
    x = np.array([-1.5, -0.2, 0.4, 1.3])
    # the condition is read on primal values; each branch's derivative flows where it is selected
    f = lambda v: spelling(v > 0, ops.sin(v), v * v)
    ref = lambda z: np.where(z > 0, np.sin(z), z * z)
    check_jacobian(f, ref, x, np.diag(np.where(x > 0, np.cos(x), 2 * x)))
    # a constant branch has zero derivative; a broadcast scalar condition selects one branch
    check_jacobian(
        lambda v: spelling(v < 0, 1.0, v * 3.0),
        lambda z: np.where(z < 0, 1.0, z * 3.0),
        x,
        np.diag(np.where(x < 0, 0.0, 3.0)),
    )
    check_jacobian(lambda v: spelling(True, v * 2.0, v), lambda z: z * 2.0, x, 2.0 * np.eye(4))


# ------------------------------------------------------------------------ structure ops

X23 = np.array([[0.5, -1.2, 2.0], [1.5, 0.25, -0.75]])
X234 = np.arange(24.0).reshape(2, 3, 4) / 7.0 - 1.0
V5 = np.array([0.3, -1.1, 2.2, 0.9, -0.4])


def _index_add_ref(z, idx, shape):
    out = np.zeros(shape)
    np.add.at(out, idx, z)
    return out


INDEX_ADD = modes.PRIMITIVES["index_add"]  # getitem's transpose: a primitive, not a public op

# (id, engine function, NumPy reference, input); all affine, so the NumPy reference applied to
# basis vectors is the analytic Jacobian
LINEAR = [
    ("sum-all", ops.sum, np.sum, X23),
    ("np.sum", np.sum, np.sum, X23),
    ("sum-axis0", lambda v: ops.sum(v, axis=0), lambda z: np.sum(z, axis=0), X23),
    ("sum-axis-1", lambda v: ops.sum(v, axis=-1), lambda z: np.sum(z, axis=-1), X23),
    (
        "sum-keepdims",
        lambda v: ops.sum(v, axis=1, keepdims=True),
        lambda z: np.sum(z, axis=1, keepdims=True),
        X23,
    ),
    ("sum-axes02", lambda v: ops.sum(v, axis=(0, 2)), lambda z: np.sum(z, axis=(0, 2)), X234),
    ("method-sum", lambda v: v.sum(axis=1), lambda z: z.sum(axis=1), X23),
    ("np.sum-axis", lambda v: np.sum(v, axis=0), lambda z: np.sum(z, axis=0), X234),
    ("mean-all", ops.mean, np.mean, X23),
    ("mean-axis1", lambda v: ops.mean(v, axis=1), lambda z: np.mean(z, axis=1), X23),
    (
        "mean-keepdims",
        lambda v: ops.mean(v, axis=0, keepdims=True),
        lambda z: np.mean(z, axis=0, keepdims=True),
        X234,
    ),
    ("np.mean", np.mean, np.mean, V5),
    ("reshape", lambda v: ops.reshape(v, (3, 2)), lambda z: np.reshape(z, (3, 2)), X23),
    ("reshape-1", lambda v: ops.reshape(v, -1), lambda z: np.reshape(z, -1), X23),
    ("method-reshape", lambda v: v.reshape(4, 6), lambda z: z.reshape(4, 6), X234),
    ("np.reshape", lambda v: np.reshape(v, (6, 1)), lambda z: np.reshape(z, (6, 1)), X23),
    ("transpose", ops.transpose, np.transpose, X23),
    (".T", lambda v: v.T, lambda z: z.T, X23),
    ("transpose-axes", lambda v: ops.transpose(v, (2, 0, 1)), lambda z: np.transpose(z, (2, 0, 1)), X234),
    ("np.transpose", lambda v: np.transpose(v, (1, 2, 0)), lambda z: np.transpose(z, (1, 2, 0)), X234),
    (
        "concatenate",
        lambda v: ops.concatenate([v[:2], np.array([9.0, 8.0]), v]),
        lambda z: np.concatenate([z[:2], np.array([9.0, 8.0]), z]),
        V5,
    ),
    (
        "concatenate-axis1",
        lambda v: ops.concatenate([v, 2.0 * v], axis=1),
        lambda z: np.concatenate([z, 2.0 * z], axis=1),
        X23,
    ),
    ("np.concatenate", lambda v: np.concatenate([v, v[::-1]]), lambda z: np.concatenate([z, z[::-1]]), V5),
    (
        "stack",
        lambda v: ops.stack([v, 3.0 * v, np.ones(5)]),
        lambda z: np.stack([z, 3.0 * z, np.ones(5)]),
        V5,
    ),
    ("stack-axis1", lambda v: ops.stack([v, -v], axis=1), lambda z: np.stack([z, -z], axis=1), X23),
    ("np.stack", lambda v: np.stack([v[0], v[1]], axis=-1), lambda z: np.stack([z[0], z[1]], axis=-1), X23),
    ("stack-scalars", lambda v: ops.stack([v[4], v[0], 2.0]), lambda z: np.stack([z[4], z[0], 2.0]), V5),
    ("index-int", lambda v: v[1], lambda z: z[1], V5),
    ("index-negative", lambda v: v[-1], lambda z: z[-1], V5),
    ("index-np-int", lambda v: v[np.int64(2)], lambda z: z[2], V5),
    ("slice", lambda v: v[1:4], lambda z: z[1:4], V5),
    ("slice-step", lambda v: v[::-2], lambda z: z[::-2], V5),
    (
        "index-array-repeats",
        lambda v: v[np.array([0, 0, 3, 1, 3])],
        lambda z: z[np.array([0, 0, 3, 1, 3])],
        V5,
    ),
    ("index-list", lambda v: v[[4, 2]], lambda z: z[[4, 2]], V5),
    ("bool-mask", lambda v: v[V5 > 0], lambda z: z[V5 > 0], V5),
    ("bool-mask-from-engine", lambda v: v[v > 0], lambda z: z[V5 > 0], V5),
    ("2d-row", lambda v: v[1], lambda z: z[1], X23),
    ("2d-column", lambda v: v[:, 0], lambda z: z[:, 0], X23),
    ("2d-entry", lambda v: v[1, 2], lambda z: z[1, 2], X23),
    (
        "2d-fancy",
        lambda v: v[np.array([1, 0, 1]), np.array([2, 2, 0])],
        lambda z: z[np.array([1, 0, 1]), np.array([2, 2, 0])],
        X23,
    ),
    ("2d-mask", lambda v: v[X23 > 0], lambda z: z[X23 > 0], X23),
    ("2d-slices", lambda v: v[::-1, 1:], lambda z: z[::-1, 1:], X23),
    ("3d-mixed", lambda v: v[1, :, np.array([0, 3])], lambda z: z[1, :, np.array([0, 3])], X234),
    ("ellipsis", lambda v: v[..., 1], lambda z: z[..., 1], X23),
    ("ops.getitem", lambda v: ops.getitem(v, (1, slice(0, 2))), lambda z: z[1, 0:2], X23),
    (
        "index_add",
        lambda v: INDEX_ADD(v, idx=np.array([0, 2, 0, 3, 3]), shape=(4,)),
        lambda z: _index_add_ref(z, np.array([0, 2, 0, 3, 3]), (4,)),
        V5,
    ),
    (
        "index_add-2d",
        lambda v: INDEX_ADD(v, idx=(slice(None), 1), shape=(2, 3)),
        lambda z: _index_add_ref(z, (slice(None), 1), (2, 3)),
        X23[:, 0].copy(),
    ),
    ("ops.getitem-list", lambda v: ops.getitem(v, [3, 3, 0]), lambda z: z[[3, 3, 0]], V5),
    ("ellipsis-3d", lambda v: v[0, ..., 2], lambda z: z[0, ..., 2], X234),
    ("broadcast_to", lambda v: ops.broadcast_to(v, (4, 3)), lambda z: np.broadcast_to(z, (4, 3)), X23[0]),
    (
        "np.broadcast_to",
        lambda v: np.broadcast_to(v, (2, 2, 3)),
        lambda z: np.broadcast_to(z, (2, 2, 3)),
        X23,
    ),
    ("matmul-const-left", lambda v: X23 @ v, lambda z: X23 @ z, np.array([1.0, -2.0, 0.5])),
    ("matmul-const-right", lambda v: v @ X23, lambda z: z @ X23, np.array([1.0, -2.0])),
    ("matmul-2d-2d", lambda v: v @ X23.T, lambda z: z @ X23.T, X23[::-1]),
    ("ops.matmul", lambda v: ops.matmul(X23, v), lambda z: X23 @ z, X23.T.copy()),
    ("np.matmul", lambda v: np.matmul(v, X23.T), lambda z: z @ X23.T, X23),
    ("ops.dot", lambda v: ops.dot(X23, v), lambda z: np.dot(X23, z), np.array([1.0, -2.0, 0.5])),
    ("np.dot", lambda v: np.dot(v, X23), lambda z: np.dot(z, X23), np.array([1.0, -2.0])),
    (
        "method-dot",
        lambda v: v.dot(np.array([1.0, 2.0, 3.0])),
        lambda z: z.dot(np.array([1.0, 2.0, 3.0])),
        X23,
    ),
    ("dot-scalar", lambda v: ops.dot(2.5, v), lambda z: np.dot(2.5, z), V5),
    (
        "tensordot",
        lambda v: ops.tensordot(v, X234, axes=2),
        lambda z: np.tensordot(z, X234, axes=2),
        X234[:, :, 0].copy(),
    ),
]


@pytest.mark.parametrize("case", LINEAR, ids=[c[0] for c in LINEAR])
def test_linear_structure_ops(case):
    _, f, ref, x = case
    check_jacobian(f, ref, x, linear_jacobian(ref, x.shape))


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_len_and_iteration(mode, chunk):
    x = V5

    def f(v):
        assert len(v) == 5
        total = 0.0
        for k, e in enumerate(v):
            total = total + (k + 1.0) * e * e
        return total + len(v) * v[0]

    expected = 2.0 * np.arange(1.0, 6.0) * x + np.array([5.0, 0, 0, 0, 0])
    np.testing.assert_allclose(modes.grad(f, x, mode=mode, chunk=chunk), expected, rtol=1e-13)

    # iterating a 2-D engine array yields its rows
    def rows(v):
        assert len(v) == 2
        r0, r1 = list(v)
        assert r0.shape == (3,)
        return ops.sum(r0 * r1)

    np.testing.assert_allclose(modes.grad(rows, X23, mode=mode, chunk=chunk), X23[::-1], rtol=1e-13)
    # the shape attributes mirror NumPy's
    seen = []
    modes.grad(
        lambda v: (seen.append((v.shape, v.ndim, v.size, np.shape(v), np.ndim(v))), ops.sum(v))[1],
        X234,
        mode=mode,
        chunk=chunk,
    )
    assert seen[0] == ((2, 3, 4), 3, 24, (2, 3, 4), 3)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_reductions_of_a_list_of_engine_scalars(mode, chunk):
    """sum, mean, logsumexp and softmax accept a list of engine scalars (as NumPy accepts a list)."""
    x = [0.5, -1.5, 2.0]
    a = np.array(x)
    s = np.exp(a - a.max()) / np.sum(np.exp(a - a.max()))
    f = lambda v: ops.sum([v[0], v[1] * v[2]]) + ops.mean([v[2], 3.0 * v[0]]) + ops.logsumexp(v)
    expected = np.array([1.0, a[2], a[1]]) + np.array([1.5, 0.0, 0.5]) + s
    np.testing.assert_allclose(modes.grad(f, x, mode=mode, chunk=chunk), expected, rtol=1e-14)
    J = modes.jacobian(lambda v: ops.softmax(v), x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_list_entries_with_structure_ops(mode, chunk):
    x = [0.5, -1.5, 2.0]
    # a list input gives engine scalars; stack builds an engine array from them
    f = lambda v: ops.sum(ops.stack(v) * np.array([1.0, 2.0, 3.0])) + ops.dot(ops.stack(v), ops.stack(v))
    np.testing.assert_allclose(
        modes.grad(f, x, mode=mode, chunk=chunk), np.array([1.0, 2.0, 3.0]) + 2 * np.array(x), rtol=1e-14
    )


def test_bilinear_products_with_two_engine_operands():
    A = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
    B = np.array([[1.0, 0.0], [-2.0, 0.5], [0.75, 3.0]])
    z0 = np.concatenate([A.ravel(), B.ravel()])

    def f(z):
        return ops.reshape(z[:6], (2, 3)) @ ops.reshape(z[6:], (3, 2))

    def ref(z):
        return z[:6].reshape(2, 3) @ z[6:].reshape(3, 2)

    # d(AB) = dA B + A dB
    JA = linear_jacobian(lambda e: e @ B, (2, 3)).reshape(2, 2, 6)
    JB = linear_jacobian(lambda e: A @ e, (3, 2)).reshape(2, 2, 6)
    check_jacobian(f, ref, z0, np.concatenate([JA, JB], axis=-1))
    # 1-D dot of two engine vectors: gradient (b, a)
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.25, 4.0, -1.0])
    check_jacobian(
        lambda z: ops.dot(z[:3], z[3:]),
        lambda z: np.dot(z[:3], z[3:]),
        np.concatenate([a, b]),
        np.concatenate([b, a]),
    )
    # matrix-vector with both operands engine values (through np.matmul dispatch)
    check_jacobian(
        lambda z: np.matmul(ops.reshape(z[:6], (2, 3)), z[6:]),
        lambda z: z[:6].reshape(2, 3) @ z[6:],
        np.concatenate([A.ravel(), a]),
        np.concatenate([linear_jacobian(lambda e: e @ a, (2, 3)).reshape(2, 6), A], axis=-1),
    )


# ------------------------------------------------------------------- logsumexp and softmax


def _softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _logsumexp(x, axis=None):
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m, axis=axis)


def test_logsumexp_and_softmax_derivatives():
    x = np.array([0.3, -1.2, 2.0, 0.7])
    s = _softmax(x)
    # d logsumexp = softmax ; d softmax = diag(s) - s s^T
    check_jacobian(ops.logsumexp, _logsumexp, x, s)
    check_jacobian(ops.softmax, _softmax, x, np.diag(s) - np.outer(s, s))
    # along an axis of a 2-D array
    X = np.array([[0.3, -1.2, 2.0], [1.0, 1.0, -0.5]])
    S = _softmax(X, axis=1)
    J = np.zeros((2, 2, 3))
    for i in range(2):
        J[i, i] = S[i]
    check_jacobian(lambda v: ops.logsumexp(v, axis=1), lambda z: _logsumexp(z, axis=1), X, J)
    Js = np.zeros((2, 3, 2, 3))
    for i in range(2):
        Js[i, :, i, :] = np.diag(S[i]) - np.outer(S[i], S[i])
    check_jacobian(lambda v: ops.softmax(v, axis=1), lambda z: _softmax(z, axis=1), X, Js)
    S0 = _softmax(X, axis=0)
    J0 = np.zeros((3, 2, 3))
    for j in range(3):
        J0[j, :, j] = S0[:, j]
    check_jacobian(lambda v: ops.logsumexp(v, axis=0), lambda z: _logsumexp(z, axis=0), X, J0)


# --------------------------------------------------------------- NumPy dispatch and plain use


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_numpy_calls_dispatch_to_the_same_primitives(mode):
    W = np.array([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]])
    x = np.array([0.2, -0.7, 1.1])
    cases = [
        (lambda v: np.sin(v), "sin"),
        (lambda v: np.sum(v), "sum"),
        (lambda v: W @ v, "tensordot"),
        (lambda v: np.float64(2) * v, "mul"),
        (lambda v: np.array([1.0, 2.0, 3.0]) - v, "sub"),
        (lambda v: np.exp(v), "exp"),
        (lambda v: np.maximum(v, 0.0), "maximum"),
    ]
    for f, name in cases:
        # the result of the NumPy call is an engine value of the same kind as the input
        types = []

        def g(v, f=f, types=types):
            out = f(v)
            types.append((type(out), type(v)))
            return out

        modes.jacobian(g, x, mode=mode)
        assert types[0][0] is types[0][1], name
        # and its tape entry is the table's primitive
        rec = modes.record(f, x)
        assert rec.tape.node(len(rec.tape) - 1).primitive is modes.PRIMITIVES[name]
    # the derivatives of the examples of the issue
    np.testing.assert_allclose(
        modes.jacobian(lambda v: np.sin(v), x, mode=mode), np.diag(np.cos(x)), rtol=1e-14
    )
    np.testing.assert_allclose(modes.grad(lambda v: np.sum(v), x, mode=mode), np.ones(3))
    np.testing.assert_allclose(modes.jacobian(lambda v: W @ v, x, mode=mode), W)
    assert modes.grad(lambda v: np.float64(2) * v, 1.5, mode=mode) == 2.0
    np.testing.assert_allclose(modes.grad(lambda v: np.float64(2) * v[1], [1.0, 1.5], mode=mode), [0.0, 2.0])
    np.testing.assert_allclose(modes.jacobian(lambda v: np.float64(2) * v, x, mode=mode), 2.0 * np.eye(3))


# The functions the hand-written derivative tests differentiate (the tables above cover the rest).
HAND_WRITTEN = [
    (test_where_passes_the_selected_branch, lambda v: ops.where(v > 0, ops.sin(v), v * v), X23),
    (test_logsumexp_and_softmax_derivatives, lambda v: ops.logsumexp(v) + ops.softmax(v)[0], X23[0]),
    (test_sech2_is_tanhs_accurate_partial, lambda v: modes.rules.sech2(v, ops.tanh(v)), 0.7),
]


def _derivative_kernels():
    """(function, input) for every function this file checks a derivative of."""
    for _, fn in SPELLINGS:
        yield fn, 0.5
    for spec in BINARY.values():
        for fn in spec[0]:
            yield (lambda v, fn=fn: fn(v[0], v[1])), [0.7, 1.3]
            yield fn, None  # the spelling itself, for the ops names it stands for
    for _, fn, _, x in LINEAR:
        yield fn, x
    for test, fn, x in HAND_WRITTEN:
        assert globals()[test.__name__] is test
        yield fn, x
    yield from _issue12_kernels()


def _issue12_kernels():
    """Issue 12's functions: their derivative tests live in their own modules (SymPy, differences,
    the adjoint identity, kinks, Hessians); the functions those modules differentiate count here."""
    import test_numpy_arrays  # tests/ is on sys.path: pytest imports test files rootdir-relative
    import test_numpy_elementwise
    import test_numpy_linalg
    from numpy_catalogue import CASES

    for ufunc, _, xs in test_numpy_elementwise.UNARY.values():
        yield (lambda v, u=ufunc: u(v)), xs
        yield ufunc, None
    for fn in test_numpy_elementwise.STEPS.values():
        yield (lambda v, f=fn: f(v)), test_numpy_elementwise.GENERAL
        yield fn, None
    for ufunc, _, xs, ys in test_numpy_elementwise.BINARY.values():
        yield (lambda v, u=ufunc: u(v[0], v[1])), np.stack([xs, ys])
        yield ufunc, None
    yield from test_numpy_arrays.ARRAY_FUNCTIONS.values()
    yield from test_numpy_linalg.FUNCTIONS.values()
    for _, fn, x in CASES:
        yield fn, x


def _numpy_target(obj):
    """The public op a NumPy function or ufunc dispatches to on engine values, if any."""
    try:
        target = modes.registry.UFUNCS.get(obj) or modes.registry.FUNCTIONS.get(obj)
    except TypeError:  # unhashable
        return None
    return next((n for n, e in modes.registry.PUBLIC.items() if e.fn is target), None) if target else None


def _ops_named(fn):
    """The public ops a kernel is, or calls by name (``ops.sum(...)``, or ``np.cumsum(...)`` that
    dispatches to ``ops.cumsum``, in its code)."""
    names = {name for name in ops.__all__ if getattr(ops, name) is fn}
    names |= {t for t in [_numpy_target(fn)] if t}
    code = getattr(fn, "__code__", None)
    if code is not None and "ops" in code.co_names:
        names |= set(code.co_names) & set(ops.__all__)
    if code is not None and "np" in code.co_names:
        for n in code.co_names:
            for module in (np, np.linalg):
                t = _numpy_target(getattr(module, n, None))
                if t:
                    names.add(t)
    return names


def test_every_public_op_and_every_primitive_has_a_derivative_test_here():
    """A new op in modes.ops or a new primitive in the table must get a derivative test here: each
    must be on the tape of, or called by name in, a function this file differentiates."""
    recorded, named = set(), set()
    for fn, x in _derivative_kernels():
        named |= _ops_named(fn)
        if x is not None:
            tape = modes.record(fn, x).tape
            recorded |= {tape.node(k).primitive.name for k in range(len(tape)) if tape.node(k).primitive}
    assert set(modes.PRIMITIVES) <= recorded, sorted(set(modes.PRIMITIVES) - recorded)
    assert set(ops.__all__) <= named, sorted(set(ops.__all__) - named)


def test_ops_accept_plain_numbers_and_return_plain_numbers():
    assert ops.sin(0.5) == pytest.approx(math.sin(0.5), rel=1e-15)
    assert type(ops.sin(0.5)) is float
    assert ops.maximum(1, 2.5) == 2.5
    assert ops.sum(np.ones((2, 3))) == 6.0
    np.testing.assert_allclose(ops.mean(X23, axis=0), X23.mean(axis=0))
    np.testing.assert_allclose(ops.softmax(X23[0]), _softmax(X23[0]), rtol=1e-15)
    assert ops.logsumexp(np.array([1000.0, 1000.0])) == pytest.approx(1000.0 + math.log(2.0), rel=1e-15)
    np.testing.assert_array_equal(ops.where(X23 > 0, X23, 0.0), np.where(X23 > 0, X23, 0.0))
    np.testing.assert_allclose(ops.matmul(X23, np.ones(3)), X23 @ np.ones(3))
    np.testing.assert_allclose(
        ops.sigmoid(np.array([-1.0, 0.0, 2.0])), _sigmoid(np.array([-1.0, 0.0, 2.0])), rtol=1e-15
    )


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_comparisons_act_on_primal_values(mode, chunk):
    def f(v):
        a, b = v
        assert (a < b) is True and (a <= b) is True and (a > b) is False and (a >= b) is False
        assert (a == a) is True and (a != b) is True and (a == 0.5) is True
        assert (0.5 < b) is True and (np.float64(3.0) > b) is True
        return a * b if a < b else a + b

    np.testing.assert_allclose(modes.grad(f, [0.5, 2.0], mode=mode, chunk=chunk), [2.0, 0.5])
