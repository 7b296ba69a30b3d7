"""What every engine value can do: Python operators, NumPy's dispatch protocols, array attributes.

Dual numbers (``modes/forward.py``) and tape variables (``modes/reverse.py``) both inherit this;
they differ only in how a primitive is applied (their trace's ``process``). Operators route to the
primitives of ``modes/rules.py``; comparisons act on primal values and return plain booleans;
``np.sin(v)``, ``W @ v`` and ``np.sum(v)`` reach the same primitives through ``__array_ufunc__`` and
``__array_function__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from modes import guard, ops, registry, rules
from modes.core import DerivativeDropError, Operand, Traced, primal, shape_of
from modes.guard import OBSERVERS
from modes.numeric import MATH_ERRORS as _MATH_ERRORS

_DROP = (
    "{}() would drop the derivative of this engine value; read its value explicitly with "
    "modes.primal(v) if that is what you want"
)


def _compare(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    r = ufunc(primal(a), primal(b))
    r = bool(r) if isinstance(r, np.bool_) else r
    if OBSERVERS:  # a modes.compile recording is running: its branch guard notes the outcome
        guard.compared(ufunc, a, b, r)
    return r


#: Comparisons act on primal values and return plain booleans (no derivative flows through them).
_COMPARISONS: dict[Any, Any] = {
    u: (lambda a, b, _u=u: _compare(_u, a, b))
    for u in (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)
}

#: Predicates read primal values and return plain booleans, like comparisons.
_COMPARISONS.update(
    {u: (lambda x, _u=u: _u(primal(x))) for u in (np.isnan, np.isfinite, np.isinf, np.signbit)}
)

#: Queries of an engine value's structure (no derivative involved).
_QUERIES: dict[Any, Any] = {
    np.shape: shape_of,
    np.ndim: lambda x: len(shape_of(x)),
    np.size: lambda x: int(np.prod(shape_of(x))),
}


_MODULUS = (
    "pow(x, y, mod) is not supported on engine values: modular exponentiation is integer "
    "arithmetic and has no derivative; write x ** y"
)


def _reader(fn: Any) -> Any:
    """A NumPy function answering with indices or booleans, read on primal values (no derivative).

    The read goes through :func:`modes.guard.primal`, like ``modes.primal(v)``: a compiled tape
    re-checks it, since what ``f`` does with an index cannot be replayed.
    """

    def read(*args: Any, **kwargs: Any) -> Any:
        return fn(*(guard.primal(a) if isinstance(a, Traced) else a for a in args), **kwargs)

    return read


_INDEX_READS = (np.argsort, np.argmax, np.argmin, np.argpartition, np.nonzero, np.flatnonzero, np.argwhere)
_INDEX_READS += (np.count_nonzero, np.searchsorted, np.any, np.all, np.isclose, np.allclose, np.array_equal)
_INDEX_READS += (np.digitize,)
_QUERIES.update({fn: _reader(fn) for fn in _INDEX_READS})


#: The parameters of a binary operator's primitive call: none (never written to).
_NO_PARAMS: dict[str, Any] = {}


def _partial_kind(rule: Any) -> int:
    """How the scalar fast path obtains a binary primitive's partial (see :func:`_operator`)."""
    if type(rule) is float:
        return 0
    if isinstance(rule, Operand):
        return {0: 1, 1: 2, -1: 3, 2: 3}[rule.position]
    return 4


def float_plan(prim: Any, reflected: bool) -> tuple | None:
    """How a binary operator computes ``prim`` and its local partials on two floats, from the rule table.

    ``(scalar, impl, (kc, rc, ic), (k0, r0), (k1, r1))``: ``scalar`` is the kernel's float path
    (``math.pow``, ``operator.mul``...: a float it refuses, such as ``log(-1)`` or an overflow,
    goes to ``impl``, the kernel, which answers as NumPy does); ``k0, r0`` and ``k1, r1`` say how
    each argument's partial is had (kind 0: the constant ``r``; 1: argument x; 2: argument y;
    3: the output; 4: a call ``r(x, y, out)``); ``kc, rc, ic`` the same for the engine operand
    beside a constant, at argument position ``ic``. ``None``: the primitive has no float rule
    for both arguments (its operator goes to the general path, which names what is missing).
    Both engines' float paths read this, so the partials come from one declaration.
    """
    rules_ = prim.partials
    r0, r1 = rules_ if rules_ is not None and len(rules_) == 2 else (None, None)
    if r0 is None or r1 is None:
        return None
    k0, k1 = _partial_kind(r0), _partial_kind(r1)
    # the kernel's float path (math.pow, math.sin...), called without the kernel's frame
    scalar = getattr(prim.impl, "scalar", prim.impl)
    beside = (k1, r1, 1) if reflected else (k0, r0, 0)
    return scalar, prim.impl, beside, (k0, r0), (k1, r1)


