"""Random expression trees over the whole elementwise primitive table, in both modes.

Hypothesis builds a tree of unary and binary primitives, ``where`` and constants over three
variables. The same tree is turned into

* a function of engine values (``modes`` differentiates it in reverse mode and in forward mode
  with chunks 3, 2 and 1),
* a SymPy expression (its exact symbolic derivative, evaluated at 30 digits, is the oracle;
  piecewise primitives contribute the piece that is active at the point),
* a plain-float evaluation with hand-written local partials, which also gives the *absolute
  chain* ``sum over paths of |product of local partials|``: the magnitude that rounding errors
  are relative to, so that tolerances make sense where a derivative cancels to (nearly) zero.

Domains: ``log``, ``log1p``, ``sqrt`` and the base of ``pow`` are wrapped so that their argument
is always in the domain (``log(1/4 + u^2)`` ...); ``div``, ``tan`` and ``exp`` are kept away from
their poles and overflow by rejecting the example (``hypothesis.assume``). The kinks of ``relu``,
``abs``, ``maximum``, ``minimum`` and ``where`` are either hit exactly (``relu(x - x)``,
``maximum(x, x)``: the documented conventions must hold there too) or kept ``KINK`` away.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import modes
from modes import ops

NVARS = 3
SYMS = sp.symbols("x0:3", real=True)
Q = sp.Rational(1, 4)
H = sp.Rational(1, 2)
BOUND = 1e4  # every node's value stays below this in magnitude
KINK = 1e-6  # a kink is either hit exactly (the documented convention applies) or kept this far away


def off_kink(d):
    """Exactly at a kink, or clearly away from it (never within rounding distance of it)."""
    return d == 0.0 or abs(d) > KINK


def _tie(x, y):
    return 0.5 if x == y else (1.0 if x > y else 0.0)


class DomainError(Exception):
    """The example leaves the safe domain."""


def _ok(cond, why):
    if not cond:
        raise DomainError(why)


# name -> (engine function, SymPy function, value, derivative, guard on the argument);
# piecewise primitives have no SymPy function: ``to_sympy`` picks the active piece
UNARY = {
    "sin": (ops.sin, sp.sin, math.sin, math.cos, None),
    "cos": (np.cos, sp.cos, math.cos, lambda u: -math.sin(u), None),  # through NumPy dispatch
    "tan": (ops.tan, sp.tan, math.tan, lambda u: 1.0 / math.cos(u) ** 2, lambda u: abs(math.cos(u)) > 0.2),
    "exp": (ops.exp, sp.exp, math.exp, math.exp, lambda u: u < 9.0),
    "log": (
        lambda u: ops.log(0.25 + u * u),
        lambda u: sp.log(Q + u**2),
        lambda u: math.log(0.25 + u * u),
        lambda u: 2 * u / (0.25 + u * u),
        None,
    ),
    "log1p": (
        lambda u: ops.log1p(u * u - 0.5),
        lambda u: sp.log(1 + u**2 - H),
        lambda u: math.log1p(u * u - 0.5),
        lambda u: 2 * u / (0.5 + u * u),
        None,
    ),
    "sqrt": (
        lambda u: np.sqrt(0.25 + u * u),
        lambda u: sp.sqrt(Q + u**2),
        lambda u: math.sqrt(0.25 + u * u),
        lambda u: u / math.sqrt(0.25 + u * u),
        None,
    ),
    "tanh": (ops.tanh, sp.tanh, math.tanh, lambda u: 1.0 / math.cosh(u) ** 2, None),
    "sinh": (ops.sinh, sp.sinh, math.sinh, math.cosh, lambda u: abs(u) < 9.0),
    "cosh": (np.cosh, sp.cosh, math.cosh, math.sinh, lambda u: abs(u) < 9.0),
    "sigmoid": (
        ops.sigmoid,
        lambda u: 1 / (1 + sp.exp(-u)),
        lambda u: 1.0 / (1.0 + math.exp(-u)),
        lambda u: math.exp(-u) / (1.0 + math.exp(-u)) ** 2,
        lambda u: abs(u) < 30.0,
    ),
    "relu": (
        ops.relu,
        None,
        lambda u: max(u, 0.0),
        lambda u: 1.0 if u > 0 else 0.0,  # relu'(0) = 0
        off_kink,
    ),
    "abs": (
        abs,
        None,
        abs,
        lambda u: math.copysign(1.0, u) if u != 0 else 0.0,  # abs'(0) = 0
        off_kink,
    ),
    "neg": (lambda u: -u, lambda u: -u, lambda u: -u, lambda u: -1.0, None),
    "square": (lambda u: u**2, lambda u: u**2, lambda u: u * u, lambda u: 2.0 * u, None),
    "cube": (lambda u: ops.power(u, 3), lambda u: u**3, lambda u: u**3, lambda u: 3.0 * u * u, None),
}


def _pow_val(a, b):
    return (0.5 + a * a) ** b


# name -> (engine, SymPy, value, (d/da, d/db), guard on (a, b))
BINARY = {
    "add": (
        lambda a, b: a + b,
        lambda a, b: a + b,
        lambda a, b: a + b,
        (lambda a, b: 1.0, lambda a, b: 1.0),
        None,
    ),
    "sub": (
        ops.subtract,
        lambda a, b: a - b,
        lambda a, b: a - b,
        (lambda a, b: 1.0, lambda a, b: -1.0),
        None,
    ),
    "mul": (
        lambda a, b: a * b,
        lambda a, b: a * b,
        lambda a, b: a * b,
        (lambda a, b: b, lambda a, b: a),
        None,
    ),
    "div": (
        lambda a, b: a / b,
        lambda a, b: a / b,
        lambda a, b: a / b,
        (lambda a, b: 1.0 / b, lambda a, b: -a / (b * b)),
        lambda a, b: abs(b) > 0.1,
    ),
    "pow": (
        lambda a, b: (0.5 + a * a) ** b,
        lambda a, b: (H + a**2) ** b,
        _pow_val,
        (
            lambda a, b: b * (0.5 + a * a) ** (b - 1.0) * 2.0 * a,
            lambda a, b: _pow_val(a, b) * math.log(0.5 + a * a),
        ),
        lambda a, b: abs(b) < 20.0,
    ),
    "maximum": (
        ops.maximum,
        None,
        max,
        (lambda a, b: _tie(a, b), lambda a, b: _tie(b, a)),  # ties split 0.5 / 0.5
        lambda a, b: off_kink(a - b),
    ),
    "minimum": (
        np.minimum,
        None,
        min,
        (lambda a, b: _tie(b, a), lambda a, b: _tie(a, b)),
        lambda a, b: off_kink(a - b),
    ),
}

# issue 12's smooth functions, composed onto their domains where they have one
UNARY.update(
    {
        "arcsin": (
            lambda u: np.arcsin(ops.tanh(u) * 0.9),
            lambda u: sp.asin(sp.tanh(u) * sp.Rational(9, 10)),
            lambda u: math.asin(math.tanh(u) * 0.9),
            lambda u: 0.9 / math.cosh(u) ** 2 / math.sqrt(1 - (0.9 * math.tanh(u)) ** 2),
            None,
        ),
        "arccos": (
            lambda u: ops.arccos(ops.tanh(u) * 0.9),
            lambda u: sp.acos(sp.tanh(u) * sp.Rational(9, 10)),
            lambda u: math.acos(math.tanh(u) * 0.9),
            lambda u: -0.9 / math.cosh(u) ** 2 / math.sqrt(1 - (0.9 * math.tanh(u)) ** 2),
            None,
        ),
        "arctan": (np.arctan, sp.atan, math.atan, lambda u: 1.0 / (1.0 + u * u), None),
        "arcsinh": (ops.arcsinh, sp.asinh, math.asinh, lambda u: 1.0 / math.sqrt(1.0 + u * u), None),
        "arccosh": (
            lambda u: np.arccosh(1.5 + u * u),
            lambda u: sp.acosh(sp.Rational(3, 2) + u**2),
            lambda u: math.acosh(1.5 + u * u),
            lambda u: 2 * u / math.sqrt((1.5 + u * u) ** 2 - 1),
            None,
        ),
        "arctanh": (
            lambda u: ops.arctanh(ops.tanh(u) * 0.9),
            lambda u: sp.atanh(sp.tanh(u) * sp.Rational(9, 10)),
            lambda u: math.atanh(math.tanh(u) * 0.9),
            lambda u: 0.9 / math.cosh(u) ** 2 / (1 - (0.9 * math.tanh(u)) ** 2),
            None,
        ),
        "expm1": (
            np.expm1,
            lambda u: sp.exp(u) - 1,
            math.expm1,
            math.exp,
            lambda u: abs(u) < 9.0 and (u == 0 or abs(u) > 1e-6),
        ),  # SymPy's exp(u) - 1 cancels
        "exp2": (
            ops.exp2,
            lambda u: 2**u,
            lambda u: 2.0**u,
            lambda u: 2.0**u * math.log(2),
            lambda u: u < 12.0,
        ),
        "log2": (
            lambda u: np.log2(0.25 + u * u),
            lambda u: sp.log(Q + u**2, 2),
            lambda u: math.log2(0.25 + u * u),
            lambda u: 2 * u / (0.25 + u * u) / math.log(2),
            None,
        ),
        "log10": (
            lambda u: ops.log10(0.25 + u * u),
            lambda u: sp.log(Q + u**2, 10),
            lambda u: math.log10(0.25 + u * u),
            lambda u: 2 * u / (0.25 + u * u) / math.log(10),
            None,
        ),
        "cbrt": (
            lambda u: ops.cbrt(0.25 + u * u),
            lambda u: sp.cbrt(Q + u**2),
            lambda u: math.cbrt(0.25 + u * u),
            lambda u: 2 * u / (3 * math.cbrt(0.25 + u * u) ** 2),
            None,
        ),
        "sinc": (
            np.sinc,
            lambda u: sp.sin(sp.pi * u) / (sp.pi * u),
            lambda u: float(np.sinc(u)),
            lambda u: (math.cos(math.pi * u) - math.sin(math.pi * u) / (math.pi * u)) / u,
            lambda u: abs(u) > 0.01,
        ),
    }
)
BINARY.update(
    {
        "hypot": (
            np.hypot,
            lambda a, b: sp.sqrt(a**2 + b**2),
            math.hypot,
            (lambda a, b: a / math.hypot(a, b), lambda a, b: b / math.hypot(a, b)),
            lambda a, b: math.hypot(a, b) > 0.1,
        ),
        "arctan2": (
            ops.arctan2,
            sp.atan2,
            math.atan2,
            (lambda a, b: b / (a * a + b * b), lambda a, b: -a / (a * a + b * b)),
            lambda a, b: math.hypot(a, b) > 0.1 and not (b < 0 and abs(a) < 0.1),
        ),
        "logaddexp": (
            np.logaddexp,
            lambda a, b: sp.log(sp.exp(a) + sp.exp(b)),
            lambda a, b: float(np.logaddexp(a, b)),
            (lambda a, b: 1 / (1 + math.exp(b - a)), lambda a, b: 1 / (1 + math.exp(a - b))),
            lambda a, b: abs(a - b) < 30,
        ),
        "logaddexp2": (
            ops.logaddexp2,
            lambda a, b: sp.log(2**a + 2**b, 2),
            lambda a, b: float(np.logaddexp2(a, b)),
            (lambda a, b: 1 / (1 + 2.0 ** (b - a)), lambda a, b: 1 / (1 + 2.0 ** (a - b))),
            lambda a, b: abs(a - b) < 30,
        ),
        "fmax": (
            np.fmax,
            None,
            max,
            (lambda a, b: _tie(a, b), lambda a, b: _tie(b, a)),
            lambda a, b: off_kink(a - b),
        ),
        "fmin": (
            ops.fmin,
            None,
            min,
            (lambda a, b: _tie(b, a), lambda a, b: _tie(a, b)),
            lambda a, b: off_kink(a - b),
        ),
    }
)
#: Piecewise-constant-derivative primitives, tested on their own (tests/test_numpy_elementwise.py):
#: a step function in a tree makes every derivative below it 0, and remainder's jumps are dense.
NOT_IN_TREES = {"sech2", "sign", "floor", "ceil", "rint", "trunc", "remainder", "fmod"}


def _primitives_used(fn, nargs):
    rec = modes.record(lambda v: fn(*v), [0.3, -0.7][:nargs])
    return {rec.tape.node(k).primitive.name for k in range(nargs, len(rec.tape))}


def test_the_trees_cover_the_whole_elementwise_table():
    """Every elementwise primitive of the rule table appears in the trees' operations."""
    used = set()
    for entry in UNARY.values():
        used |= _primitives_used(entry[0], 1)
    for entry in BINARY.values():
        used |= _primitives_used(entry[0], 2)
    used |= _primitives_used(lambda a, b: ops.where(a > 0, a, b), 2)
    elementwise = {name for name, p in modes.PRIMITIVES.items() if p.partials is not None}
    # sech2 is tanh's partial, not an op of the API: test_primitives checks it on its own
    assert elementwise - NOT_IN_TREES <= used, sorted(elementwise - NOT_IN_TREES - used)


