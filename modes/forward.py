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

from modes.chain import (
    Unresolved,
    any_reached,
    expand_partial,
    full_reach,
    has_nan,
    merge_reach,
    product,
    reach_through,
)
from modes.chunking import CHUNK_THRESHOLD, choose_chunk
from modes.core import Primitive, Trace, Traced, check_value, primal, shape_of
from modes.inputs import Inputs, as_plain, call
from modes.rules import broadcast_to, concatenate, reshape
from modes.value import EngineValue

__all__ = ["CHUNK_THRESHOLD", "Dual", "ForwardTrace", "choose_chunk", "jacobian", "jvp", "tangent"]


_new = object.__new__


class Dual(EngineValue):
    """A dual number (or array): ``value + tangent * eps`` for one forward pass.

    ``reach`` exists only in a pass that tracks structural zeros (``modes/chain.py``): where a
    seeded direction reaches the tangent (``True``: everywhere; else a boolean array).
    """

    __slots__ = ("value", "tangent", "_trace", "reach")

    def __init__(self, value: Any, tangent: Any, trace: ForwardTrace, reach: Any = True) -> None:
        self.value = value
        self.tangent = tangent
        self._trace = trace
        if trace.track:
            self.reach = reach

    def __repr__(self) -> str:
        return f"Dual({self.value!r}, tangent={self.tangent!r})"


class ForwardTrace(Trace):
    """One forward pass: applies primitives to duals. ``cdim`` is 1 when tangents carry a chunk.

    ``track``: carry reach masks so that a nan meeting a zero tangent is resolved exactly (a
    zero no seeded direction reaches is structural; see ``modes/chain.py``). Passes run without
    it and are repeated with it only when :class:`~modes.chain.Unresolved` says it matters.
    """

    __slots__ = ("cdim", "ops", "updates", "track", "deferred")

    def __init__(self, cdim: int, track: bool = False) -> None:
        super().__init__()
        self.cdim = cdim
        self.ops = 0
        self.updates = 0
        self.fast = True
        self.track = track
        # an array tangent was multiplied by plain IEEE rules: a nan in the output's tangent may
        # be one a structural zero should have stopped (resolved by repeating the pass)
        self.deferred = False

    def process(self, prim: Primitive, args: tuple, params: dict) -> Dual:
        if not self.active:
            raise self.stale()
        primals = list(args)
        tangents: list[Any] = [None] * len(args)
        reaches: list[Any] = [None] * len(args)
        track = self.track
        for i, a in enumerate(args):
            if isinstance(a, Traced):
                tr = a._trace
                if tr is self:
                    primals[i] = a.value  # type: ignore[attr-defined]
                    tangents[i] = a.tangent  # type: ignore[attr-defined]
                    if track:
                        reaches[i] = a.reach  # type: ignore[attr-defined]
                elif not tr.active:
                    raise tr.stale()
        out = prim(*primals, **params)
        if type(out) is not float:
            check_value(prim, out)
        self.ops += 1
        partials = prim.partials
        cdim = self.cdim
        reach: Any = True
        if partials is not None:
            t = None
            structural = prim.structural_zeros
            if track:
                reach = None
            for i, ti in enumerate(tangents):
                if ti is None:
                    continue
                rule = partials[i]
                if rule is None:
                    raise prim.missing_rule(i)
                d = expand_partial(rule if type(rule) is float else rule(*primals, out), cdim)
                if type(ti) is np.ndarray and not (track or structural):
                    term = d * ti  # IEEE: a nan is resolved after the pass (_run_pass)
                    self.deferred = True
                else:
                    term = product(d, ti, structural, reaches[i] if track else None, self)
                t = term if t is None else t + term
                if track:
                    reach = merge_reach(reach, reach_through(d, reaches[i], structural))
                self.updates += 1
            if type(out) is not float:
                ts = shape_of(t)
                want = shape_of(out) + (ts[-1:] if cdim else ())
                if ts != want:
                    t = broadcast_to(t, shape=want)
            if track:
                if reach is None:
                    reach = False
                elif reach is not True and shape_of(t):
                    reach = full_reach(reach, shape_of(t))
        else:
            if prim.jvp is None:
                raise prim.missing_rule(next(i for i, t in enumerate(tangents) if t is not None))
            t = prim.jvp(tangents, primals, out, cdim, **params)
            self.updates += sum(1 for ti in tangents if ti is not None)
            if track:
                reach = _jvp_reach(prim, reaches, primals, out, cdim, params, shape_of(t))
        return Dual(out, t, self, reach)

    def scalar1(self, prim: Primitive, out: float, a: Dual, d: Any, c: float, i: int) -> Dual:
        """``out``: ``prim`` of dual ``a`` (argument ``i``) and constant ``c``, local partial ``d``."""
        g = a.tangent
        if type(g) is float:
            t = d * g
            if t != t:
                t = product(d, g, prim.structural_zeros, None, self)
        elif type(g) is np.ndarray and not prim.structural_zeros:
            t = d * g  # a chunk of directions: IEEE, a nan is resolved after the pass
            self.deferred = True
        else:
            t = product(d, g, prim.structural_zeros, None, self)
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
                s = prim.structural_zeros
                t = product(da, g, s, None, self) + product(db, h, s, None, self)
        elif type(g) is np.ndarray and type(h) is np.ndarray and not prim.structural_zeros:
            t = da * g + db * h  # chunks of directions: IEEE, a nan is resolved after the pass
            self.deferred = True
        else:
            s = prim.structural_zeros
            t = product(da, g, s, None, self) + product(db, h, s, None, self)
        self.ops += 1
        self.updates += 2
        v = _new(Dual)  # no __init__ frame: this is the hot path of scalar code
        v.value = out
        v.tangent = t
        v._trace = self
        return v


