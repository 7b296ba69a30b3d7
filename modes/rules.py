"""The rule table: every primitive, its value function and its derivative rule, declared once.

Both engines read this file and nothing else to differentiate; no derivative formula lives
anywhere else.

**Elementwise primitives** declare ``partials``: one entry per argument, the *local partial
derivative* of the output with respect to that argument, as a function of ``(*args, out)`` or a
constant. This is the article's "every node computes its output and its local gradient": forward
mode multiplies it into tangents, reverse mode into adjoints (``modes/chain.py``), broadcasting
included.

**Structure primitives** (sum, broadcast_to, reshape, transpose, getitem, index_add,
concatenate, stack, tensordot) declare ``jvp``, one function mapping the argument tangents
(``None`` for a constant argument; a trailing axis of width ``c`` when ``cdim`` is 1, forward
mode's chunk of directions) to the output tangent, and ``vjp``, one transpose per argument.

Rules are written with primitives, never with plain NumPy calls on their arguments, so they are
differentiable themselves: that is what makes nested derivatives (Hessians) work.

Conventions at non-differentiable points, shared by both engines and every chunk size:
``abs'(0) = 0`` (sign), ``relu'(0) = 0``, ties in ``maximum``/``minimum`` split ``0.5 / 0.5``,
``where`` passes the derivative of the branch it selected; ``pow`` at 0 takes the limits users
expect: ``d/dx x**0 = 0`` for every x (also 0), ``d/dy x**y = 0`` where ``x == 0`` or ``x**y == 0``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from modes import numeric as num
from modes.core import OUT, PerArgument, Primitive, Traced, operand, primal, shape_of

# ---------------------------------------------------------------- helpers used inside rules


def indicator(cond: Any) -> Any:
    """1.0 where ``cond`` holds, else 0.0; a constant (no derivative flows through it)."""
    if isinstance(cond, (bool, np.bool_)):
        return 1.0 if cond else 0.0
    return np.asarray(cond, dtype=float)


def _chunk_shape(t: Any, ndim: int) -> tuple[int, ...]:
    return shape_of(t)[ndim:]


def square(x: Any) -> Any:
    """``x * x`` (a product of primitives, so it differentiates like one)."""
    return mul(x, x)


def sum_to(x: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``x`` down to ``shape`` (the transpose of NumPy broadcasting)."""
    xs = shape_of(x)
    if xs == shape:
        return x
    lead = len(xs) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and xs[lead + i] != 1
    )
    if axes:
        x = sum_(x, axes=axes, keepdims=False)
    if shape_of(x) != shape:
        x = reshape(x, shape=shape)
    return x


# ------------------------------------------------------------------- elementwise primitives

add = Primitive("add", operator.add, ("x", "y"), partials=(1.0, 1.0), public="add", numpy=np.add)
sub = Primitive("sub", operator.sub, ("x", "y"), partials=(1.0, -1.0), public="subtract", numpy=np.subtract)
mul = Primitive("mul", operator.mul, ("x", "y"), partials=(operand(1), operand(0)), public="multiply", numpy=np.multiply)
neg = Primitive("neg", operator.neg, ("x",), partials=(-1.0,), public="negative", numpy=np.negative, expression=True)
div = Primitive(
    "div", num.divide, ("x", "y"),
    partials=(lambda x, y, out: div(1.0, y), lambda x, y, out: neg(div(out, y))),
    public="divide", numpy=np.divide,
)
def _pow_dx(x: Any, y: Any, out: Any) -> Any:
    """``d/dx x**y = y * x**(y-1)``, and 0 where ``y == 0`` (``x**0`` is 1 for every x, also x = 0)."""
    if type(y) is float or type(y) is int:  # a plain exponent (x ** 2)
        if y == 0:
            return 0.0
        if type(x) is float or type(x) is np.ndarray:  # plain numbers: call the kernel directly
            return y * (x if y == 2 else num.power(x, y - 1.0))  # x ** 1 is x, exactly (IEEE pow)
        return y * power(x, y - 1.0)
    at = np.logical_and(np.equal(primal(y), 0.0), np.equal(primal(x), 0.0))
    if not np.any(at):
        return y * power(x, y - 1)
    # y * 0**(-1) would be 0 * inf: take x = 1 there (inner where) and the limit 0 (outer)
    return where(at, 0.0, y * power(where(at, 1.0, x), y - 1))


def _pow_dy(x: Any, y: Any, out: Any) -> Any:
    """``d/dy x**y = x**y * log(x)``, and 0 where ``x == 0`` (0**y is constant in y on each side
    of 0; JAX's choice) or where ``x**y == 0``."""
    flat = np.logical_or(np.equal(primal(out), 0.0), np.equal(primal(x), 0.0))
    return out * log(where(bool(flat) if flat.ndim == 0 else flat, 1.0, x))


