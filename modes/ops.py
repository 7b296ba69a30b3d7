"""The expression API: write a function once with these, differentiate it with either engine.

Every function accepts plain floats, ints and NumPy arrays as well as engine values, and returns
plain numbers when given only plain numbers. The elementwise primitives (``sin``, ``exp``,
``maximum``...) arrive here from their declaration in the rule table (``modes/rules.py``); the
functions defined below are *derived*: written from primitives, so they need no derivative rule
of their own, and declared with :func:`modes.registry.public` (their NumPy counterparts dispatch
to them). ``__all__`` is read from that registry.
"""

from __future__ import annotations

import builtins
import collections
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from modes import guard, registry, rules
from modes.core import Traced, primal, shape_of
from modes.guard import OBSERVERS
from modes.registry import public


def _ndim(x: Any) -> int:
    return len(shape_of(x))


def _axes(axis: int | Sequence[int] | None, ndim: int, name: str = "axis") -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in items:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"{name} {a} is out of bounds for an array of {ndim} dimensions")
        out.append(a % ndim)
    return tuple(sorted(set(out)))


def _value(x: Any) -> Any:
    """A list or tuple of values becomes one array value (stacked), anything else is kept."""
    if isinstance(x, (list, tuple)):
        return stack(x) if any(isinstance(v, Traced) for v in x) else np.asarray(x, dtype=float)
    return x


@public(numpy=np.where)
def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` holds, else ``y``; the condition is read on primal values."""
    c = primal(condition)
    if not isinstance(c, (bool, np.bool_)):
        c = _truth(c)
        if OBSERVERS and isinstance(condition, Traced):
            guard.derived(condition, c, _truth)  # used here only: a replay recomputes it
    return rules.where(c, x, y)


def _truth(c: Any) -> np.ndarray:
    return np.asarray(c, dtype=bool)


def _shift(x: Any, axes: tuple[int, ...]) -> Any:
    """logsumexp and softmax's shift: the max over ``axes`` (kept), 0 where it is not finite; a constant."""
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return float(m) if m.ndim == 0 else m


@public(numpy=np.sum)
def sum(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes by default), like ``np.sum``."""
    if axis is None and isinstance(x, Traced):  # the common case: nothing to normalise
        return rules.sum_(x, axes=tuple(range(len(shape_of(x)))), keepdims=bool(keepdims))
    x = _value(x)
    return rules.sum_(x, axes=_axes(axis, _ndim(x)), keepdims=bool(keepdims))


@public(numpy=np.mean)
def mean(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """Mean over ``axis`` (derived: ``sum / count``)."""
    x = _value(x)
    s = shape_of(x)
    axes = _axes(axis, len(s))
    count = int(np.prod([s[a] for a in axes])) if axes else 1
    return rules.div(rules.sum_(x, axes=axes, keepdims=bool(keepdims)), float(count))


@public(numpy=np.reshape)
def reshape(x: Any, shape: int | Sequence[int]) -> Any:
    """Reshape like ``np.reshape`` (one ``-1`` allowed)."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    size = math.prod(shape_of(x))
    if shape.count(-1) == 1:
        known = math.prod([s for s in shape if s != -1])
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size or any(s < 0 for s in shape):
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return rules.reshape(x, shape=shape)


@public(numpy=np.transpose)
def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute axes like ``np.transpose`` (reverse them by default)."""
    n = _ndim(x)
    perm = tuple(range(n))[::-1] if axes is None else tuple(int(a) % n for a in axes)
    if sorted(perm) != list(range(n)):
        raise ValueError(f"axes {axes} are not a permutation of {n} dimensions")
    return rules.transpose(x, axes=perm)


@public(numpy=np.broadcast_to)
def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """Broadcast like ``np.broadcast_to``."""
    shape = tuple(int(s) for s in shape)
    np.broadcast_shapes(shape_of(x), shape)
    return rules.broadcast_to(x, shape=shape)


@public(numpy=np.concatenate)
def concatenate(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join arrays along an existing axis, like ``np.concatenate``."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("concatenate needs at least one array")
    return rules.concatenate(*arrays, axis=_axes(axis, _ndim(arrays[0]))[0])


@public(numpy=np.stack)
def stack(arrays: Sequence[Any], axis: int = 0) -> Any:
    """Join arrays (or scalars) along a new axis, like ``np.stack``."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("stack needs at least one array")
    return rules.stack(*arrays, axis=_axes(axis, _ndim(arrays[0]) + 1)[0])


@public(numpy=np.tensordot)
def tensordot(a: Any, b: Any, axes: Any = 2) -> Any:
    """``np.tensordot`` with every ``axes`` form NumPy accepts: ``k``, ``(i, j)``, ``([i...], [j...])``.

    Derived: the contracted axes of ``a`` are moved last and those of ``b`` first (in the order
    given), then one contraction of ``k`` axes.
    """
    if isinstance(axes, (int, np.integer)):
        return rules.tensordot(a, b, axes=int(axes))
    try:
        ax_a, ax_b = axes
    except (TypeError, ValueError):
        raise TypeError(f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}") from None
    ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    na, nb = _ndim(a), _ndim(b)
    ax_a = [int(i) % na for i in ax_a]
    ax_b = [int(i) % nb for i in ax_b]
    if len(ax_a) != len(ax_b) or any(shape_of(a)[i] != shape_of(b)[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(
            f"tensordot: shape-mismatch for sum ({shape_of(a)} axes {ax_a}, {shape_of(b)} axes {ax_b})"
        )
    perm_a = tuple(i for i in range(na) if i not in ax_a) + tuple(ax_a)
    perm_b = tuple(ax_b) + tuple(i for i in range(nb) if i not in ax_b)
    if perm_a != tuple(range(na)):
        a = rules.transpose(a, axes=perm_a)
    if perm_b != tuple(range(nb)):
        b = rules.transpose(b, axes=perm_b)
    return rules.tensordot(a, b, axes=len(ax_a))


@public(numpy=np.matmul)
def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` like ``np.matmul``, batched over leading axes that broadcast.

    Operands of at most 2 dimensions contract with ``tensordot``; larger ones use the batched
    ``matmul`` primitive (1-D operands are promoted and the unit axis dropped again, as NumPy does).
    """
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: scalar operands are not allowed, use '*'")
    sa, sb = shape_of(a), shape_of(b)
    if sa[-1] != sb[0 if nb == 1 else -2]:
        raise ValueError(f"matmul: shapes {sa} and {sb} do not align")
    if na <= 2 and nb <= 2:
        return rules.tensordot(a, b, axes=1)
    a2 = rules.reshape(a, shape=(1, *sa)) if na == 1 else a
    b2 = rules.reshape(b, shape=(*sb, 1)) if nb == 1 else b
    np.broadcast_shapes(shape_of(a2)[:-2], shape_of(b2)[:-2])
    out = rules.matmul(a2, b2)
    if na == 1 or nb == 1:
        so = shape_of(out)
        out = rules.reshape(out, shape=so[:-2] + ((so[-1],) if na == 1 else (so[-2],)))
    return out


@public(numpy=np.dot)
def dot(a: Any, b: Any) -> Any:
    """``np.dot``: a scalar operand multiplies; otherwise the last axis of ``a`` meets the
    second-to-last of ``b`` (its only axis when 1-D), for any number of dimensions."""
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return rules.mul(a, b)
    if na <= 2 and nb <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([na - 1], [0 if nb == 1 else nb - 2]))


@public(numpy=np.vdot)
def vdot(a: Any, b: Any) -> Any:
    """``np.vdot`` of real arrays: the dot product of the flattened operands."""
    return rules.tensordot(ravel(a), ravel(b), axes=1)


@public(numpy=np.inner)
def inner(a: Any, b: Any) -> Any:
    """``np.inner``: contract the last axes (a scalar operand multiplies)."""
    if _ndim(a) == 0 or _ndim(b) == 0:
        return rules.mul(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


@public(numpy=np.outer)
def outer(a: Any, b: Any) -> Any:
    """``np.outer`` of the flattened operands (derived: a broadcast product)."""
    a, b = ravel(a), ravel(b)
    return rules.mul(rules.reshape(a, shape=(*shape_of(a), 1)), rules.reshape(b, shape=(1, *shape_of(b))))


@public(numpy=np.kron)
def kron(a: Any, b: Any) -> Any:
    """``np.kron`` (derived: a broadcast product of interleaved axes, reshaped)."""
    sa, sb = shape_of(a), shape_of(b)
    d = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (d - len(sa)) + sa, (1,) * (d - len(sb)) + sb
    a = rules.reshape(a, shape=tuple(v for n in sa for v in (n, 1)))
    b = rules.reshape(b, shape=tuple(v for n in sb for v in (1, n)))
    return rules.reshape(rules.mul(a, b), shape=tuple(m * n for m, n in zip(sa, sb)))


@public(numpy=np.cross)
def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None) -> Any:
    """``np.cross`` of 3-vectors (2-vectors count as z = 0; two 2-vectors give the z-component)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = (
        moveaxis(num_float(a) if not isinstance(a, Traced) else a, axisa, -1),
        moveaxis(num_float(b) if not isinstance(b, Traced) else b, axisb, -1),
    )
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product (dimension must be 2 or 3)")
    a0, a1, a2 = (getitem(a, (Ellipsis, i)) if i < na else 0.0 for i in range(3))
    b0, b1, b2 = (getitem(b, (Ellipsis, i)) if i < nb else 0.0 for i in range(3))
    z = rules.sub(rules.mul(a0, b1), rules.mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    x = rules.sub(rules.mul(a1, b2), rules.mul(a2, b1))
    y = rules.sub(rules.mul(a2, b0), rules.mul(a0, b2))
    batch = np.broadcast_shapes(shape_of(x), shape_of(y), shape_of(z))
    parts = [v if shape_of(v) == batch else rules.broadcast_to(v, shape=batch) for v in (x, y, z)]
    return moveaxis(rules.stack(*parts, axis=len(batch)), -1, axisc)


@public(numpy=np.einsum)
def einsum(subscripts: str, *operands: Any, optimize: Any = False) -> Any:
    """``np.einsum`` with explicit or implicit output (no ellipsis).

    Derived: each operand's repeated letters become a diagonal (a gather), its axes are aligned to
    one ordering of all letters (transpose and unit axes), the operands multiply by broadcasting,
    and letters not in the output are summed: every step a primitive, so it nests.
    """
    if not isinstance(subscripts, str) or "." in subscripts:
        raise NotImplementedError("einsum: only subscripts without '...' are supported on engine values")
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(operands)} operands")
    if not arrow:
        counts = collections.Counter("".join(terms))
        output = "".join(sorted(ch for ch, k in counts.items() if k == 1))
    letters = "".join(dict.fromkeys("".join(terms) + output))
    sizes: dict[str, int] = {}
    aligned = []
    for term, x in zip(terms, operands):
        x = x if isinstance(x, Traced) else num_float(x)
        if len(term) != _ndim(x):
            raise ValueError(f"einsum: operand subscripts '{term}' do not match an array of {_ndim(x)} dims")
        for ch, n in zip(term, shape_of(x)):
            if ch in sizes and n != sizes[ch] and 1 not in (n, sizes[ch]):
                raise ValueError(f"einsum: size of label '{ch}' differs between operands")
            sizes[ch] = builtins.max(sizes.get(ch, 1), n)
        while len(set(term)) < len(term):  # a repeated letter: take the diagonal of its two axes
            ch = next(c for c in term if term.count(c) > 1)
            i = term.index(ch)
            j = term.index(ch, i + 1)
            x = diagonal(x, 0, i, j)
            term = "".join(c for k, c in enumerate(term) if k not in (i, j)) + ch
        order = sorted(range(len(term)), key=lambda k, term=term: letters.index(term[k]))
        if order != list(range(len(term))):
            x = rules.transpose(x, axes=tuple(order))
            term = "".join(term[k] for k in order)
        shape = tuple(shape_of(x)[term.index(ch)] if ch in term else 1 for ch in letters)
        aligned.append(rules.reshape(x, shape=shape) if shape != shape_of(x) else x)
    out = aligned[0]
    for x in aligned[1:]:
        out = rules.mul(out, x)
    full = tuple(sizes[ch] for ch in letters)
    if shape_of(out) != full:
        out = rules.broadcast_to(out, shape=full)
    summed = tuple(k for k, ch in enumerate(letters) if ch not in output)
    if summed:
        out = rules.sum_(out, axes=summed, keepdims=False)
    kept = [ch for ch in letters if ch in output]
    perm = tuple(kept.index(ch) for ch in output)
    return rules.transpose(out, axes=perm) if perm != tuple(range(len(perm))) else out