class TrackingTrace(ForwardTrace):
    """A forward pass that carries reach masks (``track``): the repeat of a pass in which a nan
    met a zero tangent (``modes/chain.py``). Its scalar steps also work out the reach."""

    __slots__ = ()

    def __init__(self, cdim: int) -> None:
        super().__init__(cdim, track=True)

    def scalar1(self, prim: Primitive, out: float, a: Dual, d: Any, c: float, i: int) -> Dual:
        s = prim.structural_zeros
        v = Dual(out, product(d, a.tangent, s, a.reach), self, reach_through(d, a.reach, s))
        self.ops += 1
        self.updates += 1
        return v

    def scalar2(self, prim: Primitive, out: float, a: Dual, da: Any, b: Dual, db: Any) -> Dual:
        s = prim.structural_zeros
        t = product(da, a.tangent, s, a.reach) + product(db, b.tangent, s, b.reach)
        reach = merge_reach(reach_through(da, a.reach, s), reach_through(db, b.reach, s))
        self.ops += 1
        self.updates += 2
        return Dual(out, t, self, reach)


def _jvp_reach(
    prim: Primitive, reaches: list[Any], primals: list[Any], out: Any, cdim: int, params: dict, shape: tuple
) -> Any:
    """Where a tangent map's output is reached: exact through a ``weightless`` primitive (the
    masks pushed through it as 0/1 numbers), else everywhere as soon as any input is reached."""
    if all(r is None or not any_reached(r) for r in reaches):
        return False
    if not prim.weightless:
        return True
    masks = [
        None if r is None else full_reach(r, shape_of(p) + shape[len(shape_of(out)) :]).astype(float)
        for r, p in zip(reaches, primals)
    ]
    return np.not_equal(primal(prim.jvp(masks, primals, out, cdim, **params)), 0.0)


def tangent(v: Any) -> Any:
    """The tangent a forward-mode value carries (its directional derivative), ``None`` for others.

    For reading inside the function being differentiated (the explain tool shows every node's
    tangent in each seeded pass); ``modes.primal(v)`` reads the value.
    """
    return v.tangent if isinstance(v, Dual) else None


def _seed(inputs: Inputs, start: int, width: int, cdim: int, trace: ForwardTrace) -> Any:
    """f's argument for the pass that seeds directions ``start .. start + width - 1``."""
    if inputs.kind == "list":
        tangents = []
        for i in range(len(inputs.items)):
            if cdim:
                e = np.zeros(width)
                if start <= i < start + width:
                    e[i - start] = 1.0
            else:
                e = 1.0 if i == start else 0.0
            tangents.append(e)
        return _duals(inputs, tangents, trace)
    n, shape = inputs.n, inputs.shape
    if cdim:
        t = np.zeros((n, width))
        t[np.arange(start, start + width), np.arange(width)] = 1.0
        t = t.reshape(shape + (width,))
    else:
        t = np.zeros(n)
        t[start] = 1.0
        t = t.reshape(shape) if shape else 1.0
    return _duals(inputs, t, trace)


def _duals(inputs: Inputs, tangents: Any, trace: ForwardTrace) -> Any:
    """f's argument: the inputs as duals with these tangents (a list's: one per item).

    The zeros of a seed are structural (no direction reaches them): a tracking pass says so.
    """
    if not trace.track:
        if inputs.kind == "list":
            return [Dual(x, t, trace) for x, t in zip(inputs.items, tangents)]
        return Dual(inputs.items, tangents, trace)
    if inputs.kind == "list":
        return [Dual(x, t, trace, _nonzero(t)) for x, t in zip(inputs.items, tangents)]
    return Dual(inputs.items, tangents, trace, _nonzero(tangents))


def _nonzero(t: Any) -> Any:
    return np.not_equal(primal(t), 0.0)


def _run_pass(
    f: Callable[[Any], Any], make_arg: Callable[[ForwardTrace], Any], cdim: int, chunk_shape: tuple
) -> tuple:
    """One forward pass: (value, tangent, trace). Repeated with reach tracking when a nan met a
    zero tangent whose kind the plain pass cannot tell (``modes/chain.py``): at once on floats,
    after the pass on arrays (multiplied by IEEE rules; the output's tangent then holds the nan)."""
    for track in (False, True):
        trace = TrackingTrace(cdim) if track else ForwardTrace(cdim)
        try:
            out = call(f, make_arg(trace))
            v, t = _split(out, trace, chunk_shape)
            if track or not trace.deferred or not has_nan(t):
                return v, t, trace
            # a nan in the output's tangent: repeat the pass with reach tracking, which tells a
            # structural zero's nan (0) from an IEEE one (kept)
        except Unresolved as e:
            if e.owner is not trace:  # an enclosing pass's product (nested differentiation)
                raise
            if track:
                raise AssertionError("a tracking forward pass cannot be unresolved") from None
        finally:
            trace.close()
    raise AssertionError("unreachable")


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
        v, t, trace = _run_pass(
            f, lambda tr, s=start, w=width: _seed(inputs, s, w, cdim, tr), cdim, (width,) if cdim else ()
        )
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
    value, t, trace = _run_pass(f, lambda tr: _duals(inputs, v, tr), 0, ())
    if not isinstance(t, Traced):
        t = np.array(t, dtype=float) if shape_of(t) else float(t)
    return as_plain(value), t, {"passes": 1, "ops": trace.ops, "updates": trace.updates}
