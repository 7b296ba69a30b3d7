"""Reverse mode: a tape (Wengert list) recorded while f runs, swept backwards by a plain loop.

Recording stores, for every primitive applied, its parents and what its rule needs: the local
partials of a scalar operation (evaluated at record time, as in the article's picture), the call
of an elementwise operation on arrays (its partials are evaluated when a sweep first needs them)
or the primals for a structure op's transpose. The tape is a flat list in execution order, so it
is already topologically sorted and the sweep is one backwards ``for`` loop: no recursion, any
depth. Adjoints live in a list owned by the sweep and are returned fresh; nothing is stored on
nodes, so one recording can be swept any number of times (one sweep per Jacobian row).

Where the time goes (issue 14): scalar code records one tuple per operation from the tape
variables' own operators (:func:`_recording_operator`), and a tape of scalar steps only is swept
by the tightest loop Python allows (:meth:`Tape._sweep_scalar`); products follow IEEE during a
sweep and a nan is resolved after it (:meth:`Tape.backward`), so no step pays for the strong zero.

The tape holds the branches taken at the point where it was recorded: ``Recording.backward``
differentiates at that point only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from modes import rules
from modes.chain import (
    Unresolved,
    any_reached,
    expand_partial,
    full_reach,
    has_nan,
    merge_reach,
    product,
    reach_through,
    reduce_reach,
)
from modes.chunking import choose_chunk
from modes.core import Primitive, Trace, Traced, check_value, primal, shape_of
from modes.inputs import Inputs, as_plain, call, parse_direction, parse_inputs, require_scalar
from modes.numeric import MATH_ERRORS as _MATH_ERRORS
from modes.rules import broadcast_to, concatenate, reshape, stack, sum_to, transpose
from modes.value import _NO_PARAMS, EngineValue, float_plan

_new = object.__new__


def _recording_operator(name: str, prim: Primitive, reflected: bool) -> Callable[..., Any]:
    """A tape variable's binary operator ``name``: a float result is recorded right here.

    The hot path of scalar code (``x * y``, ``100.0 * a``, ``x ** 2``, ``1.0 - x``): when the
    value and the other operand (a float or int constant, or a variable of the same tape) are
    floats and the result is a float, the operator computes the result and the local partials
    as :func:`modes.value.float_plan` reads them from the rule table, appends the scalar step
    ``(prim, parent, partial[, parent, partial])`` and makes the new variable, all in this one
    frame. Every other case (arrays, nesting, a finished or replay-recording tape, ``pow`` with
    a modulus) goes to the operator every engine value shares (``modes/value.py``).
    """
    general = getattr(EngineValue, name)
    plan = float_plan(prim, reflected)
    if plan is None or prim.structural_zeros:  # a structural zero needs an ElementwiseStep
        return general
    scalar, impl, (kc, rc, _), (k0, r0), (k1, r1) = plan

    def op(self: Var, o: Any, mod: Any = None) -> Any:
        tape = self._trace
        if tape.inline and mod is None:
            v = self.value
            t = type(o)
            if type(v) is float:
                step = None
                if t is float or t is int:
                    if t is int:
                        o = float(o)
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
                        else:
                            d = out if kc == 3 else rc(x, y, out)
                        step = (prim, self.index, d)
                elif t is Var and o._trace is tape:  # never reflected: Python tries self's first
                    w = o.value
                    if type(w) is float:
                        try:
                            out = scalar(v, w)
                        except _MATH_ERRORS:
                            out = impl(v, w)
                        if type(out) is float:
                            if k0 == 0:
                                d0 = r0
                            elif k0 == 2:
                                d0 = w
                            else:
                                d0 = v if k0 == 1 else (out if k0 == 3 else r0(v, w, out))
                            if k1 == 0:
                                d1 = r1
                            elif k1 == 1:
                                d1 = v
                            else:
                                d1 = w if k1 == 2 else (out if k1 == 3 else r1(v, w, out))
                            step = (prim, self.index, d0, o.index, d1)
                if step is not None:
                    entries = tape.entries
                    entries.append(step)
                    tape.values.append(out)
                    r = _new(Var)  # no __init__ frame
                    r.value = out
                    r.index = len(entries) - 1
                    r._trace = tape
                    return r
            if t is np.ndarray or t is float or t is int or (t is Var and o._trace is tape):
                # arrays: this tape is the innermost among the operands, as the general operator
                # would find after its own checks
                return tape.process(prim, (o, self) if reflected else (self, o), _NO_PARAMS)
        return general(self, o) if mod is None else general(self, o, mod)

    op.__name__ = name
    return op


class Var(EngineValue):
    """A tape variable: a value and its position on the tape."""

    __slots__ = ("value", "index", "_trace")

    def __init__(self, value: Any, index: int, tape: Tape) -> None:
        self.value = value
        self.index = index
        self._trace = tape

    def __repr__(self) -> str:
        return f"Var(%{self.index}, {self.value!r})"

    __add__ = _recording_operator("__add__", rules.add, reflected=False)
    __radd__ = _recording_operator("__radd__", rules.add, reflected=True)
    __sub__ = _recording_operator("__sub__", rules.sub, reflected=False)
    __rsub__ = _recording_operator("__rsub__", rules.sub, reflected=True)
    __mul__ = _recording_operator("__mul__", rules.mul, reflected=False)
    __rmul__ = _recording_operator("__rmul__", rules.mul, reflected=True)
    __truediv__ = _recording_operator("__truediv__", rules.div, reflected=False)
    __rtruediv__ = _recording_operator("__rtruediv__", rules.div, reflected=True)
    __pow__ = _recording_operator("__pow__", rules.power, reflected=False)
    __rpow__ = _recording_operator("__rpow__", rules.power, reflected=True)
    __mod__ = _recording_operator("__mod__", rules.remainder, reflected=False)
    __rmod__ = _recording_operator("__rmod__", rules.remainder, reflected=True)


class Node(NamedTuple):
    """One tape entry, readable: ``value = primitive(*parents)`` with ``partials`` per parent.

    ``partials`` is empty for structure primitives (their rule is a linear map, not a number).
    """

    index: int
    primitive: Primitive | None
    parents: tuple[int, ...]
    partials: tuple[Any, ...]
    value: Any


class ElementwiseStep:
    """A tape instruction for an elementwise primitive on arrays (or on nested values).

    ``parents`` are tape positions and ``positions`` the argument each parent was; ``primals`` and
    ``out`` are the call as recorded. The local partial with respect to each parent
    (:attr:`partials`: an array, a float, or an engine value of an enclosing differentiation) is
    evaluated from the rule table when a sweep first asks for it, not while ``f`` runs: a node no
    sweep reaches never pays for its partials, and recording costs one call of the primitive.
    (Nested values are the exception: partials made of an enclosing differentiation's values are
    evaluated while recording, when that differentiation is still running.)
    ``shapes`` gives each parent's shape where broadcasting made the output larger (else
    ``None``), so the sweep can sum the adjoint back down.
    """

    __slots__ = ("prim", "parents", "positions", "primals", "out", "_partials", "shapes")

    def __init__(self, prim: Primitive, parents: list, positions: list, primals: list, out: Any) -> None:
        self.prim = prim
        self.parents = parents
        self.positions = positions
        self.primals = primals
        self.out = out
        self._partials: tuple | None = None
        shapes = None
        so = out.shape if type(out) is np.ndarray else shape_of(out)
        for j, i in enumerate(positions):
            p = primals[i]
            ps = p.shape if type(p) is np.ndarray else shape_of(p)
            if ps != so:
                if shapes is None:
                    shapes = [None] * len(positions)
                shapes[j] = ps
        self.shapes = shapes

    @property
    def partials(self) -> tuple:
        """The local partials, one per parent, from the rule table (evaluated once, then kept)."""
        ds = self._partials
        if ds is None:
            rules, primals, out = self.prim.partials, self.primals, self.out
            found = []
            for i in self.positions:
                r = rules[i]  # type: ignore[index]
                found.append(r if type(r) is float else r(*primals, out))
            ds = self._partials = tuple(found)
        return ds


class LinearStep:
    """A tape instruction for a structure (linear) primitive: what its transposes need.

    ``parents`` are tape positions, ``positions`` the argument each parent was (so its ``vjp``
    entry), and ``primals``, ``out`` and ``params`` the call as recorded.
    """

    __slots__ = ("prim", "parents", "positions", "primals", "out", "params")

    def __init__(
        self, prim: Primitive, parents: list, positions: list, primals: list, out: Any, params: dict
    ) -> None:
        self.prim = prim
        self.parents = parents
        self.positions = positions
        self.primals = primals
        self.out = out
        self.params = params


class Tape(Trace):
    """The Wengert list. Entry ``k`` describes how node ``k`` was computed (``None``: an input).

    Three kinds of instruction, each with one layout:

    * a *scalar step*, the hot path of scalar code: a plain tuple ``(primitive, parent, partial)``
      or ``(primitive, parent0, partial0, parent1, partial1)`` for a float node whose local
      partials are floats (one small allocation per operation), of a primitive without
      structural zeros (the sweep multiplies these by plain IEEE rules);
    * an :class:`ElementwiseStep` for elementwise primitives on arrays or nested values;
    * a :class:`LinearStep` for structure primitives.

    Read entries through :meth:`node` rather than by position.
    """

    __slots__ = ("entries", "values", "n_inputs", "updates", "sweeps", "uncounted", "inline", "scalar_only")

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[Any] = []
        self.values: list[Any] = []
        self.n_inputs = 0
        self.updates = 0
        self.sweeps = 0
        self.uncounted: list[int] = []  # outputs of scalar sweeps whose updates are not yet counted
        self.fast = True
        # True while the tape is active and its variables' operators record floats inline
        # (:func:`_recording_operator`); a subclass that must see every step clears it
        self.inline = type(self) is Tape
        # True while every entry is an input or a scalar step and the inputs come first: such a
        # tape is swept by the scalar loop (:meth:`_sweep_scalar`)
        self.scalar_only = True

    def __len__(self) -> int:
        return len(self.entries)

    def close(self) -> None:
        self.active = self.fast = self.inline = False  # Trace.close's, and the tape's own flag

    @property
    def ops(self) -> int:
        """Primitive evaluations recorded (entries that are not inputs)."""
        return len(self.entries) - self.n_inputs

    def input(self, value: Any) -> Var:
        """A new input node."""
        if len(self.entries) > self.n_inputs:
            self.scalar_only = False  # an input after operations (modes.loop, checkpoints)
        self.entries.append(None)
        self.values.append(value)
        self.n_inputs += 1
        return Var(value, len(self.entries) - 1, self)

    def inputs(self, values: list[Any]) -> list[Var]:
        """New input nodes, one per entry of ``values``, in order."""
        start = len(self.entries)
        if start > self.n_inputs:
            self.scalar_only = False
        self.entries.extend([None] * len(values))
        self.values.extend(values)
        self.n_inputs += len(values)
        out = []
        for k, v in enumerate(values, start):
            var = _new(Var)  # no __init__ frame: one per input of a list-style f
            var.value = v
            var.index = k
            var._trace = self
            out.append(var)
        return out

    def scalar1(self, prim: Primitive, out: float, a: Var, d: Any, c: float, i: int) -> Var:
        """Record ``out``: ``prim`` of value ``a`` (argument ``i``) and constant ``c``; partial ``d``."""
        entries = self.entries
        entries.append((prim, a.index, d))
        self.values.append(out)
        v = _new(Var)  # no __init__ frame: this is the hot path of scalar code
        v.value = out
        v.index = len(entries) - 1
        v._trace = self
        return v

    def scalar2(self, prim: Primitive, out: float, a: Var, da: Any, b: Var, db: Any) -> Var:
        """Record ``out = prim(a, b)``, a float from values ``a`` and ``b`` of this tape."""
        entries = self.entries
        entries.append((prim, a.index, da, b.index, db))
        self.values.append(out)
        v = _new(Var)
        v.value = out
        v.index = len(entries) - 1
        v._trace = self
        return v

    def process(self, prim: Primitive, args: tuple, params: dict) -> Var:
        if not self.active:
            raise self.stale()
        primals = list(args)
        parents = []
        positions = []
        nested = False
        i = 0
        for a in args:
            t = type(a)
            if t is Var and a._trace is self:  # the common case, without isinstance
                v = a.value
                primals[i] = v
                parents.append(a.index)
                positions.append(i)
                if type(v) is not np.ndarray and type(v) is not float and isinstance(v, Traced):
                    nested = True
            elif t is not np.ndarray and t is not float and isinstance(a, Traced):
                tr = a._trace
                if tr is self:
                    v = a.value  # type: ignore[attr-defined]
                    primals[i] = v
                    parents.append(a.index)  # type: ignore[attr-defined]
                    positions.append(i)
                    nested = nested or isinstance(v, Traced)
                elif not tr.active:
                    raise tr.stale()
                else:
                    nested = True
            i += 1
        out = prim(*primals, **params) if nested else prim.impl(*primals, **params)
        if type(out) is np.ndarray:
            if out.dtype.kind == "c":
                check_value(prim, out)
        elif type(out) is not float:
            check_value(prim, out)
        partials = prim.partials
        if partials is not None:
            for i in positions:
                if partials[i] is None:
                    raise prim.missing_rule(i)
            entry: Any
            if type(out) is float and len(positions) <= 2:
                entry = self._scalar_step(prim, primals, out, parents, positions)
            else:
                entry = ElementwiseStep(prim, parents, positions, primals, out)
                if nested:  # partials made of an enclosing trace's values: evaluate them while it runs
                    entry.partials  # noqa: B018 - evaluated for its effect (kept on the step)
        else:
            vjps = prim.vjp
            for i in positions:
                if vjps is None or vjps[i] is None:
                    raise prim.missing_rule(i)
            entry = LinearStep(prim, parents, positions, primals, out, params)
        if type(entry) is not tuple:
            self.scalar_only = False
        entries = self.entries
        entries.append(entry)
        self.values.append(out)
        v = _new(Var)
        v.value = out
        v.index = len(entries) - 1
        v._trace = self
        return v

    @staticmethod
    def _scalar_step(prim: Primitive, primals: list, out: float, parents: list, positions: list) -> Any:
        """A float result: a scalar step when every parent is a float with a float partial."""
        rules = prim.partials
        ds = tuple(r if type(r) is float else r(*primals, out) for r in [rules[i] for i in positions])  # type: ignore[index]
        if (
            not prim.structural_zeros  # a scalar step's product is plain IEEE (see the sweep)
            and all(type(primals[i]) is float for i in positions)
            and all(type(d) is float for d in ds)
        ):
            if len(ds) == 1:
                return (prim, parents[0], ds[0])
            return (prim, parents[0], ds[0], parents[1], ds[1])
        step = ElementwiseStep(prim, tuple(parents), tuple(positions), tuple(primals), out)
        step._partials = ds
        return step

    def backward(self, out_index: int, seed: Any, wanted: list[int] | None, cdim: int = 0) -> list[Any]:
        """Sweep from node ``out_index`` with adjoint ``seed``; return the adjoints of ``wanted``.

        ``cdim = 1``: the seed carries a trailing axis of ``c`` cotangent directions (vector mode)
        and so does every adjoint; one sweep then gives ``c`` rows of the Jacobian.
        Nodes never reached keep adjoint ``None`` (the caller reads that as zero). Intermediate
        adjoints are dropped once used, unless ``wanted`` is ``None``: then every node's adjoint is
        kept and returned (:meth:`Recording.adjoints`).

        Structural zeros (``modes/chain.py``) are resolved lazily: the sweep multiplies array
        adjoints by IEEE rules and only a structural primitive's product looks for nan. If a
        returned adjoint then holds a nan, the sweep is repeated with the reach of every node
        worked out first, so that a zero counts as structural exactly where no path sends
        anything. (A nan that a zero of unknown kind produced either reaches a returned adjoint
        or is cut by a structural zero, which gives 0 either way: so a sweep returning no nan
        has nothing to resolve.) The repeat does not count as a second sweep.
        """
        updates, sweeps, uncounted = self.updates, self.sweeps, len(self.uncounted)
        try:
            if self.scalar_only and type(seed) is float and wanted is not None:
                found = self._sweep_scalar(out_index, seed, wanted)
            else:
                found = self._sweep(out_index, seed, wanted, cdim, None)
            if not _any_nan(found):
                return found
        except Unresolved as e:
            if e.owner is not self:  # an enclosing differentiation's product: its own to resolve
                raise
        self.updates, self.sweeps = updates, sweeps
        del self.uncounted[uncounted:]
        return self._sweep(out_index, seed, wanted, cdim, self._reach(out_index, seed, cdim))

    def _sweep_scalar(self, out_index: int, seed: float, wanted: list[int]) -> list[Any]:
        """The sweep of a tape of scalar steps only (inputs first): the hot loop of scalar code.

        The products and sums of :meth:`_sweep` without reach (plain IEEE; a nan is resolved
        after the sweep), laid out as the least a Python tape can do: adjoints start at 0.0 and
        every step sends its adjoint on. A step no path from the output reaches (code whose value
        f does not use) sends 0.0 times its partials, which adds nothing unless a partial is inf
        or nan, and that nan is resolved after the sweep like any other. A node's adjoint is
        dropped once sent on (the sweep's peak memory stays that of the tape); the updates of
        the steps reached are counted from the tape when counts are read (:meth:`settle_counts`).
        """
        entries = self.entries
        adj: list[Any] = [0.0] * len(entries)
        adj[out_index] = seed
        for k in range(out_index, self.n_inputs - 1, -1):
            g = adj[k]
            adj[k] = 0.0
            e = entries[k]
            if len(e) == 5:
                _, p, d, q, dq = e
                adj[p] += d * g
                adj[q] += dq * g
            else:
                _, p, d = e
                adj[p] += d * g
        self.uncounted.append(out_index)
        self.sweeps += 1
        return [adj[i] for i in wanted]

    def settle_counts(self) -> None:
        """Add to :attr:`updates` the updates of the scalar sweeps not yet counted.

        A scalar sweep sends every step's adjoint on; what counts as an update is a step some
        path from the output reaches (as in :meth:`_sweep`), worked out here, only when asked.
        """
        entries = self.entries
        for out_index in self.uncounted:
            reached = bytearray(len(entries))
            reached[out_index] = 1
            n = 0
            for k in range(out_index, self.n_inputs - 1, -1):
                if reached[k]:
                    e = entries[k]
                    reached[e[1]] = 1
                    if len(e) == 5:
                        reached[e[3]] = 1
                        n += 2
                    else:
                        n += 1
            self.updates += n
        self.uncounted.clear()

    def _sweep(
        self, out_index: int, seed: Any, wanted: list[int] | None, cdim: int, reach: list[Any] | None
    ) -> list[Any]:
        """The backward sweep; ``reach`` (from :meth:`_reach`) resolves zeros, ``None``: not tracked."""
        keep_all = wanted is None
        entries = self.entries
        adj: list[Any] = [None] * len(entries)
        adj[out_index] = seed
        owned: set[int] = set()
        updates = 0
        r: Any = None
        for k in range(out_index, -1, -1):
            g = adj[k]
            if g is None:
                continue
            if reach is not None:
                r = reach[k]
                if r is None or not any_reached(r):
                    adj[k] = None if not keep_all else g
                    continue
            e = entries[k]
            if type(e) is tuple:  # a scalar step
                if not keep_all:
                    adj[k] = None  # sent on: the sweep's peak memory stays that of the tape
                if r is None and type(g) is float:  # the hot path: IEEE, a nan resolved after the sweep
                    if len(e) == 5:
                        _, p, d, q, dq = e
                        a = adj[p]
                        adj[p] = d * g if a is None else a + d * g
                        a = adj[q]
                        adj[q] = dq * g if a is None else a + dq * g
                        updates += 2
                    else:
                        _, p, d = e
                        a = adj[p]
                        adj[p] = d * g if a is None else a + d * g
                        updates += 1
                    continue
                for j in range(1, len(e), 2):
                    p = e[j]
                    c = product(e[j + 1], g, e[0].structural_zeros, r, self)
                    a = adj[p]
                    adj[p] = c if a is None else a + c
                    updates += 1
                continue
            if e is None:
                continue
            if not keep_all:
                adj[k] = None
            if type(e) is ElementwiseStep:
                shapes = e.shapes
                structural = e.prim.structural_zeros
                ds = e.partials
                for j, p in enumerate(e.parents):
                    d = ds[j]
                    if cdim:
                        d = expand_partial(d, cdim)
                    if r is None and not structural:  # IEEE: a nan is resolved after the sweep
                        c = g if type(d) is float and d == 1.0 else d * g
                    else:
                        c = product(d, g, structural, r, self)
                    if shapes is not None and shapes[j] is not None:
                        c = sum_to(c, shapes[j] + shape_of(g)[len(shape_of(g)) - cdim :])
                    a = adj[p]
                    adj[p] = c if a is None else a + c
                    updates += 1
                continue
            updates += self._transpose(e, g, adj, owned, cdim)
        self.updates += updates * (shape_of(seed)[-1] if cdim else 1)  # per direction, as forward
        self.sweeps += 1
        return adj if wanted is None else [adj[i] for i in wanted]

    def _reach(self, out_index: int, seed: Any, cdim: int) -> list[Any]:
        """Where each node's adjoint is reached from the seed: a sweep of booleans over the tape.

        ``None``: no path; ``True``: everywhere; else a boolean array of the adjoint's shape. A
        seed's zeros and a ``structural_zeros`` primitive's zero partials stop a path; a
        ``weightless`` transpose carries the mask exactly, any other sends it everywhere.
        """
        entries, values = self.entries, self.values
        reach: list[Any] = [None] * len(entries)
        ps = primal(seed)
        reach[out_index] = np.not_equal(ps, 0.0) if shape_of(ps) else bool(ps != 0.0)
        chunk = shape_of(ps)[len(shape_of(ps)) - cdim :] if cdim else ()
        for k in range(out_index, -1, -1):
            r = reach[k]
            e = entries[k]
            if r is None or e is None or not any_reached(r):
                continue
            if type(e) is tuple:
                s = e[0].structural_zeros
                for j in range(1, len(e), 2):
                    p = e[j]
                    reach[p] = merge_reach(reach[p], reach_through(e[j + 1], r, s))
                continue
            out_shape = shape_of(values[k]) + chunk
            if type(e) is ElementwiseStep:
                s = e.prim.structural_zeros
                for j, p in enumerate(e.parents):
                    d = expand_partial(e.partials[j], cdim)
                    rp = reach_through(d, r, s)
                    if rp is not True:
                        rp = full_reach(rp, np.broadcast_shapes(shape_of(primal(d)), out_shape))
                        rp = reduce_reach(rp, shape_of(values[p]) + chunk)
                    reach[p] = merge_reach(reach[p], rp)
                continue
            prim = e.prim
            for p, i in zip(e.parents, e.positions):
                if prim.weightless:
                    mask = full_reach(r, out_shape).astype(float)
                    ct = self._transpose_one(e, i, mask, cdim)
                    rp = np.not_equal(primal(ct), 0.0)
                else:
                    rp = True
                reach[p] = merge_reach(reach[p], rp)
        return reach

    @staticmethod
    def _transpose_one(e: LinearStep, i: int, g: Any, cdim: int) -> Any:
        """Argument ``i``'s transpose of a structure primitive applied to cotangent ``g``."""
        prim, primals, out, params = e.prim, e.primals, e.out, e.params
        vjp = prim.vjp[i]
        if cdim and not prim.chunked_vjp:
            # a transpose written for one cotangent: apply it per direction, then stack
            cols = [vjp(g[..., j], *primals, out, **params) for j in range(shape_of(g)[-1])]
            return stack(*cols, axis=len(shape_of(cols[0])))
        return vjp(g, *primals, out, **params)

    @staticmethod
    def _transpose(e: LinearStep, g: Any, adj: list[Any], owned: set[int], cdim: int) -> int:
        """Send adjoint ``g`` through a structure primitive's transposes; returns the updates made."""
        prim, primals, params = e.prim, e.primals, e.params
        acc = prim.accumulate
        for p, i in zip(e.parents, e.positions):
            if (
                acc is not None
                and type(g) is not float
                and not isinstance(g, Traced)
                and not isinstance(
                    adj[p], Traced
                )  # nested: an engine-value adjoint is summed, not written into
            ):
                buf = adj[p]
                if buf is None or p not in owned:
                    fresh = np.zeros(shape_of(primals[i]) + shape_of(g)[len(shape_of(g)) - cdim :])
                    buf = fresh if buf is None else fresh + buf
                    adj[p] = buf
                    owned.add(p)
                acc(buf, g, **params)
                continue
            c = Tape._transpose_one(e, i, g, cdim)
            a = adj[p]
            if a is None:
                adj[p] = c
            elif p in owned and isinstance(a, np.ndarray) and isinstance(c, np.ndarray):
                a += c
            else:
                adj[p] = a + c
        return len(e.parents)

    def node(self, k: int) -> Node:
        """Node ``k`` in readable form: its primitive (None for an input), parents, partials."""
        e = self.entries[k]
        if e is None:
            return Node(k, None, (), (), self.values[k])
        if type(e) is tuple:
            return Node(k, e[0], tuple(e[1::2]), tuple(e[2::2]), self.values[k])
        if type(e) is ElementwiseStep:
            return Node(k, e.prim, tuple(e.parents), e.partials, self.values[k])
        return Node(k, e.prim, tuple(e.parents), (), self.values[k])

    def nbytes(self) -> int:
        """Approximate bytes the tape holds: entries, stored partials, primals and values."""
        seen: set[int] = set()

        def size(obj: Any) -> int:
            if id(obj) in seen:
                return 0
            seen.add(id(obj))
            if isinstance(obj, np.ndarray):
                return sys.getsizeof(obj) + (obj.nbytes if obj.base is None else 0)
            if isinstance(obj, (tuple, list)):
                return sys.getsizeof(obj) + sum(size(o) for o in obj)
            if isinstance(obj, dict):
                return sys.getsizeof(obj) + sum(size(o) for o in obj.values())
            if isinstance(obj, Primitive):
                return 0
            if isinstance(obj, (ElementwiseStep, LinearStep)):
                return sys.getsizeof(obj) + sum(size(getattr(obj, a)) for a in obj.__slots__)
            return sys.getsizeof(obj)

        return size(self.entries) + size(self.values)

    def format(self, limit: int | None = 50) -> str:
        """The tape as ReverseDiff-style lines ``%k = op(%i, %j)  value``, in execution order."""
        lines = []
        for k in range(len(self.entries)):
            if limit is not None and k >= limit:
                lines.append(f"... ({len(self.entries) - limit} more entries)")
                break
            v = self.values[k]
            shown = f"{v:.6g}" if type(v) is float else f"array{shape_of(v)}"
            node = self.node(k)
            if node.primitive is None:
                lines.append(f"%{k} = input  {shown}")
            else:
                args = ", ".join(f"%{p}" for p in node.parents)
                lines.append(f"%{k} = {node.primitive.name}({args})  {shown}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"<Tape: {len(self.entries)} entries, {self.ops} operations; print() it for the listing>"

    def _repr_markdown_(self) -> str:
        """A notebook shows the tape as its listing (the first 50 entries)."""
        return "```\n" + self.format() + "\n```"


class Recording:
    """``f`` recorded at one point: its value, its tape, and backward sweeps over that tape.

    Recording and sweeping are separate calls so that they can be timed separately. The nodes
    and every node's adjoint are readable (:meth:`nodes`, :meth:`adjoints`): that is how the
    explain tool draws the article's picture, and how a lecture can show a tape.
    """

    def __init__(self, tape: Tape, inputs: Inputs, input_nodes: list[int], out: Any) -> None:
        self.tape = tape
        self.inputs = inputs
        self.input_nodes = input_nodes
        self.out = out
        #: whether f's output is a value of this tape (else f does not depend on its input)
        self._depends = type(out) is Var and out._trace is tape
        self.value = as_plain(out.value if self._depends else out)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return shape_of(self.value)

    @property
    def output_node(self) -> int | None:
        """The tape position of f's output, or ``None`` when f does not depend on its input."""
        return self.out.index if self._depends else None

    def nodes(self) -> list[Node]:
        """Every tape entry in execution order, readable: primitive, parents, local partials, value."""
        return [self.tape.node(k) for k in range(len(self.tape))]

    def index_of(self, v: Any) -> int:
        """The tape position of ``v``, an engine value made while ``f`` was recorded."""
        if not (isinstance(v, Var) and v._trace is self.tape):
            raise ValueError(f"{v!r} is not a value of this recording")
        return v.index

    def adjoints(self, seed: Any = None) -> list[Any]:
        """Every node's adjoint ``d(seed . f)/d(node)`` after one backward sweep, by tape position.

        A node the sweep never reaches has adjoint 0 (an array of zeros for an array node).
        """
        seed = self._seed(seed)
        n = len(self.tape)
        adj = self.tape.backward(self.out.index, seed, None) if self._depends else [None] * n
        values = self.tape.values
        return [
            (np.zeros(shape_of(values[k])) if shape_of(values[k]) else 0.0) if a is None else a
            for k, a in enumerate(adj)
        ]

    def _seed(self, seed: Any) -> Any:
        if type(seed) is float and type(self.value) is float:
            return seed
        out_shape = self.out_shape
        if type(seed) is float and out_shape == ():
            return seed
        if seed is None:
            if out_shape != ():
                raise ValueError(
                    f"backward() needs a seed for an output of shape {out_shape} (or use modes.jacobian)"
                )
            return 1.0
        seed = parse_direction(seed, out_shape, "u")
        return stack(*seed, axis=0) if isinstance(seed, list) else seed

    def backward(self, seed: Any = None) -> Any:
        """``seed^T J`` shaped like ``x`` (seed defaults to 1 for a scalar output)."""
        seed = self._seed(seed)
        if self._depends:
            adjs = self.tape.backward(self.out.index, seed, self.input_nodes)
        else:
            adjs = [None] * len(self.input_nodes)
        return _gather(adjs, self.inputs)

    def backward_chunk(self, seeds: Any) -> Any:
        """Rows ``seeds[..., j]^T J`` for ``c`` cotangents at once, in one vector-mode sweep.

        ``seeds`` has shape ``out_shape + (c,)``; the result has shape ``(c,) + x.shape``.
        """
        width = shape_of(seeds)[-1]
        if self._depends:
            adjs = self.tape.backward(self.out.index, seeds, self.input_nodes, cdim=1)
        else:
            adjs = [None] * len(self.input_nodes)
        inputs = self.inputs
        if inputs.kind == "list":
            cols = [np.zeros(width) if a is None else a for a in adjs]
            if any(isinstance(a, Traced) for a in cols):
                return transpose(stack(*cols, axis=0), axes=(1, 0))
            return np.array(cols, dtype=float).reshape(len(cols), width).T
        a = adjs[0]
        if a is None:
            return np.zeros((width,) + inputs.shape)
        if isinstance(a, Traced):
            n = len(inputs.shape)
            if shape_of(a) != inputs.shape + (width,):
                a = broadcast_to(a, shape=inputs.shape + (width,))
            return transpose(a, axes=(n,) + tuple(range(n)))
        return np.moveaxis(np.array(np.broadcast_to(a, inputs.shape + (width,)), dtype=float), -1, 0)

    def counts(self) -> dict[str, int]:
        """What this recording and its sweeps did so far (``modes.counting`` reads it)."""
        tape = self.tape
        tape.settle_counts()
        return {
            "passes": 1,
            "sweeps": tape.sweeps,
            "ops": tape.ops,
            "updates": tape.updates,
            "tape_length": len(tape),
        }

    def __str__(self) -> str:
        return self.tape.format()

    def __repr__(self) -> str:
        return f"<Recording: {len(self.tape)} tape entries, value {self.value!r}>"

    def _repr_html_(self) -> str:
        """Jupyter: the tape as a table, one row per entry (see :mod:`modes.notebook`)."""
        from modes import notebook

        return notebook.recording_html(self)

    def _repr_markdown_(self) -> str:
        from modes import notebook

        return notebook.recording_markdown(self)


_FLOAT_OR_NONE = frozenset((float, type(None)))


def _any_nan(adjs: list[Any]) -> bool:
    """Whether any adjoint holds a nan (see :func:`modes.chain.has_nan`)."""
    if len(adjs) > 1:
        try:
            total = sum(adjs)  # a C loop over a list-style gradient's floats
        except (TypeError, ValueError):  # None (never reached), arrays of two shapes
            pass
        else:
            if type(total) is float:
                return total != total
    return any(a is not None and has_nan(a) for a in adjs)


def _gather(adjs: list[Any], inputs: Inputs) -> Any:
    """Input adjoints as the user's gradient: float, 1-D array or array shaped like x (fresh)."""
    if inputs.kind == "list":
        kinds = set(map(type, adjs))
        if kinds <= _FLOAT_OR_NONE:  # plain adjoints (set(map(type)) runs in C, not per entry here)
            if type(None) in kinds:
                adjs = [0.0 if a is None else a for a in adjs]
            return np.array(adjs, dtype=float)
        if any(isinstance(a, Traced) for a in adjs):
            return stack(*[0.0 if a is None else a for a in adjs], axis=0)
        return np.array([0.0 if a is None else a for a in adjs], dtype=float)
    a = adjs[0]
    if isinstance(a, Traced):
        return a
    if a is None:
        return np.zeros(inputs.shape) if inputs.shape else 0.0
    if inputs.kind == "scalar":
        return float(a)
    if shape_of(a) == inputs.shape:
        return np.array(a, dtype=float)  # a copy: an adjoint may be a view of the seed or a constant
    return np.array(np.broadcast_to(a, inputs.shape), dtype=float)


def record(f: Callable[[Any], Any], x: Any) -> Recording:
    """Run ``f`` at ``x`` once, recording its tape; sweep it with ``Recording.backward``."""
    return record_inputs(f, parse_inputs(x))


def record_inputs(f: Callable[[Any], Any], inputs: Inputs) -> Recording:
    """:func:`record` for an already validated ``x`` (:func:`modes.inputs.parse_inputs`)."""
    tape = Tape()
    try:
        if inputs.kind == "list":
            arg: Any = tape.inputs(inputs.items)
            nodes = list(range(len(arg)))
        else:
            arg = tape.input(inputs.items)
            nodes = [arg.index]
        out = call(f, arg)
    finally:
        tape.close()
    return Recording(tape, inputs, nodes, out)


def value_and_grad(f: Callable[[Any], Any], inputs: Inputs) -> tuple[Any, Any, Callable[[], dict], Tape]:
    """Value and gradient of a scalar ``f``: one recording, one sweep (and how to count them)."""
    rec = record_inputs(f, inputs)
    value = rec.value
    if type(value) is not float:
        require_scalar(value)
    if rec._depends:  # Recording.backward(1.0) without its checks: the seed is a float here
        g = _gather(rec.tape.backward(rec.out.index, 1.0, rec.input_nodes), inputs)
    else:
        g = rec.backward(1.0)
    return value, g, rec.counts, rec.tape


def jacobian(
    f: Callable[[Any], Any], inputs: Inputs, chunk: int | None = None
) -> tuple[Any, Any, Callable[[], dict], Tape]:
    """Value and Jacobian (``out.shape + x.shape``): one recording, ``ceil(m / c)`` sweeps.

    Each sweep carries ``c = chunk`` cotangent directions at once (vector mode: adjoints have a
    trailing axis of width ``c``, as forward tangents do) and gives ``c`` rows. Without a chunk it
    is one sweep per output entry, the textbook reverse mode (as ``chunk=1`` is forward mode's).
    """
    rec = record_inputs(f, inputs)
    out_shape = rec.out_shape
    m = int(np.prod(out_shape)) if out_shape else 1
    if m == 1 and not out_shape:
        return rec.value, rec.backward(1.0), rec.counts, rec.tape
    c = 1 if chunk is None else choose_chunk(m, chunk)
    blocks = []
    for start in range(0, m, c) if m else ():
        width = min(c, m - start)
        seed = np.zeros((m, width))
        seed[np.arange(start, start + width), np.arange(width)] = 1.0
        blocks.append(rec.backward_chunk(seed.reshape(out_shape + (width,))))
    if any(isinstance(b, Traced) for b in blocks):
        J = blocks[0] if len(blocks) == 1 else concatenate(*blocks, axis=0)
        J = reshape(J, shape=out_shape + inputs.shape)
    elif blocks:
        J = np.concatenate(blocks, axis=0).reshape(out_shape + inputs.shape)
    else:
        J = np.zeros(out_shape + inputs.shape)
    return rec.value, J, rec.counts, rec.tape


def vjp(f: Callable[[Any], Any], inputs: Inputs, u: Any) -> tuple[Any, Any, Callable[[], dict], Tape]:
    """Value of ``f`` and ``u^T J`` (shaped like ``x``) from one recording and one sweep."""
    rec = record_inputs(f, inputs)
    g = rec.backward(u)
    return rec.value, g, rec.counts, rec.tape