@public()
def logsumexp(x: Any, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(x)))`` computed stably (derived: shift by the max, a constant)."""
    x = _value(x)
    axes = _axes(axis, _ndim(x))
    m = _shift(primal(x), axes)
    if OBSERVERS and isinstance(x, Traced):
        guard.derived(x, m, lambda v: _shift(v, axes))  # used here only: a replay recomputes it
    s = rules.sum_(rules.exp(rules.sub(x, m)), axes=axes, keepdims=True)
    out = rules.add(rules.log(s), m)
    if not keepdims:
        out = rules.reshape(out, shape=tuple(d for i, d in enumerate(shape_of(out)) if i not in axes))
    return out


@public()
def softmax(x: Any, axis: int = -1) -> Any:
    """``exp(x) / sum(exp(x))`` along ``axis``, max-shifted: ``e = exp(x - max(x))``, ``e / sum(e)``.

    The shift is a constant (the max of the primal values), so it changes no derivative; the
    shifted exponentials lie in (0, 1] and their sum in [1, n], so the quotient keeps full
    relative accuracy at any magnitude (``exp(x - logsumexp(x))`` loses it where ``x`` is so
    large that ``logsumexp(x) - x`` is below the spacing of floats there, e.g. ``x ~ 1e16``).
    """
    x = _value(x)
    axes = _axes(axis, _ndim(x))
    m = _shift(primal(x), axes)
    if OBSERVERS and isinstance(x, Traced):
        guard.derived(x, m, lambda v: _shift(v, axes))  # used here only: a replay recomputes it
    e = rules.exp(rules.sub(x, m))
    return rules.div(e, rules.sum_(e, axes=axes, keepdims=True))


square = public("square", numpy=np.square, expression=True)(rules.square)


@public(numpy=np.positive)
def positive(x: Any) -> Any:
    """``+x``: the value itself."""
    return x


@public()
def getitem(x: Any, idx: Any) -> Any:
    """``x[idx]`` for basic and advanced NumPy indices."""
    return rules.getitem(x, idx=normalize_index(idx, _ndim(x)))


def normalize_index(idx: Any, ndim: int) -> Any:
    """Make an index explicit: no Ellipsis, lists as arrays, no engine values.

    Forward mode's chunk axis trails the value's axes, so an index must name leading axes only.
    """
    if type(idx) is int:
        return idx
    items = idx if isinstance(idx, tuple) else (idx,)
    out = []
    for it in items:
        if isinstance(it, Traced):
            raise TypeError("an engine value cannot be used as an index; use modes.primal(i)")
        if isinstance(it, list):
            it = np.asarray(it)
        elif isinstance(it, np.integer):
            it = int(it)
        out.append(it)
    if any(it is Ellipsis for it in out):
        pos = next(i for i, it in enumerate(out) if it is Ellipsis)
        used = builtins.sum(1 for it in out if it is not None and it is not Ellipsis)
        used += builtins.sum(it.ndim - 1 for it in out if isinstance(it, np.ndarray) and it.dtype == bool)
        out[pos : pos + 1] = [slice(None)] * builtins.max(ndim - used, 0)
    return out[0] if len(out) == 1 and not isinstance(idx, tuple) else tuple(out)


# ----------------------------------------------------------- elementwise functions (derived)


def _no_out(out: Any, name: str) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= is not supported on engine values (results are new values)")


@public(numpy=np.fabs, expression=True)
def fabs(x: Any) -> Any:
    """``|x|`` (derived: ``abs``; derivative ``sign(x)``, 0 at 0)."""
    return rules.absolute(x)


@public("round", numpy=(np.round, np.around))
def round_(x: Any, decimals: int = 0, out: Any = None) -> Any:
    """Round half to even to ``decimals`` places like ``np.round``: derivative 0 (a step function)."""
    _no_out(out, "round")
    if decimals == 0:
        return rules.rint(x)
    scale = 10.0 ** int(decimals)
    return rules.div(rules.rint(rules.mul(x, scale)), scale)


@public(numpy=np.fix)
def fix(x: Any, out: Any = None) -> Any:
    """Round towards zero like ``np.fix`` (derived: ``trunc``; derivative 0)."""
    _no_out(out, "fix")
    return rules.trunc(x)


@public(numpy=np.reciprocal, expression=True)
def reciprocal(x: Any) -> Any:
    """``1 / x`` (derived: ``div``)."""
    return rules.div(1.0, x)


@public(numpy=np.float_power)
def float_power(x: Any, y: Any) -> Any:
    """``x ** y`` in float64 (derived: ``power``; the engines compute in float64 already)."""
    return rules.power(x, y)


@public(numpy=(np.deg2rad, np.radians), expression=True)
def deg2rad(x: Any) -> Any:
    """Degrees to radians: ``x * (pi / 180)``, bit for bit NumPy's value."""
    return rules.mul(x, np.pi / 180.0)


