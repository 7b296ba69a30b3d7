"""Forward mode: dual numbers carrying a primal and a tangent of ``c`` directions ("chunk").

With ``c = 1`` this is the article's forward differentiation: seed one input, run the function,
read one column of the Jacobian; a gradient of ``n`` inputs takes ``n`` passes. With a chunk of
``c`` directions a pass carries ``c`` tangents at once (a trailing axis of width ``c``) and a
gradient takes ``ceil(n / c)`` passes. Local partials come from the rule table and are multiplied
into tangents by :func:`modes.chain.scale`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modes.chain import expand_partial, scale
from modes.chunking import CHUNK_THRESHOLD, choose_chunk
from modes.core import Primitive, Trace, Traced, check_value, shape_of
from modes.inputs import Inputs, as_plain, call
from modes.rules import broadcast_to, concatenate, reshape
from modes.value import EngineValue

__all__ = ["CHUNK_THRESHOLD", "Dual", "ForwardTrace", "choose_chunk", "jacobian", "jvp", "tangent"]


_new = object.__new__


class Dual(EngineValue):
    """A dual number (or array): ``value + tangent * eps`` for one forward pass."""

    __slots__ = ("value", "tangent", "_trace")

    def __init__(self, value: Any, tangent: Any, trace: ForwardTrace) -> None:
        self.value = value
        self.tangent = tangent
        self._trace = trace

    def __repr__(self) -> str:
        return f"Dual({self.value!r}, tangent={self.tangent!r})"


class ForwardTrace(Trace):
    """One forward pass: applies primitives to duals. ``cdim`` is 1 when tangents carry a chunk."""

    __slots__ = ("cdim", "ops", "updates")

    def __init__(self, cdim: int) -> None:
        super().__init__()
        self.cdim = cdim
        self.ops = 0
        self.updates = 0
        self.fast = True

    def process(self, prim: Primitive, args: tuple, params: dict) -> Dual:
        if not self.active:
            raise self.stale()
        primals = list(args)
        tangents: list[Any] = [None] * len(args)
        for i, a in enumerate(args):
            if isinstance(a, Traced):
                tr = a._trace
                if tr is self:
                    primals[i] = a.value  # type: ignore[attr-defined]
                    tangents[i] = a.tangent  # type: ignore[attr-defined]
                elif not tr.active:
                    raise tr.stale()
        out = prim(*primals, **params)
        if type(out) is not float:
            check_value(prim, out)
        self.ops += 1
        partials = prim.partials
        cdim = self.cdim
        if partials is not None:
            t = None
            for i, ti in enumerate(tangents):
                if ti is None:
                    continue
                rule = partials[i]
                if rule is None:
                    raise prim.missing_rule(i)
                d = rule if type(rule) is float else rule(*primals, out)
                term = scale(expand_partial(d, cdim), ti)
                t = term if t is None else t + term
                self.updates += 1
            if type(out) is not float:
                ts = shape_of(t)
                want = shape_of(out) + (ts[-1:] if cdim else ())
                if ts != want:
                    t = broadcast_to(t, shape=want)
        else:
            if prim.jvp is None:
                raise prim.missing_rule(next(i for i, t in enumerate(tangents) if t is not None))
            t = prim.jvp(tangents, primals, out, cdim, **params)
            self.updates += sum(1 for ti in tangents if ti is not None)
        return Dual(out, t, self)

    def scalar1(self, prim: Primitive, out: float, a: Dual, d: Any, c: float, i: int) -> Dual:
        """``out``: ``prim`` of dual ``a`` (argument ``i``) and constant ``c``, local partial ``d``."""
        g = a.tangent
        if type(g) is float:
            t = d * g
            if t != t:
                t = scale(d, g)
        else:
            t = scale(d, g)
        self.ops += 1
        self.updates += 1
        v = _new(Dual)  # no __init__ frame: this is the hot path of scalar code
        v.value = out
        v.tangent = t
        v._trace = self
        return v

    def scalar2(self, prim: Primitive, out: float, a: Dual, da: Any, b: Dual, db: Any) -> Dual:
        """``out = prim(a, b)``, a float from duals ``a`` and ``b`` of this pass."""
        g = a.tangent
        h = b.tangent
        if type(g) is float and type(h) is float:
            t = da * g + db * h
            if t != t:
                t = scale(da, g) + scale(db, h)
        else:
            t = scale(da, g) + scale(db, h)
        self.ops += 1
        self.updates += 2
        v = _new(Dual)  # no __init__ frame: this is the hot path of scalar code
        v.value = out
        v.tangent = t
        v._trace = self
        return v


def tangent(v: Any) -> Any:
    """The tangent a forward-mode value carries (its directional derivative), ``None`` for others.

    For reading inside the function being differentiated (the explain tool shows every node's
    tangent in each seeded pass); ``modes.primal(v)`` reads the value.
    """
    return v.tangent if isinstance(v, Dual) else None


def _seed(inputs: Inputs, start: int, width: int, cdim: int, trace: ForwardTrace) -> Any:
    """f's argument for the pass that seeds directions ``start .. start + width - 1``."""
    if inputs.kind == "list":
        args = []
        for i, v in enumerate(inputs.items):
            if cdim:
                e = np.zeros(width)
                if start <= i < start + width:
                    e[i - start] = 1.0
            else:
                e = 1.0 if i == start else 0.0
            args.append(Dual(v, e, trace))
        return args
    n, shape = inputs.n, inputs.shape
    if cdim:
        t = np.zeros((n, width))
        t[np.arange(start, start + width), np.arange(width)] = 1.0
        t = t.reshape(shape + (width,))
    else:
        t = np.zeros(n)
        t[start] = 1.0
        t = t.reshape(shape) if shape else 1.0
    return Dual(inputs.items, t, trace)