power = Primitive(
    "pow", num.power, ("x", "y"),
    partials=(_pow_dx, _pow_dy),
    public="power", numpy=np.power,
)
sin = Primitive("sin", num.sin, ("x",), partials=(lambda x, out: cos(x),), public="sin", numpy=np.sin, expression=True)
cos = Primitive("cos", num.cos, ("x",), partials=(lambda x, out: neg(sin(x)),), public="cos", numpy=np.cos, expression=True)
tan = Primitive("tan", num.tan, ("x",), partials=(lambda x, out: 1.0 + out * out,), public="tan", numpy=np.tan, expression=True)
exp = Primitive("exp", num.exp, ("x",), partials=(OUT,), public="exp", numpy=np.exp, expression=True)
log = Primitive("log", num.log, ("x",), partials=(lambda x, out: div(1.0, x),), public="log", numpy=np.log, expression=True)
log1p = Primitive("log1p", num.log1p, ("x",), partials=(lambda x, out: div(1.0, 1.0 + x),), public="log1p", numpy=np.log1p, expression=True)
sqrt = Primitive("sqrt", num.sqrt, ("x",), partials=(lambda x, out: div(0.5, out),), public="sqrt", numpy=np.sqrt, expression=True)
tanh = Primitive("tanh", num.tanh, ("x",), partials=(lambda x, out: sech2(x, out),), public="tanh", numpy=np.tanh, expression=True)
# sech2(x, t) = 1/cosh(x)^2 is told t = tanh(x) so the common case costs no transcendental
# (numeric.sech2); its partial in x is the total derivative, so its partial in t is 0.
sech2 = Primitive("sech2", num.sech2, ("x", "t"), partials=(lambda x, t, out: -2.0 * out * t, 0.0))
sinh = Primitive("sinh", num.sinh, ("x",), partials=(lambda x, out: cosh(x),), public="sinh", numpy=np.sinh, expression=True)
cosh = Primitive("cosh", num.cosh, ("x",), partials=(lambda x, out: sinh(x),), public="cosh", numpy=np.cosh, expression=True)
sigmoid = Primitive("sigmoid", num.sigmoid, ("x",), partials=(lambda x, out: out * sigmoid(neg(x)),), public="sigmoid", expression=True)  # s(x) s(-x) = s(1 - s) without cancellation
relu = Primitive("relu", num.relu, ("x",), partials=(lambda x, out: indicator(primal(x) > 0),), public="relu", expression=True, structural_zeros=True)
absolute = Primitive("abs", num.absolute, ("x",), partials=(lambda x, out: num.as_float_array(np.sign(primal(x))),), public="abs", numpy=np.absolute, expression=True)
maximum = Primitive(
    "maximum", num.maximum, ("x", "y"),
    partials=(
        lambda x, y, out: indicator(primal(x) > primal(y)) + 0.5 * indicator(primal(x) == primal(y)),
        lambda x, y, out: indicator(primal(y) > primal(x)) + 0.5 * indicator(primal(x) == primal(y)),
    ),
    public="maximum", numpy=np.maximum,
    structural_zeros=True,
)
minimum = Primitive(
    "minimum", num.minimum, ("x", "y"),
    partials=(
        lambda x, y, out: indicator(primal(x) < primal(y)) + 0.5 * indicator(primal(x) == primal(y)),
        lambda x, y, out: indicator(primal(y) < primal(x)) + 0.5 * indicator(primal(x) == primal(y)),
    ),
    public="minimum", numpy=np.minimum,
    structural_zeros=True,
)
where = Primitive(
    "where", lambda c, x, y: num.as_float_array(np.where(c, x, y)), ("condition", "x", "y"),
    partials=(None, lambda c, x, y, out: indicator(c), lambda c, x, y, out: 1.0 - indicator(c)),
    structural_zeros=True,
)

# ------------------------------------------------------------ structure (linear) primitives