# ------------------------------------------------------------------------------- the trees

variables = st.integers(0, NVARS - 1).map(lambda i: ("var", i))
constants = st.floats(-2.0, 2.0, allow_nan=False).map(lambda c: ("const", round(c, 3)))
leaves = st.one_of(variables, variables, constants)


def _extend(children):
    unary = st.tuples(st.just("un"), st.sampled_from(sorted(UNARY)), children)
    binary = st.tuples(st.just("bin"), st.sampled_from(sorted(BINARY)), children, children)
    where = st.tuples(st.just("where"), children, children, children)
    return st.one_of(unary, unary, binary, binary, where)


# the root is always an operation (a bare leaf tests nothing)
trees = _extend(st.recursive(leaves, _extend, max_leaves=10))
points = st.lists(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False), min_size=NVARS, max_size=NVARS)


def to_engine(t, xs):
    """The tree as a computation on engine values (or plain numbers)."""
    kind = t[0]
    if kind == "var":
        return xs[t[1]]
    if kind == "const":
        return t[1]
    if kind == "un":
        return UNARY[t[1]][0](to_engine(t[2], xs))
    if kind == "bin":
        return BINARY[t[1]][0](to_engine(t[2], xs), to_engine(t[3], xs))
    c = to_engine(t[1], xs)
    return ops.where(c > 0, to_engine(t[2], xs), to_engine(t[3], xs))