def _operator(prim: Any, reflected: bool) -> Any:
    """A binary operator method for engine values: the scalar fast path of the engines.

    When both operands are plain floats at this level (a value of this trace holding a float, and
    a float or int constant or another such value) the operator evaluates the primitive and its
    local partials itself (:func:`float_plan`) and hands the engine only what differs between
    them: ``trace.scalar1(prim, out, v, d, c, i)`` (one engine operand ``v``, argument ``i``,
    beside the constant ``c``) or ``trace.scalar2(prim, out, a, da, b, db)``. A forward trace
    multiplies the partials into tangents; a tape records one instruction (a plain tape's
    variables have operators of their own that record inline, ``modes/reverse.py``, and come
    here for everything else). Anything else (arrays, nesting, other engines, a non-float
    result, a finished trace) goes to a trace's general ``process``: this value's own when it is
    the innermost among the operands (the other is a constant or a value of the same trace),
    else through the primitive, which finds the innermost trace. A trace takes the fast path
    only while its ``fast`` flag is set (forward passes and tapes, while active). ``mod`` is
    Python's third ``pow`` argument: only ``pow(x, y, mod)`` passes it, to be refused by name.
    """
    plan = float_plan(prim, reflected)
    if plan is None:  # no scalar rule: the primitive reports what is missing

        def general(self: Any, o: Any) -> Any:
            return prim(o, self) if reflected else prim(self, o)

        general.__name__ = f"__{'r' if reflected else ''}{prim.name}__"
        return general
    scalar, impl, (kc, rc, ic), (k0, r0), (k1, r1) = plan

    def op(self: Any, o: Any, mod: Any = None) -> Any:
        if mod is not None:
            raise TypeError(_MODULUS)
        tr = self._trace
        t = type(o)
        if not tr.fast:
            pass
        elif t is float or t is int:
            if t is int:
                o = float(o)
            v = self.value
            if type(v) is float:
                if reflected:
                    x = o
                    y = v
                else:
                    x = v
                    y = o
                try:
                    out = scalar(x, y)
                except _MATH_ERRORS:
                    out = impl(x, y)
                if type(out) is float:
                    if kc == 0:
                        d = rc
                    elif kc == 1:
                        d = x
                    elif kc == 2:
                        d = y
                    elif kc == 3:
                        d = out
                    else:
                        d = rc(x, y, out)
                    return tr.scalar1(prim, out, self, d, o, ic)
        elif t is type(self) and o._trace is tr:  # never reflected: Python tries self's type first
            v = self.value
            w = o.value
            if type(v) is float and type(w) is float:
                try:
                    out = scalar(v, w)
                except _MATH_ERRORS:
                    out = impl(v, w)
                if type(out) is float:
                    if k0 == 0:
                        d0 = r0
                    elif k0 == 2:
                        d0 = w
                    elif k0 == 1:
                        d0 = v
                    else:
                        d0 = out if k0 == 3 else r0(v, w, out)
                    if k1 == 0:
                        d1 = r1
                    elif k1 == 1:
                        d1 = v
                    elif k1 == 2:
                        d1 = w
                    else:
                        d1 = out if k1 == 3 else r1(v, w, out)
                    return tr.scalar2(prim, out, self, d0, o, d1)
        if t is np.ndarray or t is float or t is int or (t is type(self) and o._trace is tr):
            # this trace is the innermost among the operands: bind the primitive to it directly
            return tr.process(prim, (o, self) if reflected else (self, o), _NO_PARAMS)
        return prim(o, self) if reflected else prim(self, o)

    op.__name__ = f"__{'r' if reflected else ''}{prim.name}__"
    return op