def _sum_impl(x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return num.as_float_array(np.add.reduce(x, axis=axes, keepdims=keepdims))  # np.sum's own call


def _ct_chunk(ct: Any, out: Any) -> tuple[int, ...]:
    """The trailing chunk axis of a cotangent in vector-mode reverse (``()`` for one direction)."""
    return shape_of(ct)[len(shape_of(out)) :]


def _sum_vjp(ct: Any, x: Any, out: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    xs, chunk = shape_of(x), _ct_chunk(ct, out)
    if not keepdims and shape_of(out):  # a sum to one number broadcasts back as it is
        ct = reshape(ct, shape=tuple(1 if i in axes else s for i, s in enumerate(xs)) + chunk)
    return broadcast_to(ct, shape=xs + chunk)


sum_ = Primitive(
    "sum", _sum_impl, ("x",),
    jvp=lambda ts, xs, out, cdim, axes, keepdims: sum_(ts[0], axes=axes, keepdims=keepdims),
    vjp=(_sum_vjp,), chunked_vjp=True,
    weightless=True,
)

broadcast_to = Primitive(
    "broadcast_to", lambda x, shape: np.broadcast_to(x, shape), ("x",),
    jvp=lambda ts, xs, out, cdim, shape: broadcast_to(ts[0], shape=shape + _chunk_shape(ts[0], len(shape_of(xs[0])))),
    vjp=(lambda ct, x, out, shape: sum_to(ct, shape_of(x) + _ct_chunk(ct, out)),), chunked_vjp=True,
    weightless=True,
)

reshape = Primitive(
    "reshape", num.reshape, ("x",),
    jvp=lambda ts, xs, out, cdim, shape: reshape(ts[0], shape=shape + _chunk_shape(ts[0], len(shape_of(xs[0])))),
    vjp=(lambda ct, x, out, shape: reshape(ct, shape=shape_of(x) + _ct_chunk(ct, out)),), chunked_vjp=True,
    weightless=True,
)

transpose = Primitive(
    "transpose", num.transpose, ("x",),
    jvp=lambda ts, xs, out, cdim, axes: transpose(ts[0], axes=axes + tuple(range(len(axes), len(axes) + cdim))),
    vjp=(lambda ct, x, out, axes: transpose(
        ct, axes=tuple(int(i) for i in np.argsort(axes)) + tuple(range(len(axes), len(shape_of(ct))))
    ),),
    chunked_vjp=True,
    weightless=True,
)


def _basic_index(idx: Any) -> bool:
    for i in idx if type(idx) is tuple else (idx,):
        if type(i) is not int and type(i) is not slice:
            return False
    return True


def _getitem_accumulate(buf: np.ndarray, ct: Any, idx: Any) -> None:
    if _basic_index(idx):
        buf[idx] += ct
    else:
        np.add.at(buf, idx, ct)


getitem = Primitive(
    "getitem", lambda x, idx: num.as_float_array(x[idx]), ("x",),
    jvp=lambda ts, xs, out, cdim, idx: getitem(ts[0], idx=idx),
    vjp=(lambda ct, x, out, idx: index_add(ct, idx=idx, shape=shape_of(x) + _ct_chunk(ct, out)),),
    accumulate=_getitem_accumulate, chunked_vjp=True,
    weightless=True,
)


def _index_add_impl(v: Any, idx: Any, shape: tuple[int, ...]) -> np.ndarray:
    z = np.zeros(shape)
    _getitem_accumulate(z, v, idx)
    return z


index_add = Primitive(
    "index_add", _index_add_impl, ("values",),
    jvp=lambda ts, xs, out, cdim, idx, shape: index_add(
        ts[0], idx=idx, shape=shape + _chunk_shape(ts[0], len(shape_of(xs[0])))
    ),
    vjp=(lambda ct, v, out, idx, shape: getitem(ct, idx=idx),), chunked_vjp=True,
    weightless=True,
)


def _concat_jvp(ts: list, xs: tuple, out: Any, cdim: int, axis: int) -> Any:
    chunk = next(_chunk_shape(t, len(shape_of(x))) for t, x in zip(ts, xs) if t is not None)
    parts = [np.zeros(shape_of(x) + chunk) if t is None else t for t, x in zip(ts, xs)]
    return concatenate(*parts, axis=axis)


def _concat_vjp(i: int):
    def vjp(ct: Any, *rest: Any, axis: int) -> Any:
        xs = rest[:-1]
        start = sum(shape_of(x)[axis] for x in xs[:i])
        idx = (slice(None),) * axis + (slice(start, start + shape_of(xs[i])[axis]),)
        return getitem(ct, idx=idx)

    return vjp


concatenate = Primitive(
    "concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis), ("arrays",),
    jvp=_concat_jvp, vjp=PerArgument(_concat_vjp), chunked_vjp=True,
    weightless=True,
)


def _stack_jvp(ts: list, xs: tuple, out: Any, cdim: int, axis: int) -> Any:
    chunk = next(_chunk_shape(t, len(shape_of(x))) for t, x in zip(ts, xs) if t is not None)
    parts = [np.zeros(shape_of(x) + chunk) if t is None else t for t, x in zip(ts, xs)]
    return stack(*parts, axis=axis)


def _stack_vjp(i: int):
    def vjp(ct: Any, *rest: Any, axis: int) -> Any:
        return getitem(ct, idx=(slice(None),) * axis + (i,))

    return vjp


stack = Primitive(
    "stack", lambda *xs, axis: np.stack(xs, axis=axis), ("arrays",),
    jvp=_stack_jvp, vjp=PerArgument(_stack_vjp), chunked_vjp=True,
    weightless=True,
)


def _td_split(a: Any, b: Any, k: int) -> tuple[int, int]:
    return len(shape_of(a)) - k, len(shape_of(b)) - k


def _tensordot_jvp(ts: list, xs: tuple, out: Any, cdim: int, axes: int) -> Any:
    (ta, tb), (a, b) = ts, xs
    terms = []
    if ta is not None:
        if cdim:
            # move the chunk axis out of the contracted block, contract, put it back last
            na = len(shape_of(a))
            front = transpose(ta, axes=(na,) + tuple(range(na)))
            r = tensordot(front, b, axes=axes)
            rn = len(shape_of(r))
            terms.append(transpose(r, axes=tuple(range(1, rn)) + (0,)))
        else:
            terms.append(tensordot(ta, b, axes=axes))
    if tb is not None:
        terms.append(tensordot(a, tb, axes=axes))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _tensordot_vjp_a(ct: Any, a: Any, b: Any, out: Any, axes: int) -> Any:
    nb_free = _td_split(a, b, axes)[1]
    nb = len(shape_of(b))
    bt = transpose(b, axes=tuple(range(axes, nb)) + tuple(range(axes)))
    if not _ct_chunk(ct, out):
        return tensordot(ct, bt, axes=nb_free)
    # vector mode: move the chunk axis out of the contracted block, contract, put it back last
    nc = len(shape_of(ct))
    r = tensordot(transpose(ct, axes=(nc - 1,) + tuple(range(nc - 1))), bt, axes=nb_free)
    rn = len(shape_of(r))
    return transpose(r, axes=tuple(range(1, rn)) + (0,))


def _tensordot_vjp_b(ct: Any, a: Any, b: Any, out: Any, axes: int) -> Any:
    na_free = _td_split(a, b, axes)[0]
    na = len(shape_of(a))
    at = transpose(a, axes=tuple(range(na_free, na)) + tuple(range(na_free)))
    return tensordot(at, ct, axes=na_free)


tensordot = Primitive(
    "tensordot", num.tensordot, ("a", "b"),
    jvp=_tensordot_jvp, vjp=(_tensordot_vjp_a, _tensordot_vjp_b), chunked_vjp=True,
)

# ------------------------------------------------------- more elementwise primitives (issue 12)
# Step functions (sign, floor, ceil, rint, trunc) have derivative 0 everywhere, their jumps
# included (the convention autograd and JAX share). Partials that divide are written so they stay
# accurate: (1 - x)(1 + x) instead of 1 - x^2, hypot(x, 1) instead of sqrt(x^2 + 1).

_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))