def exact(x):
    """A float as a SymPy number: its exact binary value, to 40 digits.

    (``sp.Rational`` would be exact too, but SymPy then tries to simplify powers of huge
    rationals symbolically, which can take minutes.)
    """
    return sp.Float(float(x), 40)


def to_sympy(t, xs):
    """The same tree as a SymPy expression, valid in a neighbourhood of the point ``xs``.

    The piecewise primitives (relu, abs, maximum, minimum, where) become the smooth piece that is
    active at ``xs`` (which is at least ``KINK`` away from every kink); SymPy then differentiates
    that piece exactly. Exactly at a kink the piece encodes the documented convention: ``0`` for
    relu and abs at 0 (derivative 0), ``(a + b) / 2`` for a tie of maximum or minimum (0.5 / 0.5),
    the second branch of ``where`` when the condition is ``0 > 0``. (Building ``sp.Piecewise``
    objects instead sends SymPy 1.14 into infinite recursion on expressions such as
    ``Max(1/x, -2/x)`` with Float coefficients.)
    """
    kind = t[0]
    if kind == "var":
        return SYMS[t[1]]
    if kind == "const":
        return exact(t[1])
    if kind == "un":
        u = to_sympy(t[2], xs)
        name = t[1]
        if name == "relu":
            return u if plain(t[2], xs)[0] > 0 else sp.Integer(0)
        if name == "abs":
            pu = plain(t[2], xs)[0]
            return u if pu > 0 else (-u if pu < 0 else sp.Integer(0))
        return UNARY[name][1](u)
    if kind == "bin":
        a, b = to_sympy(t[2], xs), to_sympy(t[3], xs)
        name = t[1]
        if name in ("maximum", "minimum", "fmax", "fmin"):
            pa, pb = plain(t[2], xs)[0], plain(t[3], xs)[0]
            if pa == pb:
                return (a + b) / 2
            return a if (pa > pb) == (name in ("maximum", "fmax")) else b
        return BINARY[name][1](a, b)
    return to_sympy(t[2], xs) if plain(t[1], xs)[0] > 0 else to_sympy(t[3], xs)