@public(numpy=(np.rad2deg, np.degrees), expression=True)
def rad2deg(x: Any) -> Any:
    """Radians to degrees: ``x * (180 / pi)``, bit for bit NumPy's value."""
    return rules.mul(x, 180.0 / np.pi)


@public(numpy=np.nan_to_num)
def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Any:
    """Replace nan and infinities like ``np.nan_to_num``: derivative 1 where ``x`` is finite, else 0."""
    finite = _derived(x, np.isfinite)
    replaced = _derived(x, lambda v: num_float(np.nan_to_num(v, nan=nan, posinf=posinf, neginf=neginf)))
    return rules.where(finite, x, replaced)


def num_float(a: Any) -> Any:
    """A NumPy result as the engines' plain type (0-d arrays become floats)."""
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


# ------------------------------------------------------------------ reductions (issue 12)


def _keep(name: str, **unsupported: Any) -> None:
    """Refuse NumPy keyword arguments that have no meaning on engine values, naming them."""
    for key, value in unsupported.items():
        if value is not None:
            raise TypeError(f"{name}: {key}= is not supported on engine values")


def _reduce_axes(x: Any, axis: Any) -> tuple[int, ...]:
    return _axes(axis, _ndim(x))


@public("max", numpy=(np.max, np.amax))
def max_(x: Any, axis: int | Sequence[int] | None = None, out: Any = None, keepdims: bool = False) -> Any:
    """Largest entry over ``axis`` like ``np.max``; ties split the derivative evenly among them."""
    _keep("max", out=out)
    x = _value(x)
    return rules.amax(x, axes=_reduce_axes(x, axis), keepdims=bool(keepdims))


@public("min", numpy=(np.min, np.amin))
def min_(x: Any, axis: int | Sequence[int] | None = None, out: Any = None, keepdims: bool = False) -> Any:
    """Smallest entry over ``axis`` like ``np.min``; ties split the derivative evenly among them."""
    _keep("min", out=out)
    x = _value(x)
    return rules.amin(x, axes=_reduce_axes(x, axis), keepdims=bool(keepdims))