def _split(out: Any, trace: ForwardTrace, chunk_shape: tuple[int, ...]) -> tuple[Any, Any]:
    """(value, tangent) of f's output for this pass; a zero tangent if it ignores the input."""
    if isinstance(out, Dual) and out._trace is trace:
        return out.value, out.tangent
    return out, np.zeros(shape_of(out) + chunk_shape) if (shape_of(out) or chunk_shape) else 0.0


def _join(blocks: list[Any], out_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> Any:
    """Concatenate the passes' Jacobian columns and shape them ``out_shape + x_shape``."""
    if any(isinstance(b, Traced) for b in blocks):
        J = blocks[0] if len(blocks) == 1 else concatenate(*blocks, axis=len(out_shape))
        return reshape(J, shape=out_shape + x_shape)
    J = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=len(out_shape))
    J = np.array(J, dtype=float).reshape(out_shape + x_shape)
    return float(J) if J.ndim == 0 else J


def jacobian(
    f: Callable[[Any], Any], inputs: Inputs, chunk: int | None = None
) -> tuple[Any, Any, dict[str, int]]:
    """Value and full Jacobian (``out.shape + x.shape``) of ``f`` in ``ceil(n / chunk)`` passes.

    An empty ``x`` (``n = 0``) takes one pass with a chunk of zero directions: it computes the
    value and an empty Jacobian, as reverse mode does.
    """
    n = inputs.n
    c = choose_chunk(n, chunk, elements=1 if inputs.kind == "list" else n)
    cdim = 0 if c == 1 and n else 1
    blocks: list[Any] = []
    value: Any = None
    counts = {"passes": 0, "ops": 0, "updates": 0}
    for start in range(0, n, c) if n else (0,):
        width = min(c, n - start)
        trace = ForwardTrace(cdim)
        try:
            out = call(f, _seed(inputs, start, width, cdim, trace))
            v, t = _split(out, trace, (width,) if cdim else ())
        finally:
            trace.close()
        if value is None:
            value = v
        out_shape = shape_of(v)
        if not cdim:
            t = (
                reshape(t, shape=out_shape + (1,))
                if isinstance(t, Traced)
                else np.reshape(t, (*out_shape, 1))
            )
        blocks.append(t)
        counts["passes"] += 1
        counts["ops"] += trace.ops
        counts["updates"] += trace.updates * width
    return as_plain(value), _join(blocks, shape_of(value), inputs.shape), counts


def jvp(f: Callable[[Any], Any], inputs: Inputs, v: Any) -> tuple[Any, Any, dict[str, int]]:
    """Value of ``f`` and the directional derivative ``J v`` in one pass (chunk of one)."""
    trace = ForwardTrace(0)
    try:
        if inputs.kind == "list":
            arg: Any = [Dual(x, t, trace) for x, t in zip(inputs.items, v)]
        else:
            arg = Dual(inputs.items, v, trace)
        out = call(f, arg)
        value, t = _split(out, trace, ())
    finally:
        trace.close()
    if not isinstance(t, Traced):
        t = np.array(t, dtype=float) if shape_of(t) else float(t)
    return as_plain(value), t, {"passes": 1, "ops": trace.ops, "updates": trace.updates}