def _one_minus_x2(x: Any) -> Any:
    return mul(sub(1.0, x), add(1.0, x))


def _nonzero(d: Any) -> Any:
    """``d`` with exact zeros replaced by 1 (a divisor for partials whose numerator is 0 there)."""
    return where(primal(d) == 0, 1.0, d)


#: sinc'(x) = x * sum_k _SINC_SERIES[k] * x^(2k) near 0, where (cos(pi x) - sinc(x)) / x cancels.
_SINC_SERIES = [
    (-1) ** k * 2 * k * np.pi ** (2 * k) / float(np.prod(np.arange(1.0, 2 * k + 2))) for k in range(1, 9)
]


def _sinc_partial(x: Any, out: Any) -> Any:
    # |x| < 0.2: the series (8 terms: truncation < 1e-18, and it nests: sinc''(0) = -pi^2/3);
    # elsewhere the closed form, whose cancellation costs at most ~2e-15 relative there
    px = primal(x)
    near = np.abs(px) < 0.2
    z = square(x)
    p: Any = _SINC_SERIES[-1]
    for c in reversed(_SINC_SERIES[:-1]):
        p = add(mul(p, z), c)
    series = mul(p, x)
    far = div(sub(cos(mul(np.pi, x)), out), where(near, 1.0, x))
    if np.ndim(px) == 0:
        return series if near else far
    return where(near, series, far)


sign = Primitive("sign", num.sign, ("x",), partials=(0.0,), public="sign", numpy=np.sign, expression=True, structural_zeros=True)
floor = Primitive("floor", num.floor, ("x",), partials=(0.0,), public="floor", numpy=np.floor, expression=True, structural_zeros=True)
ceil = Primitive("ceil", num.ceil, ("x",), partials=(0.0,), public="ceil", numpy=np.ceil, expression=True, structural_zeros=True)
rint = Primitive("rint", num.rint, ("x",), partials=(0.0,), public="rint", numpy=np.rint, expression=True, structural_zeros=True)
trunc = Primitive("trunc", num.trunc, ("x",), partials=(0.0,), public="trunc", numpy=np.trunc, expression=True, structural_zeros=True)
arcsin = Primitive("arcsin", num.arcsin, ("x",), partials=(lambda x, out: div(1.0, sqrt(_one_minus_x2(x))),), public="arcsin", numpy=np.arcsin, expression=True)
arccos = Primitive("arccos", num.arccos, ("x",), partials=(lambda x, out: div(-1.0, sqrt(_one_minus_x2(x))),), public="arccos", numpy=np.arccos, expression=True)
arctan = Primitive("arctan", num.arctan, ("x",), partials=(lambda x, out: div(1.0, add(1.0, square(x))),), public="arctan", numpy=np.arctan, expression=True)
arcsinh = Primitive("arcsinh", num.arcsinh, ("x",), partials=(lambda x, out: div(1.0, hypot(x, 1.0)),), public="arcsinh", numpy=np.arcsinh, expression=True)
arccosh = Primitive("arccosh", num.arccosh, ("x",), partials=(lambda x, out: div(1.0, sqrt(mul(sub(x, 1.0), add(x, 1.0)))),), public="arccosh", numpy=np.arccosh)
arctanh = Primitive("arctanh", num.arctanh, ("x",), partials=(lambda x, out: div(1.0, _one_minus_x2(x)),), public="arctanh", numpy=np.arctanh, expression=True)
expm1 = Primitive("expm1", num.expm1, ("x",), partials=(lambda x, out: exp(x),), public="expm1", numpy=np.expm1, expression=True)
exp2 = Primitive("exp2", num.exp2, ("x",), partials=(lambda x, out: mul(out, _LN2),), public="exp2", numpy=np.exp2, expression=True)
log2 = Primitive("log2", num.log2, ("x",), partials=(lambda x, out: div(1.0 / _LN2, x),), public="log2", numpy=np.log2, expression=True)
log10 = Primitive("log10", num.log10, ("x",), partials=(lambda x, out: div(1.0 / _LN10, x),), public="log10", numpy=np.log10, expression=True)
cbrt = Primitive("cbrt", num.cbrt, ("x",), partials=(lambda x, out: div(1.0 / 3.0, square(out)),), public="cbrt", numpy=np.cbrt, expression=True)
sinc = Primitive("sinc", num.sinc, ("x",), partials=(_sinc_partial,), public="sinc", numpy=np.sinc, expression=True)
# hypot'(0, 0) = (0, 0): the kink at the origin takes the subgradient 0, like abs'(0)
hypot = Primitive(
    "hypot", num.hypot, ("x", "y"),
    partials=(lambda x, y, out: div(x, _nonzero(out)), lambda x, y, out: div(y, _nonzero(out))),
    public="hypot", numpy=np.hypot,
)
arctan2 = Primitive(
    "arctan2", num.arctan2, ("y", "x"),
    partials=(
        lambda y, x, out: div(x, add(square(x), square(y))),
        lambda y, x, out: div(neg(y), add(square(x), square(y))),
    ),
    public="arctan2", numpy=np.arctan2,
)
logaddexp = Primitive(
    "logaddexp", num.logaddexp, ("x", "y"),
    partials=(lambda x, y, out: exp(sub(x, out)), lambda x, y, out: exp(sub(y, out))),
    public="logaddexp", numpy=np.logaddexp,
)
logaddexp2 = Primitive(
    "logaddexp2", num.logaddexp2, ("x", "y"),
    partials=(lambda x, y, out: exp2(sub(x, out)), lambda x, y, out: exp2(sub(y, out))),
    public="logaddexp2", numpy=np.logaddexp2,
)
# x mod y = x - floor(x / y) * y: partials 1 and -floor(x / y) (a step function, so a constant)
remainder = Primitive(
    "remainder", num.remainder, ("x", "y"),
    partials=(1.0, lambda x, y, out: num.as_float_array(-np.floor_divide(primal(x), primal(y)))),
    public="remainder", numpy=np.remainder,
)
fmod = Primitive(
    "fmod", num.fmod, ("x", "y"),
    partials=(1.0, lambda x, y, out: num.as_float_array(-np.trunc(np.divide(primal(x), primal(y))))),
    public="fmod", numpy=np.fmod,
)