def _to_front(x: Any, axes: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
    """``x`` with ``axes`` merged into one leading axis; also the shape of the other axes."""
    s = shape_of(x)
    rest = tuple(i for i in range(len(s)) if i not in axes)
    if axes + rest != tuple(range(len(s))):
        x = rules.transpose(x, axes=axes + rest)
    n = int(np.prod([s[a] for a in axes])) if axes else 1
    kept = tuple(s[i] for i in rest)
    return rules.reshape(x, shape=(n, *kept)), kept


@public(numpy=np.prod)
def prod(
    x: Any,
    axis: int | Sequence[int] | None = None,
    dtype: Any = None,
    out: Any = None,
    keepdims: bool = False,
) -> Any:
    """Product over ``axis`` like ``np.prod`` (derived: a tree of pairwise products).

    The derivative is the product of the other entries, exact at zeros (``exp(sum(log))`` would not
    be), and it nests; ``log2(n)`` rounds of vectorised multiplications.
    """
    _keep("prod", out=out, dtype=None if dtype in (None, float) else dtype)
    x = _value(x)
    axes = _reduce_axes(x, axis)
    s = shape_of(x)
    y, kept = _to_front(x, axes)
    n = shape_of(y)[0]
    if n == 0:
        y = np.ones(kept) if kept else 1.0
    else:
        while n > 1:
            if n % 2:
                y = rules.concatenate(y, np.ones((1, *kept)), axis=0)
                n += 1
            y = rules.mul(rules.getitem(y, idx=slice(0, None, 2)), rules.getitem(y, idx=slice(1, None, 2)))
            n //= 2
        y = rules.reshape(y, shape=kept)
    if keepdims:
        y = rules.reshape(y, shape=tuple(1 if i in axes else d for i, d in enumerate(s)))
    return y


def _count(x: Any, axes: tuple[int, ...]) -> int:
    s = shape_of(x)
    return int(np.prod([s[a] for a in axes])) if axes else 1


@public(numpy=np.var)
def var(
    x: Any,
    axis: int | Sequence[int] | None = None,
    dtype: Any = None,
    out: Any = None,
    ddof: float = 0,
    keepdims: bool = False,
) -> Any:
    """Variance over ``axis`` like ``np.var`` (derived: ``sum((x - mean)^2) / (n - ddof)``)."""
    _keep("var", out=out, dtype=None if dtype in (None, float) else dtype)
    x = _value(x)
    axes = _reduce_axes(x, axis)
    d = rules.sub(x, mean(x, axis=axes, keepdims=True))
    total = rules.sum_(rules.square(d), axes=axes, keepdims=bool(keepdims))
    return rules.div(total, float(builtins.max(_count(x, axes) - ddof, 0)))


def _flat_root(s: Any) -> Any:
    """``sqrt(s)`` of a sum of squares, with derivative 0 where ``s == 0`` (the kink of a norm or a
    standard deviation takes the subgradient 0, like ``abs'(0)``).

    Written as a selection, ``where(s > 0, sqrt(s), 0)``: at ``s == 0`` the branch not chosen
    carries ``sqrt``'s infinite partial times a computed zero (nan under IEEE), and a selection's
    zero is structural, so nothing of it reaches the result.
    """
    return rules.where(_derived(s, _positive), rules.sqrt(s), 0.0)


def _positive(v: Any) -> Any:
    return np.greater(v, 0.0)


@public(numpy=np.std)
def std(
    x: Any,
    axis: int | Sequence[int] | None = None,
    dtype: Any = None,
    out: Any = None,
    ddof: float = 0,
    keepdims: bool = False,
) -> Any:
    """Standard deviation like ``np.std`` (derived: ``sqrt(var)``).

    At a constant input (variance 0) the derivative is 0: the kink takes the subgradient 0, as
    ``abs'(0)`` does (see :func:`_flat_root`).
    """
    return _flat_root(var(x, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims))


@public(numpy=np.cumsum)
def cumsum(x: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """Cumulative sum like ``np.cumsum`` (flattened when ``axis`` is None)."""
    _keep("cumsum", out=out, dtype=None if dtype in (None, float) else dtype)
    x = _value(x)
    if axis is None:
        return rules.cumsum(ravel(x), axis=0)
    return rules.cumsum(x, axis=_axes(axis, _ndim(x))[0])


# ------------------------------------------------------------- shapes and joining (issue 12)


@public(numpy=np.ravel)
def ravel(x: Any, order: str = "C") -> Any:
    """The entries as a 1-D array, in C order (derived: ``reshape``)."""
    if order not in ("C", "A", "K"):
        raise ValueError(f"ravel: order={order!r} is not supported on engine values (only 'C')")
    x = _value(x)
    return rules.reshape(x, shape=(int(np.prod(shape_of(x))),))


@public(numpy=np.squeeze)
def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Drop axes of length 1 like ``np.squeeze``."""
    s = shape_of(x)
    axes = tuple(i for i, d in enumerate(s) if d == 1) if axis is None else _axes(axis, len(s))
    for a in axes:
        if s[a] != 1:
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    return rules.reshape(x, shape=tuple(d for i, d in enumerate(s) if i not in axes))


@public(numpy=np.expand_dims)
def expand_dims(x: Any, axis: int | Sequence[int]) -> Any:
    """Insert axes of length 1 like ``np.expand_dims``."""
    s = shape_of(x)
    axes = _axes(axis, len(s) + (1 if isinstance(axis, (int, np.integer)) else len(tuple(axis))))
    it = iter(s)
    return rules.reshape(x, shape=tuple(1 if i in axes else next(it) for i in range(len(s) + len(axes))))


def _atleast(x: Any, n: int) -> Any:
    s = shape_of(x)
    if len(s) >= n:
        return x
    if n == 3 and len(s) == 2:
        return rules.reshape(x, shape=(*s, 1))
    if n == 3 and len(s) == 1:
        return rules.reshape(x, shape=(1, *s, 1))
    return rules.reshape(x, shape=(1,) * (n - len(s)) + s)


def _atleast_fn(n: int) -> Any:
    def fn(*arrays: Any) -> Any:
        out = [_atleast(a, n) for a in arrays]
        return out[0] if len(out) == 1 else tuple(out)

    fn.__name__ = f"atleast_{n}d"
    fn.__doc__ = f"View inputs as arrays of at least {n} dimensions, like ``np.atleast_{n}d``."
    return fn


atleast_1d = public(numpy=np.atleast_1d)(_atleast_fn(1))
atleast_2d = public(numpy=np.atleast_2d)(_atleast_fn(2))
atleast_3d = public(numpy=np.atleast_3d)(_atleast_fn(3))


@public(numpy=np.moveaxis)
def moveaxis(x: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Any:
    """Move axes to new positions like ``np.moveaxis`` (derived: ``transpose``)."""
    n = _ndim(x)
    src = [a % n for a in ((source,) if isinstance(source, (int, np.integer)) else source)]
    dst = [a % n for a in ((destination,) if isinstance(destination, (int, np.integer)) else destination)]
    order = [i for i in range(n) if i not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return rules.transpose(x, axes=tuple(order))


@public(numpy=np.swapaxes)
def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Swap two axes like ``np.swapaxes``."""
    n = _ndim(x)
    perm = list(range(n))
    a, b = _axes(axis1, n)[0], _axes(axis2, n)[0]
    perm[a], perm[b] = perm[b], perm[a]
    return rules.transpose(x, axes=tuple(perm))


@public(numpy=np.rollaxis)
def rollaxis(x: Any, axis: int, start: int = 0) -> Any:
    """Roll ``axis`` back until it lies before ``start``, like ``np.rollaxis``."""
    n = _ndim(x)
    axis = _axes(axis, n)[0]
    start = start % (n + 1) if start < 0 else start
    order = [i for i in range(n) if i != axis]
    order.insert(start - (1 if axis < start else 0), axis)
    return rules.transpose(x, axes=tuple(order))


def _axis_index(n: int, axis: int, index: Any) -> tuple[Any, ...]:
    return (slice(None),) * axis + (index,)


@public(numpy=np.flip)
def flip(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """Reverse the order of entries along ``axis`` (all axes by default), like ``np.flip``."""
    n = _ndim(x)
    axes = _axes(axis, n)
    return rules.getitem(x, idx=tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(n)))


@public(numpy=np.flipud)
def flipud(x: Any) -> Any:
    """Reverse along axis 0."""
    return flip(x, 0)


@public(numpy=np.fliplr)
def fliplr(x: Any) -> Any:
    """Reverse along axis 1."""
    return flip(x, 1)


@public(numpy=np.rot90)
def rot90(x: Any, k: int = 1, axes: Sequence[int] = (0, 1)) -> Any:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes``, like ``np.rot90``."""
    a, b = (int(i) % _ndim(x) for i in axes)
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a), b)
    if k == 1:
        return swapaxes(flip(x, b), a, b)
    return flip(swapaxes(x, a, b), b)


@public(numpy=np.roll)
def roll(x: Any, shift: int | Sequence[int], axis: int | Sequence[int] | None = None) -> Any:
    """Shift entries cyclically like ``np.roll`` (derived: an index gather)."""
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), shape_of(x))
    shifts = (shift,) if isinstance(shift, (int, np.integer)) else tuple(shift)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    for sh, ax in zip(shifts, axes):
        ax = _axes(ax, _ndim(x))[0]
        n = shape_of(x)[ax]
        x = rules.getitem(x, idx=_axis_index(_ndim(x), ax, (np.arange(n) - int(sh)) % n))
    return x


@public(numpy=np.repeat)
def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Any:
    """Repeat entries like ``np.repeat`` (derived: a gather; its transpose adds the copies up)."""
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axes(axis, _ndim(x))[0]
    n = shape_of(x)[axis]
    return rules.getitem(x, idx=_axis_index(_ndim(x), axis, np.repeat(np.arange(n), repeats)))


@public(numpy=np.tile)
def tile(x: Any, reps: int | Sequence[int]) -> Any:
    """Tile like ``np.tile`` (derived: ``broadcast_to`` between interleaved axes, then ``reshape``)."""
    reps = (int(reps),) if isinstance(reps, (int, np.integer)) else tuple(int(r) for r in reps)
    s = shape_of(x)
    d = builtins.max(len(s), len(reps))
    s = (1,) * (d - len(s)) + s
    reps = (1,) * (d - len(reps)) + reps
    x = rules.reshape(x, shape=tuple(v for dim in s for v in (1, dim)))
    x = rules.broadcast_to(x, shape=tuple(v for r, dim in zip(reps, s) for v in (r, dim)))
    return rules.reshape(x, shape=tuple(r * dim for r, dim in zip(reps, s)))


def _diag_index(n: int, m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(builtins.max(0, -k), builtins.min(n, m - k))
    return i, i + k


@public(numpy=np.diagonal)
def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """The diagonal of the (``axis1``, ``axis2``) planes, as a last axis, like ``np.diagonal``."""
    nd = _ndim(x)
    a, b = _axes(axis1, nd)[0], _axes(axis2, nd)[0]
    rest = tuple(i for i in range(nd) if i not in (a, b))
    x = rules.transpose(x, axes=(a, b) + rest) if (a, b) + rest != tuple(range(nd)) else x
    s = shape_of(x)
    d = rules.getitem(x, idx=_diag_index(s[0], s[1], int(offset)))
    return rules.transpose(d, axes=(*range(1, nd - 1), 0)) if nd > 2 else d


@public(numpy=np.diag)
def diag(x: Any, k: int = 0) -> Any:
    """A 2-D array's ``k``-th diagonal, or a 2-D array with a 1-D array on it, like ``np.diag``."""
    s = shape_of(x)
    if len(s) == 2:
        return diagonal(x, k)
    if len(s) != 1:
        raise ValueError("diag: input must be 1-D or 2-D")
    n = s[0] + builtins.abs(int(k))
    rows = np.arange(s[0]) + builtins.max(0, -int(k))
    return rules.index_add(x, idx=(rows, rows + int(k)), shape=(n, n))


@public(numpy=np.trace)
def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """Sum of a diagonal like ``np.trace``."""
    return rules.sum_(diagonal(x, offset, axis1, axis2), axes=(_ndim(x) - 2,), keepdims=False)


def _tri_mask(s: tuple[int, ...], k: int, lower: bool) -> np.ndarray:
    m = np.tri(s[-2], s[-1], k=k if lower else k - 1, dtype=bool)
    return m if lower else ~m


@public(numpy=np.tril)
def tril(x: Any, k: int = 0) -> Any:
    """Lower triangle like ``np.tril`` (derived: ``where`` with a constant mask)."""
    return rules.where(_tri_mask(shape_of(x), int(k), True), x, 0.0)


@public(numpy=np.triu)
def triu(x: Any, k: int = 0) -> Any:
    """Upper triangle like ``np.triu`` (derived: ``where`` with a constant mask)."""
    return rules.where(_tri_mask(shape_of(x), int(k), False), x, 0.0)


def _as_arrays(arrays: Sequence[Any]) -> list[Any]:
    return [a if isinstance(a, Traced) else num_float(a) for a in arrays]


@public(numpy=np.vstack)
def vstack(arrays: Sequence[Any]) -> Any:
    """Stack along axis 0 after ``atleast_2d``, like ``np.vstack``."""
    return rules.concatenate(*[_atleast(a, 2) for a in _as_arrays(arrays)], axis=0)


@public(numpy=np.hstack)
def hstack(arrays: Sequence[Any]) -> Any:
    """Stack along axis 1 (axis 0 for 1-D inputs) after ``atleast_1d``, like ``np.hstack``."""
    arrays = [_atleast(a, 1) for a in _as_arrays(arrays)]
    return rules.concatenate(*arrays, axis=0 if _ndim(arrays[0]) == 1 else 1)


@public(numpy=np.dstack)
def dstack(arrays: Sequence[Any]) -> Any:
    """Stack along axis 2 after ``atleast_3d``, like ``np.dstack``."""
    return rules.concatenate(*[_atleast(a, 3) for a in _as_arrays(arrays)], axis=2)


@public(numpy=np.column_stack)
def column_stack(arrays: Sequence[Any]) -> Any:
    """1-D inputs become columns, like ``np.column_stack``."""
    arrays = [rules.reshape(a, shape=(*shape_of(a), 1)) if _ndim(a) < 2 else a for a in _as_arrays(arrays)]
    return rules.concatenate(*arrays, axis=1)


@public(numpy=np.append)
def append(x: Any, values: Any, axis: int | None = None) -> Any:
    """``np.append``: join ``values`` after ``x`` (both flattened when ``axis`` is None)."""
    x, values = _as_arrays([x, values])
    if axis is None:
        return rules.concatenate(ravel(x), ravel(values), axis=0)
    return concatenate([x, values], axis=axis)


def _split_points(n: int, sections: Any, strict: bool) -> list[int]:
    if isinstance(sections, (int, np.integer)):
        k = int(sections)
        if k <= 0:
            raise ValueError("number sections must be larger than 0.")
        if strict and n % k:
            raise ValueError("array split does not result in an equal division")
        size, extra = divmod(n, k)
        sizes = [size + 1] * extra + [size] * (k - extra)
        return [0, *np.cumsum(sizes).tolist()]
    return [0, *[int(i) for i in sections], n]


def _split(x: Any, sections: Any, axis: int, strict: bool) -> list[Any]:
    nd = _ndim(x)
    axis = _axes(axis, nd)[0]
    n = shape_of(x)[axis]
    points = _split_points(n, sections, strict)
    return [
        rules.getitem(
            x, idx=_axis_index(nd, axis, slice(builtins.min(a, n), builtins.min(builtins.max(a, b), n)))
        )
        for a, b in itertools.pairwise(points)
    ]


@public(numpy=np.split)
def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into equal sections or at indices, like ``np.split`` (derived: slices)."""
    return _split(x, indices_or_sections, axis, strict=True)


@public(numpy=np.array_split)
def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split into nearly equal sections, like ``np.array_split``."""
    return _split(x, indices_or_sections, axis, strict=False)


@public(numpy=np.vsplit)
def vsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    """``np.split`` along axis 0."""
    return _split(x, indices_or_sections, 0, strict=True)


@public(numpy=np.hsplit)
def hsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    """``np.split`` along axis 1 (axis 0 for 1-D arrays)."""
    return _split(x, indices_or_sections, 1 if _ndim(x) > 1 else 0, strict=True)


@public(numpy=np.dsplit)
def dsplit(x: Any, indices_or_sections: Any) -> list[Any]:
    """``np.split`` along axis 2."""
    return _split(x, indices_or_sections, 2, strict=True)


@public(numpy=np.pad)
def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Any:
    """Pad like ``np.pad`` in modes constant, edge, reflect, symmetric and wrap.

    Derived: a gather of source indices (``np.pad`` applied to ``arange``) for the copying modes;
    the constant mode scatters ``x`` into the middle of a constant array.
    """
    nd = _ndim(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int), (nd, 2))
    s = shape_of(x)
    if mode == "constant":
        if np.ndim(constant_values):
            raise ValueError("pad: constant_values must be one number on engine values")
        shape = tuple(d + int(a) + int(b) for d, (a, b) in zip(s, widths))
        inner = tuple(slice(int(a), int(a) + d) for d, (a, _) in zip(s, widths))
        y = rules.index_add(x, idx=inner, shape=shape)
        if constant_values:
            y = rules.add(
                y,
                np.where(
                    np.pad(np.zeros(s, dtype=bool), widths, constant_values=True), float(constant_values), 0.0
                ),
            )
        return y
    if mode not in ("edge", "reflect", "symmetric", "wrap"):
        raise ValueError(
            f"pad: mode {mode!r} is not supported on engine values (constant, edge, reflect, symmetric, wrap)"
        )
    for ax in range(nd):
        a, b = (int(w) for w in widths[ax])
        if a or b:
            src = np.pad(np.arange(shape_of(x)[ax]), (a, b), mode=mode)
            x = rules.getitem(x, idx=_axis_index(nd, ax, src))
    return x


@public(numpy=np.take)
def take(x: Any, indices: Any, axis: int | None = None) -> Any:
    """``np.take``: entries at ``indices`` (of the flattened array when ``axis`` is None)."""
    if axis is None:
        x, axis = ravel(x), 0
    axis = _axes(axis, _ndim(x))[0]
    return rules.getitem(x, idx=_axis_index(_ndim(x), axis, np.asarray(indices)))


@public(numpy=np.take_along_axis)
def take_along_axis(x: Any, indices: Any, axis: int | None) -> Any:
    """``np.take_along_axis`` (derived: an advanced-index gather)."""
    if axis is None:
        x, axis = ravel(x), 0
    nd = _ndim(x)
    axis = _axes(axis, nd)[0]
    idx = np.asarray(indices)
    grids = np.ogrid[tuple(slice(n) for n in idx.shape)]
    full = tuple(idx if i == axis else np.broadcast_to(grids[i], idx.shape) for i in range(nd))
    return rules.getitem(x, idx=full)


@public(numpy=np.sort)
def sort(x: Any, axis: int | None = -1, kind: Any = None, order: Any = None, *, stable: Any = None) -> Any:
    """Sorted copy like ``np.sort`` (the ``sort`` primitive: a gather by the stable permutation).

    Each output entry's derivative is that of the input entry that lands there; tied entries keep
    their input order (a stable sort), so the derivative is defined at ties too.
    """
    if order is not None:
        raise TypeError("sort: order= (structured arrays) is not supported on engine values")
    x = _value(x)
    if axis is None:
        x, axis = ravel(x), 0
    return rules.sort(x, axis=_axes(axis, _ndim(x))[0], kth=None)


@public(numpy=np.partition)
def partition(x: Any, kth: Any, axis: int = -1, kind: str = "introselect", order: Any = None) -> Any:
    """``np.partition`` (the ``sort`` primitive with ``kth``: a gather by ``argpartition``)."""
    if order is not None:
        raise TypeError("partition: order= is not supported on engine values")
    x = _value(x)
    if axis is None:
        x, axis = ravel(x), 0
    kth = int(kth) if isinstance(kth, (int, np.integer)) else tuple(int(k) for k in kth)
    return rules.sort(x, axis=_axes(axis, _ndim(x))[0], kth=kth)


@public(numpy=np.diff)
def diff(x: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    """``n``-th differences along ``axis`` like ``np.diff`` (derived: slices and ``sub``)."""
    nd = _ndim(x)
    axis = _axes(axis, nd)[0]
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        s = shape_of(x)
        parts = [
            p
            if p is x
            else rules.broadcast_to(
                num_float(p) if not isinstance(p, Traced) else p,
                shape=s[:axis] + (shape_of(p)[axis] if _ndim(p) == nd else 1,) + s[axis + 1 :],
            )
            for p in parts
        ]
        x = rules.concatenate(*parts, axis=axis)
    for _ in range(int(n)):
        m = shape_of(x)[axis]
        x = rules.sub(
            rules.getitem(x, idx=_axis_index(nd, axis, slice(1, m))),
            rules.getitem(x, idx=_axis_index(nd, axis, slice(0, m - 1))),
        )
    return x


@public(numpy=np.gradient)
def gradient(x: Any, *varargs: Any, axis: int | Sequence[int] | None = None, edge_order: int = 1) -> Any:
    """``np.gradient`` with scalar spacings and ``edge_order=1``: central differences inside,
    one-sided at the edges (derived: slices)."""
    nd = _ndim(x)
    axes = _axes(axis, nd) if axis is not None else tuple(range(nd))
    if isinstance(axis, (int, np.integer)):
        axes = (_axes(axis, nd)[0],)
    if edge_order != 1:
        raise NotImplementedError("gradient: only edge_order=1 is supported on engine values")
    spacing = (
        list(varargs) if len(varargs) > 1 else list(varargs) * len(axes) if varargs else [1.0] * len(axes)
    )
    out = []
    for ax, h in zip(axes, spacing):
        if np.ndim(h):
            raise NotImplementedError("gradient: only scalar spacings are supported on engine values")
        m = shape_of(x)[ax]
        if m < 2:
            raise ValueError("gradient: an axis needs at least 2 entries (edge_order + 1)")

        def g(a: int, b: int, ax: int = ax) -> Any:
            return rules.getitem(x, idx=_axis_index(nd, ax, slice(a, b)))

        h = float(h)
        first = rules.div(rules.sub(g(1, 2), g(0, 1)), h)
        last = rules.div(rules.sub(g(m - 1, m), g(m - 2, m - 1)), h)
        parts = [first]
        if m > 2:
            parts.append(rules.div(rules.sub(g(2, m), g(0, m - 2)), 2.0 * h))
        parts.append(last)
        out.append(rules.concatenate(*parts, axis=ax))
    return out[0] if len(out) == 1 else out


@public(numpy=np.clip)
def clip(x: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any) -> Any:
    """``np.clip`` (derived: ``minimum(maximum(x, a_min), a_max)``).

    At a bound the derivative splits 0.5 / 0.5 between ``x`` and the bound, the tie convention of
    ``maximum`` and ``minimum``; bounds may be engine values too.
    """
    _keep("clip", out=out)
    a_min = kwargs.pop("min", a_min)
    a_max = kwargs.pop("max", a_max)
    if kwargs:
        raise TypeError(f"clip: unexpected arguments {sorted(kwargs)}")
    if a_min is not None:
        x = rules.maximum(x, a_min)
    if a_max is not None:
        x = rules.minimum(x, a_max)
    return x


@public(numpy=np.select)
def select(condlist: Sequence[Any], choicelist: Sequence[Any], default: Any = 0.0) -> Any:
    """``np.select``: the first choice whose condition holds (derived: nested ``where``)."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    out = default
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = where(c, v, out)
    return out


# ------------------------------------------------------------------ linear algebra (issue 12)


def _square_matrices(a: Any, name: str) -> None:
    s = shape_of(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise np.linalg.LinAlgError(f"{name}: last 2 dimensions of the array must be square, got shape {s}")


@public(numpy=np.linalg.inv)
def inv(a: Any) -> Any:
    """Matrix inverse (batched over leading axes), like ``np.linalg.inv``."""
    _square_matrices(a, "inv")
    return rules.inv(a)


@public(numpy=np.linalg.solve)
def solve(a: Any, b: Any) -> Any:
    """Solve ``a x = b`` like ``np.linalg.solve`` (``b`` a vector when 1-D, else matrices)."""
    _square_matrices(a, "solve")
    if _ndim(b) == 1:
        return rules.reshape(rules.solve(a, rules.reshape(b, shape=(shape_of(b)[0], 1))), shape=shape_of(b))
    return rules.solve(a, b)


@public(numpy=np.linalg.det)
def det(a: Any) -> Any:
    """Determinant like ``np.linalg.det``; its derivative ``det(a) a^-T`` needs a non-singular ``a``."""
    _square_matrices(a, "det")
    return rules.det(a)


@public(numpy=np.linalg.slogdet)
def slogdet(a: Any) -> tuple[Any, Any]:
    """``(sign, log|det a|)`` like ``np.linalg.slogdet``; the sign is a constant (derivative 0)."""
    _square_matrices(a, "slogdet")
    return (rules.detsign(a), rules.logabsdet(a))


@public(numpy=np.linalg.cholesky)
def cholesky(a: Any, upper: bool = False) -> Any:
    """Lower Cholesky factor like ``np.linalg.cholesky`` (it reads the lower triangle of ``a``)."""
    _square_matrices(a, "cholesky")
    if upper:
        raise NotImplementedError("cholesky: upper=True is not supported on engine values; use .T")
    return rules.cholesky(a)


class EighResult(tuple):
    """``(eigenvalues, eigenvectors)``, also readable as ``.eigenvalues`` / ``.eigenvectors``."""

    __slots__ = ()

    @property
    def eigenvalues(self) -> Any:
        return self[0]

    @property
    def eigenvectors(self) -> Any:
        return self[1]


@public(numpy=np.linalg.eigh)
def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices, like ``np.linalg.eigh``.

    Only the lower triangle is read (UPLO='L'); eigenvectors of a repeated eigenvalue are not
    differentiable (their derivative is inf/nan), eigenvalues alone are (use ``eigvalsh``).
    """
    _square_matrices(a, "eigh")
    if UPLO != "L":
        raise NotImplementedError("eigh: only UPLO='L' is supported on engine values")
    packed = rules.eigh(a)
    nd = _ndim(packed)
    lead = (slice(None),) * (nd - 2)
    return EighResult(
        (rules.getitem(packed, idx=(*lead, 0)), rules.getitem(packed, idx=(*lead, slice(1, None))))
    )


@public(numpy=np.linalg.eigvalsh)
def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) of symmetric matrices, like ``np.linalg.eigvalsh`` (lower triangle)."""
    _square_matrices(a, "eigvalsh")
    if UPLO != "L":
        raise NotImplementedError("eigvalsh: only UPLO='L' is supported on engine values")
    return rules.eigvalsh(a)


@public(numpy=np.linalg.svd)
def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    """Singular values (``compute_uv=False``), decreasing, like ``np.linalg.svd``.

    The singular vectors U, V are not supported on engine values (a TypeError says so); a zero or
    repeated singular value has no derivative (nan).
    """
    if compute_uv:
        raise TypeError(
            "numpy.linalg.svd with compute_uv=True is not supported on engine values: only the "
            "singular values are (np.linalg.svd(a, compute_uv=False)); for symmetric matrices use eigh"
        )
    if _ndim(a) < 2:
        raise np.linalg.LinAlgError("svd: the array must have at least 2 dimensions")
    return rules.svdvals(a)


@public(numpy=np.linalg.pinv)
def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:
    """Pseudo-inverse of a matrix of full rank, like ``np.linalg.pinv``.

    Derived: ``(a^T a)^-1 a^T`` for a tall matrix, ``a^T (a a^T)^-1`` for a wide one (solves, not
    explicit inverses); both equal NumPy's SVD-based pinv when ``a`` has full rank, and the
    pseudo-inverse is differentiable only where the rank does not change.
    """
    if _ndim(a) < 2:
        raise np.linalg.LinAlgError("pinv: the array must have at least 2 dimensions")
    m, n = shape_of(a)[-2:]
    rank = np.linalg.matrix_rank(primal(a))
    if np.any(rank < builtins.min(m, n)):
        raise NotImplementedError("pinv: only matrices of full rank are supported on engine values")
    at = rules.swap_last(a)
    if m >= n:
        return rules.solve(rules.matmul(at, a), at)
    return rules.swap_last(rules.solve(rules.matmul(a, at), a))


def _vector_norm(x: Any, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Any:  # noqa: A002
    if ord is None or ord == 2:
        return _flat_root(rules.sum_(rules.square(x), axes=axes, keepdims=keepdims))
    if ord == np.inf:
        return rules.amax(rules.absolute(x), axes=axes, keepdims=keepdims)
    if ord == -np.inf:
        return rules.amin(rules.absolute(x), axes=axes, keepdims=keepdims)
    if ord == 0:  # the count of non-zero entries, from primitives (a replay recounts): derivative 0
        return rules.sum_(rules.sign(rules.absolute(x)), axes=axes, keepdims=keepdims)
    if ord == 1:
        return rules.sum_(rules.absolute(x), axes=axes, keepdims=keepdims)
    p = float(ord)
    return rules.power(rules.sum_(rules.power(rules.absolute(x), p), axes=axes, keepdims=keepdims), 1.0 / p)


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, int], keepdims: bool) -> Any:  # noqa: A002
    r, c = axes
    if ord in (None, "fro"):
        out = _flat_root(rules.sum_(rules.square(x), axes=tuple(sorted(axes)), keepdims=True))
    elif ord in (1, -1, np.inf, -np.inf):
        inner_axis, outer_axis = (r, c) if ord in (1, -1) else (c, r)
        s = rules.sum_(rules.absolute(x), axes=(inner_axis,), keepdims=True)
        pick = rules.amax if ord in (1, np.inf) else rules.amin
        out = pick(s, axes=(outer_axis,), keepdims=True)
    elif ord in (2, -2, "nuc"):
        nd = _ndim(x)
        rest = tuple(i for i in range(nd) if i not in axes)
        sv = rules.svdvals(rules.transpose(x, axes=(*rest, r, c)))
        last = (_ndim(sv) - 1,)
        if ord == "nuc":
            sv = rules.sum_(sv, axes=last, keepdims=False)
        else:
            sv = (rules.amax if ord == 2 else rules.amin)(sv, axes=last, keepdims=False)
        shape = list(shape_of(x))
        shape[r] = shape[c] = 1
        out = rules.reshape(sv, shape=tuple(shape))
    else:
        raise ValueError(f"Invalid norm order {ord!r} for matrices")
    if keepdims:
        return out
    return rules.reshape(out, shape=tuple(d for i, d in enumerate(shape_of(out)) if i not in axes))


@public(numpy=np.linalg.norm)
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector and matrix norms like ``np.linalg.norm`` (every ``ord``, ``axis`` and ``keepdims``).

    At ``x = 0`` the 2-norm (and the Frobenius norm) has derivative 0: the kink takes the
    subgradient 0, like ``abs'(0)`` (see :func:`_flat_root`).
    ``ord=0`` counts non-zero entries: a constant, derivative 0.
    """
    x = _value(x)
    nd = _ndim(x)
    if axis is None:
        if ord is None:
            out = _flat_root(rules.sum_(rules.square(x), axes=tuple(range(nd)), keepdims=bool(keepdims)))
            return out
        if nd == 1:
            axis = 0
        elif nd == 2:
            axis = (0, 1)
        else:
            raise ValueError("Improper number of dimensions to norm.")
    if isinstance(axis, (int, np.integer)):
        return _vector_norm(x, ord, _axes(axis, nd), bool(keepdims))
    axes = tuple(int(a) % nd for a in axis)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes, bool(keepdims))
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ValueError("Improper number of dimensions to norm.")
    return _matrix_norm(x, ord, axes, bool(keepdims))