def plain(t, xs):
    """(value, gradient, absolute chain) with hand-written partials; raises DomainError off-domain."""
    kind = t[0]
    n = len(xs)
    if kind == "var":
        g = [0.0] * n
        g[t[1]] = 1.0
        return xs[t[1]], g, [abs(e) for e in g]
    if kind == "const":
        return t[1], [0.0] * n, [0.0] * n
    if kind == "un":
        _, _, val, der, guard = UNARY[t[1]]
        u, gu, au = plain(t[2], xs)
        _ok(guard is None or guard(u), t[1])
        v, d = val(u), der(u)
        # a partial evaluated next to one of its zeros (cos at a rounded arccos(0) = pi/2 gives
        # 6e-17, not 0) has no correct digits either: the same skip as for cancellation below
        _ok(d == 0.0 or abs(d) > 1e-8, "partial near a zero")
        out = (v, [d * e for e in gu], [abs(d) * e for e in au])
    elif kind == "bin":
        _, _, val, (da, db), guard = BINARY[t[1]]
        a, ga, aa = plain(t[2], xs)
        b, gb, ab = plain(t[3], xs)
        _ok(guard is None or guard(a, b), t[1])
        v, pa, pb = val(a, b), da(a, b), db(a, b)
        _ok(all(p == 0.0 or abs(p) > 1e-8 for p in (pa, pb)), "partial near a zero")
        if t[1] in ("add", "sub") and v != 0.0:
            # catastrophic cancellation (cos(x2) - cos(x1) at x1 ~ x2) leaves a float value with
            # few correct digits, which every later partial inherits: correct float code then
            # differs from SymPy's exact value by more than any fixed tolerance, so skip it
            _ok(abs(v) > 1e-6 * (abs(a) + abs(b)), "cancellation")
        out = (
            v,
            [pa * x + pb * y for x, y in zip(ga, gb)],
            [abs(pa) * x + abs(pb) * y for x, y in zip(aa, ab)],
        )
    else:
        c, _, _ = plain(t[1], xs)
        _ok(off_kink(c), "where")
        # the engine evaluates both branches, so both must stay in the safe domain
        yes, no = plain(t[2], xs), plain(t[3], xs)
        out = yes if c > 0 else no
    _ok(math.isfinite(out[0]) and abs(out[0]) < BOUND, "value bound")
    _ok(all(math.isfinite(e) and e < BOUND for e in out[2]), "chain bound")
    return out


