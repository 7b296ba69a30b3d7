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
    size = int(np.prod(shape_of(x)))
    if shape.count(-1) == 1:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != size or any(s < 0 for s in shape):
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
def tensordot(a: Any, b: Any, axes: int = 2) -> Any:
    """Contract the last ``axes`` axes of ``a`` with the first ``axes`` of ``b``."""
    return rules.tensordot(a, b, axes=int(axes))


@public(numpy=np.matmul)
def matmul(a: Any, b: Any) -> Any:
    """Matrix product of 1-D and 2-D operands, like ``a @ b`` (derived from ``tensordot``)."""
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        raise ValueError("matmul: scalar operands are not allowed, use '*'")
    if na > 2 or nb > 2:
        raise NotImplementedError("matmul of arrays with more than 2 dimensions is not supported")
    if shape_of(a)[-1] != shape_of(b)[0]:
        raise ValueError(f"matmul: shapes {shape_of(a)} and {shape_of(b)} do not align")
    return rules.tensordot(a, b, axes=1)


@public(numpy=np.dot)
def dot(a: Any, b: Any) -> Any:
    """``np.dot`` for operands of at most 2 dimensions (a scalar operand multiplies)."""
    if _ndim(a) == 0 or _ndim(b) == 0:
        return rules.mul(a, b)
    return matmul(a, b)


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
        out[pos : pos + 1] = [slice(None)] * max(ndim - used, 0)
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
    p = primal(x)
    replaced = np.nan_to_num(p, nan=nan, posinf=posinf, neginf=neginf)
    return rules.where(np.isfinite(p), x, num_float(replaced))


def num_float(a: Any) -> Any:
    """A NumPy result as the engines' plain type (0-d arrays become floats)."""
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


# The primitives declared public in the rule table become this module's names too.
globals().update({name: e.fn for name, e in registry.PUBLIC.items() if name not in globals()})

__all__ = sorted(registry.PUBLIC)