class EngineValue(Traced):
    """Operators and array behaviour shared by both engines' values."""

    __slots__ = ()
    value: Any

    # -- arithmetic: see _operator ----------------------------------------------------------
    __add__ = _operator(rules.add, reflected=False)
    __radd__ = _operator(rules.add, reflected=True)
    __sub__ = _operator(rules.sub, reflected=False)
    __rsub__ = _operator(rules.sub, reflected=True)
    __mul__ = _operator(rules.mul, reflected=False)
    __rmul__ = _operator(rules.mul, reflected=True)
    __truediv__ = _operator(rules.div, reflected=False)
    __rtruediv__ = _operator(rules.div, reflected=True)
    __pow__ = _operator(rules.power, reflected=False)
    __rpow__ = _operator(rules.power, reflected=True)
    __mod__ = _operator(rules.remainder, reflected=False)
    __rmod__ = _operator(rules.remainder, reflected=True)

    def __matmul__(self, o: Any) -> Any:
        return ops.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return ops.matmul(o, self)

    def __neg__(self) -> Any:
        return rules.neg(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return rules.absolute(self)

    # -- comparisons: on primal values, plain booleans -----------------------------------------
    def __lt__(self, o: Any) -> Any:
        return _compare(np.less, self, o)

    def __le__(self, o: Any) -> Any:
        return _compare(np.less_equal, self, o)

    def __gt__(self, o: Any) -> Any:
        return _compare(np.greater, self, o)

    def __ge__(self, o: Any) -> Any:
        return _compare(np.greater_equal, self, o)

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return _compare(np.equal, self, o)

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        return _compare(np.not_equal, self, o)

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        r = bool(primal(self))
        if OBSERVERS:
            guard.truth(self, r)
        return r

    # -- conversions that would lose the derivative --------------------------------------------
    def __float__(self) -> float:
        # also what NumPy calls for ``buf[i] = v``; the engines' drivers name that case (inputs.call)
        raise DerivativeDropError(_DROP.format("float"))

    def __int__(self) -> int:
        raise DerivativeDropError(_DROP.format("int"))

    def __complex__(self) -> complex:
        raise DerivativeDropError(_DROP.format("complex"))

    def __round__(self, ndigits: Any = None) -> Any:
        raise DerivativeDropError(
            _DROP.format("round") + "; round(modes.primal(v)) gives the rounded value as a constant"
        )

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        raise TypeError(
            f"the format spec {spec!r} is for plain numbers, and an engine value carries a derivative "
            f"too: format its value, f'{{modes.primal(v):{spec}}}'"
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            _DROP.format("numpy.asarray")
            + "; to build an array from engine values use modes.ops.stack([...])"
        )

    # -- array structure ------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self.value)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def T(self) -> Any:  # noqa: N802 - NumPy's name
        return ops.transpose(self)

    def __len__(self) -> int:
        s = self.shape
        if not s:
            raise TypeError("len() of a 0-d (scalar) engine value")
        return s[0]

    def __iter__(self) -> Iterator[Any]:
        s = self.shape
        if not s:
            raise TypeError("iteration over a 0-d (scalar) engine value")
        for i in range(s[0]):
            yield rules.getitem(self, idx=i)

    def __getitem__(self, idx: Any) -> Any:
        if type(idx) is int or type(idx) is slice:  # already explicit: nothing to normalise
            return rules.getitem(self, idx=idx)
        return ops.getitem(self, idx)

    def __setitem__(self, idx: Any, value: Any) -> None:
        raise TypeError(
            "engine values do not support item assignment (v[i] = ...): build a new value instead, "
            "e.g. ops.where(mask, new, v) to replace entries, or ops.concatenate([...]) / "
            "ops.stack([...]) of the pieces"
        )

    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Any:
        return ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def dot(self, o: Any) -> Any:
        return ops.dot(self, o)

    # -- more of ndarray's methods (issue 12): each is its modes.ops function ---------------------
    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.min(self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Any:
        return ops.prod(self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, ddof: float = 0, keepdims: bool = False) -> Any:
        return ops.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Any = None, ddof: float = 0, keepdims: bool = False) -> Any:
        return ops.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis: Any = None) -> Any:
        return ops.cumsum(self, axis=axis)

    def clip(self, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - NumPy's names
        return ops.clip(self, min, max)

    def squeeze(self, axis: Any = None) -> Any:
        return ops.squeeze(self, axis=axis)

    def ravel(self) -> Any:
        return ops.ravel(self)

    def flatten(self) -> Any:
        return ops.ravel(self)

    def transpose(self, *axes: Any) -> Any:
        return ops.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def swapaxes(self, axis1: int, axis2: int) -> Any:
        return ops.swapaxes(self, axis1, axis2)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        return ops.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        return ops.trace(self, offset, axis1, axis2)

    def repeat(self, repeats: Any, axis: Any = None) -> Any:
        return ops.repeat(self, repeats, axis)

    def take(self, indices: Any, axis: Any = None) -> Any:
        return ops.take(self, indices, axis)

    def copy(self) -> Any:
        return self

    def astype(self, dtype: Any) -> Any:
        """Only float64 keeps a derivative: any other dtype is refused, naming it."""
        if np.dtype(dtype) != np.float64:
            raise TypeError(
                f"astype({np.dtype(dtype)}) would change an engine value's numbers without a "
                "derivative; engine values stay float64 (read the number with modes.primal(v))"
            )
        return self

    def argmax(self, axis: Any = None) -> Any:
        return np.argmax(guard.primal(self), axis=axis)

    def argmin(self, axis: Any = None) -> Any:
        return np.argmin(guard.primal(self), axis=axis)

    def argsort(self, axis: int = -1) -> Any:
        return np.argsort(guard.primal(self), axis=axis)

    # -- NumPy dispatch (NEP 13 and NEP 18) -----------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = registry.UFUNCS.get(ufunc) or _COMPARISONS.get(ufunc)
        if method != "__call__" or kwargs or fn is None:
            what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            extra = " with keyword arguments" if kwargs and fn is not None else ""
            raise TypeError(
                f"{what}{extra} is not supported on engine values; supported ufuncs: "
                + ", ".join(sorted(u.__name__ for u in (*registry.UFUNCS, *_COMPARISONS)))
            )
        return fn(*inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        fn = registry.FUNCTIONS.get(func) or _QUERIES.get(func)
        if fn is None:
            raise TypeError(
                f"{registry.numpy_name(func)} is not supported on engine values; use modes.ops "
                "(supported NumPy functions: "
                + ", ".join(sorted(f.__name__ for f in (*registry.FUNCTIONS, *_QUERIES)))
                + ")"
            )
        return fn(*args, **kwargs)