# ------------------------------------------------------- more of what people write (issue 12)


@public(numpy=np.cumprod)
def cumprod(x: Any, axis: int | None = None, dtype: Any = None, out: Any = None) -> Any:
    """Cumulative product like ``np.cumprod`` (derived: a prefix scan of pairwise products).

    ``log2(n)`` rounds of ``y[i] *= y[i - k]`` (k = 1, 2, 4, ...): every derivative is a product of
    other entries, exact at zeros and negatives (``exp(cumsum(log))`` would be neither), and it nests.
    """
    _keep("cumprod", out=out, dtype=None if dtype in (None, float) else dtype)
    x = _value(x)
    if axis is None:
        x, axis = ravel(x), 0
    nd = _ndim(x)
    axis = _axes(axis, nd)[0]
    s = shape_of(x)
    n, k = s[axis], 1
    while k < n:
        ones = np.ones(s[:axis] + (k,) + s[axis + 1 :])
        x = rules.mul(
            x,
            rules.concatenate(ones, rules.getitem(x, idx=_axis_index(nd, axis, slice(0, n - k))), axis=axis),
        )
        k *= 2
    return x


@public(numpy=np.average)
def average(
    x: Any, axis: Any = None, weights: Any = None, returned: bool = False, *, keepdims: bool = False
) -> Any:
    """Weighted mean like ``np.average`` (derived); weights may be engine values too."""
    x = _value(x)
    if weights is None:
        avg = mean(x, axis=axis, keepdims=keepdims)
        count = float(np.prod(shape_of(x))) / float(np.prod(shape_of(avg)) if _ndim(avg) else 1.0)
        return (
            (avg, rules.broadcast_to(count, shape=shape_of(avg)) if _ndim(avg) else count)
            if returned
            else avg
        )
    w = weights if isinstance(weights, Traced) else num_float(weights)
    if shape_of(w) != shape_of(x):
        if axis is None or _ndim(w) != 1:
            raise TypeError("average: axis must be given when the shapes of a and weights differ")
        ax = _axes(axis, _ndim(x))[0]
        w = rules.reshape(w, shape=tuple(shape_of(w)[0] if i == ax else 1 for i in range(_ndim(x))))
    total = sum(
        rules.broadcast_to(w, shape=shape_of(x)) if shape_of(w) != shape_of(x) else w,
        axis=axis,
        keepdims=keepdims,
    )
    avg = rules.div(sum(rules.mul(x, w), axis=axis, keepdims=keepdims), total)
    return (avg, total) if returned else avg