def checked_plain(t, xs):
    try:
        with np.errstate(all="raise"):
            return plain(t, xs)
    except (DomainError, OverflowError, ValueError, ZeroDivisionError, FloatingPointError):
        assume(False)


def sympy_gradient(expr, xs, syms=SYMS):
    """Value and exact gradient of ``expr`` at ``xs``, evaluated to 30 digits."""
    at = {s: exact(x) for s, x in zip(syms, xs)}
    value = float(expr.xreplace(at).evalf(30))
    grad = [float(sp.diff(expr, s).xreplace(at).evalf(30)) for s in syms]
    return value, np.array(grad)


def assert_close(actual, expected, scale, rel, what):
    """|actual - expected| <= rel * max(|actual|, |expected|, scale), entry by entry.

    Plus 1e-300: products that underflow into subnormal numbers lose relative precision.
    """
    actual, expected, scale = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (actual, expected, scale))
    )
    bound = rel * np.maximum(np.maximum(np.abs(actual), np.abs(expected)), scale) + 1e-300
    bad = ~(np.abs(actual - expected) <= bound)
    assert not bad.any(), f"{what}: {actual} vs {expected} (scale {scale})"


SETTINGS = [("forward", None), ("forward", 2), ("forward", 1)]
# no "explain" phase: it re-runs SymPy hundreds of times on a failure
FAST = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@settings(FAST, max_examples=150)
@given(tree=trees, xs=points)
def test_forward_equals_reverse_equals_sympy(tree, xs):
    _, grad_ref, chain = checked_plain(tree, xs)
    f = lambda v: to_engine(tree, v)
    with np.errstate(all="ignore"):
        value, g_rev = modes.value_and_grad(f, xs, mode="reverse")
        fwd = [modes.value_and_grad(f, xs, mode=m, chunk=c) for m, c in SETTINGS]
        # an array input read entry by entry gives the same numbers
        g_arr = modes.grad(lambda v: to_engine(tree, [v[0], v[1], v[2]]), np.array(xs), mode="reverse")
        g_arr_fwd = modes.grad(lambda v: to_engine(tree, [v[0], v[1], v[2]]), np.array(xs), mode="forward")
    scale = np.array(chain)
    for (m, c), (value_f, g_f) in zip(SETTINGS, fwd):
        assert value_f == value
        assert_close(g_f, g_rev, scale, 1e-12, f"{m} chunk={c} vs reverse")
    assert_close(g_arr, g_rev, scale, 1e-12, "array input, reverse")
    assert_close(g_arr_fwd, g_rev, scale, 1e-12, "array input, forward")

    value_sym, grad_sym = sympy_gradient(to_sympy(tree, xs), xs)
    # the test's own two oracles agree (a wrong hand-written partial would show here)
    assert_close(grad_ref, grad_sym, scale, 1e-9, "hand-written partials vs SymPy")
    assert_close(value, value_sym, max(1.0, abs(value_sym)), 1e-12, "value vs SymPy")
    assert_close(g_rev, grad_sym, scale, 1e-9, "reverse vs SymPy")
    assert_close(fwd[2][1], grad_sym, scale, 1e-9, "forward chunk 1 vs SymPy")