def _nan_aware(pick: Any, x: Any, y: Any) -> Any:
    """fmax/fmin's partial in ``x``: 1 where ``x`` is chosen, 0.5 at a tie, and 1 when ``y`` is nan."""
    px, py = primal(x), primal(y)
    return indicator(pick(px, py) | (np.isnan(py) & ~np.isnan(px))) + 0.5 * indicator(px == py)


fmax = Primitive(
    "fmax", num.fmax, ("x", "y"),
    partials=(lambda x, y, out: _nan_aware(np.greater, x, y), lambda x, y, out: _nan_aware(np.greater, y, x)),
    public="fmax", numpy=np.fmax,
    structural_zeros=True,
)
fmin = Primitive(
    "fmin", num.fmin, ("x", "y"),
    partials=(lambda x, y, out: _nan_aware(np.less, x, y), lambda x, y, out: _nan_aware(np.less, y, x)),
    public="fmin", numpy=np.fmin,
    structural_zeros=True,
)

# ------------------------------------------------------------ reductions and scans (issue 12)


def _chooser_weights(x: Any, out: Any, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Where max/min chose ``x``: 1/k at each of the k entries tied for the extreme, else 0.

    Ties split evenly among the tied entries (autograd's and JAX's convention; two tied entries
    get 0.5 each, as ``maximum``/``minimum`` give). A constant: the choice has derivative 0.
    """
    px, po = np.asarray(primal(x), dtype=float), np.asarray(primal(out), dtype=float)
    if not keepdims:
        po = np.expand_dims(po, axes)
    chosen = px == po
    with np.errstate(invalid="ignore", divide="ignore"):
        return chosen / np.sum(chosen, axis=axes, keepdims=True)


def _chosen(t: Any, w: np.ndarray) -> Any:
    """``t * w`` where ``w`` chose (``w > 0``), exactly 0 elsewhere: an entry max/min did not
    choose is a structural zero, so its nan or inf tangent or adjoint does not leak."""
    pick = np.broadcast_to(w > 0, np.broadcast_shapes(shape_of(w), shape_of(t)))
    return where(pick, mul(t, w), 0.0)


def _chooser(name: str, np_fn: Any) -> Primitive:
    def jvp(ts: list, xs: tuple, out: Any, cdim: int, axes: tuple[int, ...], keepdims: bool) -> Any:
        w = _chooser_weights(xs[0], out, axes, keepdims)
        return sum_(_chosen(ts[0], w[..., None] if cdim else w), axes=axes, keepdims=keepdims)

    def vjp(ct: Any, x: Any, out: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        return _chosen(_sum_vjp(ct, x, out, axes, keepdims), _chooser_weights(x, out, axes, keepdims))

    return Primitive(
        name,
        lambda x, axes, keepdims: num.as_float_array(np_fn(x, axis=axes, keepdims=keepdims)),
        ("x",),
        jvp=jvp,
        vjp=(vjp,),
        weightless=True,  # the chosen entries' weights are >= 0: a reach mask passes exactly
    )


amax = _chooser("amax", np.max)
amin = _chooser("amin", np.min)


def _reverse(x: Any, axis: int) -> Any:
    return getitem(x, idx=(slice(None),) * axis + (slice(None, None, -1),))


# cumsum is linear: its transpose is the reversed cumulative sum of the reversed cotangent
cumsum = Primitive(
    "cumsum", lambda x, axis: np.cumsum(x, axis=axis), ("x",),
    jvp=lambda ts, xs, out, cdim, axis: cumsum(ts[0], axis=axis),
    vjp=(lambda ct, x, out, axis: _reverse(cumsum(_reverse(ct, axis), axis=axis), axis),),
    weightless=True,
)


def _order(x: Any, axis: int, kth: Any) -> tuple[np.ndarray, ...]:
    """The index that sorts (kth None) or partitions ``x`` along ``axis``: a constant, recomputed
    from the primal value at every call (so a replayed tape sorts at the new point)."""
    px = np.asarray(primal(x))
    perm = np.argsort(px, axis=axis, kind="stable") if kth is None else np.argpartition(px, kth, axis=axis)
    grids = np.ogrid[tuple(slice(n) for n in perm.shape)]
    return tuple(perm if i == axis else grids[i] for i in range(perm.ndim))


# sort (kth None, a stable sort) or partition: a gather by the permutation, read on primal values
# like maximum's choice; each output entry carries the derivative of the input entry landing there
sort = Primitive(
    "sort", lambda x, axis, kth: x[_order(x, axis, kth)], ("x",),
    jvp=lambda ts, xs, out, cdim, axis, kth: getitem(ts[0], idx=_order(xs[0], axis, kth)),
    vjp=(lambda ct, x, out, axis, kth: index_add(ct, idx=_order(x, axis, kth), shape=shape_of(x)),),
    weightless=True,
)


# ------------------------------------------------------ batched matrix product (issue 12)


def _chunk_first(t: Any, nd: int, out_nd: int) -> Any:
    """Forward mode's trailing chunk axis moved to the front, as a batch axis of ``out_nd`` + 1 dims.

    Batch axes broadcast right-aligned in NumPy's linear algebra, so the chunk axis gets unit axes
    after it up to the result's dimension: it then never meets an operand's own batch axes.
    """
    s = shape_of(t)
    t = transpose(t, axes=(nd, *range(nd)))
    return t if out_nd <= nd else reshape(t, shape=(s[-1],) + (1,) * (out_nd - nd) + s[:-1])


def _chunk_last(t: Any) -> Any:
    nd = len(shape_of(t))
    return transpose(t, axes=(*range(1, nd), 0))


def swap_last(x: Any) -> Any:
    """The last two axes swapped (a batch of matrices transposed)."""
    n = len(shape_of(x))
    return transpose(x, axes=(*range(n - 2), n - 1, n - 2))


def _matmul_jvp(ts: list, xs: tuple, out: Any, cdim: int) -> Any:
    (ta, tb), (a, b) = ts, xs
    if cdim:
        ta = None if ta is None else _chunk_first(ta, len(shape_of(a)), len(shape_of(out)))
        tb = None if tb is None else _chunk_first(tb, len(shape_of(b)), len(shape_of(out)))
    terms = [matmul(ta, b)] if ta is not None else []
    if tb is not None:
        terms.append(matmul(a, tb))
    t = terms[0] if len(terms) == 1 else add(terms[0], terms[1])
    if cdim:
        t = _chunk_last(t)
        want = shape_of(out) + shape_of(t)[-1:]
        return t if shape_of(t) == want else broadcast_to(t, shape=want)
    return t if shape_of(t) == shape_of(out) else broadcast_to(t, shape=shape_of(out))


# a @ b for operands of at least 2 dimensions whose leading (batch) axes broadcast
matmul = Primitive(
    "matmul", lambda a, b: np.matmul(a, b), ("a", "b"),
    jvp=_matmul_jvp,
    vjp=(
        lambda ct, a, b, out: sum_to(matmul(ct, swap_last(b)), shape_of(a)),
        lambda ct, a, b, out: sum_to(matmul(swap_last(a), ct), shape_of(b)),
    ),
)

# --------------------------------------------------------------- linear algebra (issue 12)
# Batches of matrices live in the last two axes. In forward mode a tangent's trailing chunk axis is
# first moved to the front (``_front``): NumPy's linear algebra then broadcasts over it like any
# batch axis, and ``_back`` puts it last again. Every rule is written with primitives (matmul,
# solve, inv, eigh...), so second derivatives nest.


def _front(t: Any, x: Any, cdim: int) -> Any:
    return _chunk_first(t, len(shape_of(x)), len(shape_of(x))) if cdim else t


def _back(t: Any, cdim: int) -> Any:
    return _chunk_last(t) if cdim else t


def _eye(n: int) -> np.ndarray:
    return np.eye(n)


def _mtrace(x: Any) -> Any:
    """Trace of each matrix in the last two axes."""
    nd = len(shape_of(x))
    return sum_(mul(x, _eye(shape_of(x)[-1])), axes=(nd - 2, nd - 1), keepdims=False)


def _mdiag(x: Any) -> Any:
    """Diagonal of each matrix in the last two axes, as a last axis."""
    nd = len(shape_of(x))
    return sum_(mul(x, _eye(shape_of(x)[-1])), axes=(nd - 2,), keepdims=False)


def _scalar_to_matrix(x: Any) -> Any:
    """Append two unit axes so a batch of numbers multiplies a batch of matrices."""
    return reshape(x, shape=(*shape_of(x), 1, 1))


def _lower(n: int, k: int = 0) -> np.ndarray:
    return np.tri(n, k=k, dtype=bool)


def _from_lower(t: Any) -> Any:
    """The symmetric matrix NumPy's cholesky/eigh actually read: the lower triangle, mirrored.

    ``np.linalg.cholesky`` and ``eigh`` (UPLO='L') ignore the upper triangle, so a perturbation
    there changes nothing: the tangent that matters is tril(dA) + tril(dA, -1)^T.
    """
    n = shape_of(t)[-1]
    return add(where(_lower(n), t, 0.0), swap_last(where(_lower(n, -1), t, 0.0)))


def _to_lower(g: Any) -> Any:
    """Transpose of :func:`_from_lower`: tril(G) + tril(G^T, -1)."""
    n = shape_of(g)[-1]
    return add(where(_lower(n), g, 0.0), where(_lower(n, -1), swap_last(g), 0.0))


inv = Primitive(
    "inv", lambda a: np.linalg.inv(a), ("a",),
    jvp=lambda ts, xs, out, cdim: _back(neg(matmul(out, matmul(_front(ts[0], xs[0], cdim), out))), cdim),
    vjp=(lambda ct, a, out: neg(matmul(swap_last(out), matmul(ct, swap_last(out)))),),
)


def _solve_jvp(ts: list, xs: tuple, out: Any, cdim: int) -> Any:
    (ta, tb), (a, b) = ts, xs
    nd = len(shape_of(out))  # a batch of right-hand sides can make out larger than a: pad to it
    rhs = tb if tb is None or not cdim else _chunk_first(tb, len(shape_of(b)), nd)
    if ta is not None:
        da_x = matmul(_chunk_first(ta, len(shape_of(a)), nd) if cdim else ta, out)
        rhs = neg(da_x) if rhs is None else sub(rhs, da_x)
    t = _back(solve(a, rhs), cdim)
    want = shape_of(out) + ((shape_of(t)[-1],) if cdim else ())
    return t if shape_of(t) == want else broadcast_to(t, shape=want)


def _solve_vjp_b(ct: Any, a: Any, b: Any, out: Any) -> Any:
    return sum_to(solve(swap_last(a), ct), shape_of(b))


def _solve_vjp_a(ct: Any, a: Any, b: Any, out: Any) -> Any:
    return sum_to(neg(matmul(solve(swap_last(a), ct), swap_last(out))), shape_of(a))


# solve(a, b) = a^-1 b for b of shape (..., n, k) (modes.ops.solve adapts a vector b)
solve = Primitive(
    "solve", lambda a, b: np.linalg.solve(a, b), ("a", "b"),
    jvp=_solve_jvp, vjp=(_solve_vjp_a, _solve_vjp_b),
)

# det' = det * tr(A^-1 dA); a singular A raises NumPy's LinAlgError (A^-1 does not exist)
det = Primitive(
    "det", lambda a: num.as_float_array(np.linalg.det(a)), ("a",),
    jvp=lambda ts, xs, out, cdim: _back(mul(out, _mtrace(solve(xs[0], _front(ts[0], xs[0], cdim)))), cdim),
    vjp=(lambda ct, a, out: mul(_scalar_to_matrix(mul(ct, out)), swap_last(inv(a))),),
)

logabsdet = Primitive(
    "logabsdet", lambda a: num.as_float_array(np.linalg.slogdet(a)[1]), ("a",),
    jvp=lambda ts, xs, out, cdim: _back(_mtrace(solve(xs[0], _front(ts[0], xs[0], cdim))), cdim),
    vjp=(lambda ct, a, out: mul(_scalar_to_matrix(ct), swap_last(inv(a))),),
)


def _zero_tangent(ts: list, xs: tuple, out: Any, cdim: int) -> np.ndarray:
    return np.zeros(shape_of(out) + (shape_of(ts[0])[-1:] if cdim else ()))


# the sign of det(a), as slogdet computes it: piecewise constant, derivative 0
detsign = Primitive(
    "detsign", lambda a: num.as_float_array(np.linalg.slogdet(a)[0]), ("a",),
    jvp=_zero_tangent, vjp=(lambda ct, a, out: np.zeros(shape_of(a)),),
)


def _phi(x: Any) -> Any:
    """The lower triangle with its diagonal halved (cholesky's derivative map)."""
    n = shape_of(x)[-1]
    return mul(x, np.tril(np.ones((n, n))) - 0.5 * np.eye(n))


def _cholesky_jvp(ts: list, xs: tuple, out: Any, cdim: int) -> Any:
    da = _from_lower(_front(ts[0], xs[0], cdim))
    m = swap_last(solve(out, swap_last(solve(out, da))))  # L^-1 dA L^-T
    return _back(matmul(out, _phi(m)), cdim)


def _cholesky_vjp(ct: Any, a: Any, out: Any) -> Any:
    lt = swap_last(out)
    p = _phi(matmul(lt, ct))
    return _to_lower(swap_last(solve(lt, swap_last(solve(lt, p)))))  # L^-T P L^-1


cholesky = Primitive(
    "cholesky", lambda a: np.linalg.cholesky(a), ("a",), jvp=_cholesky_jvp, vjp=(_cholesky_vjp,),
)


def _eigh_impl(a: Any) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _eigh_parts(out: Any) -> tuple[Any, Any]:
    nd = len(shape_of(out))
    lead = (slice(None),) * (nd - 2)
    return getitem(out, idx=(*lead, 0)), getitem(out, idx=(*lead, slice(1, None)))


def _eigh_gaps(w: Any) -> Any:
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it (inf for a repeated eigenvalue)."""
    s = shape_of(w)
    n = s[-1]
    d = sub(reshape(w, shape=(*s[:-1], 1, n)), reshape(w, shape=(*s[:-1], n, 1)))
    eye = np.eye(n, dtype=bool)
    return where(eye, 0.0, div(1.0, where(eye, 1.0, d)))


def _eigh_jvp(ts: list, xs: tuple, out: Any, cdim: int) -> Any:
    w, v = _eigh_parts(out)
    m = matmul(swap_last(v), matmul(_from_lower(_front(ts[0], xs[0], cdim)), v))
    dw = _mdiag(m)
    dv = matmul(v, mul(_eigh_gaps(w), m))
    sd = shape_of(dw)
    return _back(concatenate(reshape(dw, shape=(*sd[:-1], 1, sd[-1])), dv, axis=len(sd) - 1), cdim)


def _eigh_vjp(ct: Any, a: Any, out: Any) -> Any:
    w, v = _eigh_parts(out)
    gw, gv = _eigh_parts(ct)
    inner = mul(reshape(gw, shape=(*shape_of(gw)[:-1], 1, shape_of(gw)[-1])), np.eye(shape_of(gw)[-1]))
    if isinstance(gv, Traced) or np.any(primal(gv)):  # eigenvalues alone need no gaps (repeated ones too)
        inner = add(inner, mul(_eigh_gaps(w), matmul(swap_last(v), gv)))
    return _to_lower(matmul(v, matmul(inner, swap_last(v))))


# eigenvalues (row 0) and eigenvectors (rows 1..n) packed in one array, so one primitive carries
# both; eigenvectors of a repeated eigenvalue are not differentiable (the gaps are infinite)
eigh = Primitive("eigh", _eigh_impl, ("a",), jvp=_eigh_jvp, vjp=(_eigh_vjp,))


def _eigvalsh_jvp(ts: list, xs: tuple, out: Any, cdim: int) -> Any:
    v = _eigh_parts(eigh(xs[0]))[1]
    return _back(_mdiag(matmul(swap_last(v), matmul(_from_lower(_front(ts[0], xs[0], cdim)), v))), cdim)


def _eigvalsh_vjp(ct: Any, a: Any, out: Any) -> Any:
    v = _eigh_parts(eigh(a))[1]
    g = mul(reshape(ct, shape=(*shape_of(ct)[:-1], 1, shape_of(ct)[-1])), np.eye(shape_of(ct)[-1]))
    return _to_lower(matmul(v, matmul(g, swap_last(v))))


# eigenvalues alone: differentiable at repeated eigenvalues too (first order)
eigvalsh = Primitive("eigvalsh", lambda a: np.linalg.eigvalsh(a), ("a",), jvp=_eigvalsh_jvp, vjp=(_eigvalsh_vjp,))


def _right_vectors(a: Any) -> Any:
    """Right singular vectors of each matrix (columns, by decreasing singular value), from the
    eigenvectors of a^T a: an eigh primitive, so they are differentiable too."""
    v = _eigh_parts(eigh(matmul(swap_last(a), a)))[1]
    nd = len(shape_of(v))
    return getitem(v, idx=(slice(None),) * (nd - 1) + (slice(None, None, -1),))


def _svdvals_jvp(ts: list, xs: tuple, out: Any, cdim: int) -> Any:
    a = xs[0]
    m, n = shape_of(a)[-2:]
    ta = _front(ts[0], a, cdim)
    if m < n:
        a, ta = swap_last(a), swap_last(ta)
    k = min(m, n)
    v = _right_vectors(a)
    nd = len(shape_of(v))
    v = getitem(v, idx=(slice(None),) * (nd - 1) + (slice(0, k),))
    ds = div(_mdiag(matmul(swap_last(matmul(a, v)), matmul(ta, v))), out)  # u_i^T dA v_i, u_i = A v_i / s_i
    return _back(ds, cdim)


def _svdvals_vjp(ct: Any, a: Any, out: Any) -> Any:
    m, n = shape_of(a)[-2:]
    at = swap_last(a) if m < n else a
    k = min(m, n)
    v = _right_vectors(at)
    nd = len(shape_of(v))
    v = getitem(v, idx=(slice(None),) * (nd - 1) + (slice(0, k),))
    g = div(ct, out)
    scaled = mul(reshape(g, shape=(*shape_of(g)[:-1], 1, k)), np.eye(k))
    grad = matmul(at, matmul(v, matmul(scaled, swap_last(v))))  # A V diag(g / s) V^T
    return swap_last(grad) if m < n else grad


# singular values, decreasing; a zero or repeated singular value has no derivative here (nan)
svdvals = Primitive(
    "svdvals", lambda a: np.linalg.svd(a, compute_uv=False), ("a",), jvp=_svdvals_jvp, vjp=(_svdvals_vjp,),
)

#: Every primitive of the table, by name, in declaration order (derived: nothing to keep in step).
PRIMITIVES: dict[str, Primitive] = {p.name: p for p in list(globals().values()) if isinstance(p, Primitive)}