def _derived(source: Any, fn: Any) -> Any:
    """``fn(primal(source))``, a constant operand; a compiled replay recomputes it (modes.guard)."""
    obj = fn(primal(source))
    if OBSERVERS and isinstance(source, Traced):
        guard.derived(source, obj, fn)
    return obj


def _finite_or(x: Any, fill: float) -> Any:
    return rules.where(_derived(x, np.isnan), fill, x)


@public(numpy=np.nansum)
def nansum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """Sum ignoring nans, like ``np.nansum`` (a nan entry has derivative 0)."""
    _keep("nansum", out=out, dtype=None if dtype in (None, float) else dtype)
    return sum(_finite_or(_value(x), 0.0), axis=axis, keepdims=keepdims)


@public(numpy=np.nanmean)
def nanmean(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """Mean ignoring nans, like ``np.nanmean``."""
    _keep("nanmean", out=out, dtype=None if dtype in (None, float) else dtype)
    x = _value(x)
    axes = None if axis is None else _axes(axis, _ndim(x))
    count = _derived(x, lambda v: num_float(np.sum(~np.isnan(v), axis=axes, keepdims=keepdims)))
    return rules.div(nansum(x, axis=axis, keepdims=keepdims), count)


@public(numpy=np.nanmax)
def nanmax(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """Largest entry ignoring nans, like ``np.nanmax`` (ties split evenly)."""
    _keep("nanmax", out=out)
    return max_(_finite_or(_value(x), -np.inf), axis=axis, keepdims=keepdims)


@public(numpy=np.nanmin)
def nanmin(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """Smallest entry ignoring nans, like ``np.nanmin`` (ties split evenly)."""
    _keep("nanmin", out=out)
    return min_(_finite_or(_value(x), np.inf), axis=axis, keepdims=keepdims)


@public(numpy=np.convolve)
def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """1-D convolution like ``np.convolve`` (derived: the outer product scattered onto i + j)."""
    a = a if isinstance(a, Traced) else num_float(a)
    v = v if isinstance(v, Traced) else num_float(v)
    if _ndim(a) != 1 or _ndim(v) != 1:
        raise ValueError("convolve: both inputs must be 1-D")
    n, m = shape_of(a)[0], shape_of(v)[0]
    if n == 0 or m == 0:
        raise ValueError("convolve: inputs cannot be empty")
    full = rules.index_add(outer(a, v), idx=np.add.outer(np.arange(n), np.arange(m)), shape=(n + m - 1,))
    if mode == "full":
        return full
    long, short = builtins.max(n, m), builtins.min(n, m)
    if mode == "same":
        start = (short - 1) // 2
        return rules.getitem(full, idx=slice(start, start + long))
    if mode == "valid":
        return rules.getitem(full, idx=slice(short - 1, long))
    raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")


@public(numpy=np.correlate)
def correlate(a: Any, v: Any, mode: str = "valid") -> Any:
    """1-D cross-correlation of real arrays like ``np.correlate`` (derived: ``convolve``, ``v`` reversed)."""
    v = v if isinstance(v, Traced) else num_float(v)
    if shape_of(a)[0] < shape_of(v)[0]:  # NumPy swaps and reverses the result in this case
        return flip(convolve(v, flip(a), mode), 0)
    return convolve(a, flip(v), mode)


@public(numpy=np.linalg.matrix_power)
def matrix_power(a: Any, n: int) -> Any:
    """``a`` to the integer power ``n`` like ``np.linalg.matrix_power`` (repeated squaring; n < 0 inverts)."""
    _square_matrices(a, "matrix_power")
    n = int(n)
    if n < 0:
        a, n = rules.inv(a), -n
    if n == 0:
        return np.broadcast_to(np.eye(shape_of(a)[-1]), shape_of(a)).copy()
    result = None
    while n:
        if n & 1:
            result = a if result is None else rules.matmul(result, a)
        n >>= 1
        if n:
            a = rules.matmul(a, a)
    return result


@public(numpy=np.linalg.multi_dot)
def multi_dot(arrays: Sequence[Any], *, out: Any = None) -> Any:
    """``np.linalg.multi_dot``: the product of a chain, left to right (1-D ends as vectors)."""
    _keep("multi_dot", out=out)
    arrays = list(arrays)
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    result = arrays[0]
    for x in arrays[1:]:
        result = dot(result, x)
    return result


@public(numpy=np.linalg.vector_norm)
def vector_norm(x: Any, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:  # noqa: A002
    """``np.linalg.vector_norm`` (NumPy 2): a vector norm over ``axis`` (all axes by default)."""
    x = _value(x)
    axes = _axes(axis, _ndim(x))
    return _vector_norm(x, None if ord == 2 else ord, axes, bool(keepdims))


@public(numpy=np.linalg.matrix_norm)
def matrix_norm(x: Any, *, keepdims: bool = False, ord: Any = "fro") -> Any:  # noqa: A002
    """``np.linalg.matrix_norm`` (NumPy 2): a matrix norm of the last two axes."""
    nd = _ndim(x)
    return _matrix_norm(_value(x), ord, (nd - 2, nd - 1), bool(keepdims))


# The primitives declared public in the rule table become this module's names too.
globals().update({name: e.fn for name, e in registry.PUBLIC.items() if name not in globals()})

__all__ = sorted(registry.PUBLIC)