single_var_trees = _extend(
    st.recursive(st.one_of(st.just(("var", 0)), st.just(("var", 0)), constants), _extend, max_leaves=6)
)
array_points = st.lists(st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False), min_size=4, max_size=4)


@settings(FAST, max_examples=60)
@given(tree=single_var_trees, xs=array_points)
def test_elementwise_tree_on_an_array(tree, xs):
    """The same tree applied elementwise to an array: the gradient of the sum is f' at each entry."""
    rows = [checked_plain(tree, [x]) for x in xs]
    scale = np.array([r[2][0] for r in rows])
    x = np.array(xs)
    f = lambda v: ops.sum(to_engine(tree, [v]) * np.ones(4))
    with np.errstate(all="ignore"):
        g_rev = modes.grad(f, x, mode="reverse")
        g_fwd = modes.grad(f, x, mode="forward")
        g_fwd3 = modes.grad(f, x, mode="forward", chunk=3)
    assert g_rev.shape == (4,)
    assert_close(g_fwd, g_rev, scale, 1e-12, "forward vs reverse")
    assert_close(g_fwd3, g_rev, scale, 1e-12, "forward chunk 3 vs reverse")
    want = np.array([sympy_gradient(to_sympy(tree, [v]), [v], SYMS[:1])[1][0] for v in xs])
    assert_close(g_rev, want, scale, 1e-9, "reverse vs SymPy")
    assert_close(g_fwd, want, scale, 1e-9, "forward vs SymPy")
