"""Reverse mode: a tape (Wengert list) recorded while f runs, swept backwards by a plain loop.

Recording stores, for every primitive applied, its parents and what its rule needs: the local
partials (elementwise ops, evaluated at record time as in the article's picture) or the primals
for a structure op's transpose. The tape is a flat list in execution order, so it is already
topologically sorted and the sweep is one backwards ``for`` loop: no recursion, any depth.
Adjoints live in a list owned by the sweep and are returned fresh; nothing is stored on nodes, so
one recording can be swept any number of times (one sweep per Jacobian row).

The tape holds the branches taken at the point where it was recorded: ``Recording.backward``
differentiates at that point only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from modes.chain import scale
from modes.core import Primitive, Trace, Traced, check_value, shape_of
from modes.inputs import Inputs, as_plain, call, parse_direction, parse_inputs, require_scalar
from modes.rules import reshape, stack, sum_to
from modes.value import EngineValue


class Var(EngineValue):
    """A tape variable: a value and its position on the tape."""

    __slots__ = ("value", "index", "_trace")

    def __init__(self, value: Any, index: int, tape: Tape) -> None:
        self.value = value
        self.index = index
        self._trace = tape

    def __repr__(self) -> str:
        return f"Var(%{self.index}, {self.value!r})"


class Node(NamedTuple):
    """One tape entry, readable: ``value = primitive(*parents)`` with ``partials`` per parent.

    ``partials`` is empty for structure primitives (their rule is a linear map, not a number).
    """

    index: int
    primitive: Primitive | None
    parents: tuple[int, ...]
    partials: tuple[Any, ...]
    value: Any


def _interleave(parents: list[int], data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for p, d in zip(parents, data):
        out.append(p)
        out.append(d)
    return out


class Tape(Trace):
    """The Wengert list. Entry ``k`` describes how node ``k`` was computed (``None``: an input).

    An entry is one flat tuple ``(primitive, extra, parent0, data0, parent1, data1, ...)`` (one
    allocation per operation: the tape is the engine's hot path). For an elementwise primitive
    ``data`` is the local partial with respect to that parent and ``extra`` the parents' shapes
    when broadcasting happened (else ``None``); for a structure primitive ``data`` is the
    argument position and ``extra`` the ``(primals, out, params)`` its transpose needs.
    Read entries through :meth:`node` rather than by position.
    """

    __slots__ = ("entries", "values", "n_inputs", "updates", "sweeps")

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple | None] = []
        self.values: list[Any] = []
        self.n_inputs = 0
        self.updates = 0
        self.sweeps = 0

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def ops(self) -> int:
        """Primitive evaluations recorded (entries that are not inputs)."""
        return len(self.entries) - self.n_inputs

    def input(self, value: Any) -> Var:
        """A new input node."""
        self.entries.append(None)
        self.values.append(value)
        self.n_inputs += 1
        return Var(value, len(self.entries) - 1, self)

    def process(self, prim: Primitive, args: tuple, params: dict) -> Var:
        if not self.active:
            raise self.stale()
        primals = []
        parents = []
        positions = []
        nested = False
        for i, a in enumerate(args):
            if isinstance(a, Traced):
                tr = a._trace
                if tr is self:
                    v = a.value  # type: ignore[attr-defined]
                    nested = nested or isinstance(v, Traced)
                    primals.append(v)
                    parents.append(a.index)  # type: ignore[attr-defined]
                    positions.append(i)
                    continue
                if not tr.active:
                    raise tr.stale()
                nested = True
            primals.append(a)
        out = prim(*primals, **params) if nested else prim.impl(*primals, **params)
        if type(out) is not float:
            check_value(prim, out)
        partials = prim.partials
        if partials is not None:
            ds = []
            shapes = None
            scalar_out = type(out) is float
            for j, i in enumerate(positions):
                rule = partials[i]
                if rule is None:
                    raise prim.missing_rule(i)
                ds.append(rule if type(rule) is float else rule(*primals, out))
                p = primals[i]
                if not (scalar_out and type(p) is float):
                    ps = shape_of(p)
                    if ps != shape_of(out):
                        if shapes is None:
                            shapes = [None] * len(positions)
                        shapes[j] = ps
            entry = (prim, shapes, *_interleave(parents, ds))
        else:
            vjps = prim.vjp
            for i in positions:
                if vjps is None or vjps[i] is None:
                    raise prim.missing_rule(i)
            entry = (prim, (tuple(primals), out, params), *_interleave(parents, positions))
        entries = self.entries
        entries.append(entry)
        self.values.append(out)
        return Var(out, len(entries) - 1, self)

    def binary(self, prim: Primitive, a: Any, b: Any) -> Var:
        """:meth:`process` for an elementwise primitive on scalar floats: the hot path of scalar code.

        Called by the operators of engine values (``modes/value.py``), which guarantee that each
        operand is a plain float or a value of this trace; anything else is handed to ``process``.
        """
        ta = type(a) is Var
        tb = type(b) is Var
        av = a.value if ta else a
        bv = b.value if tb else b
        if not (type(av) is float and type(bv) is float and self.active):
            return self.process(prim, (a, b), {})
        out = prim.impl(av, bv)
        if type(out) is not float:
            return self.process(prim, (a, b), {})
        rules = prim.partials
        if ta and tb:
            r0, r1 = rules[0], rules[1]
            if r0 is None or r1 is None:
                raise prim.missing_rule(0 if r0 is None else 1)
            entry = (
                prim,
                None,
                a.index,
                r0 if type(r0) is float else r0(av, bv, out),
                b.index,
                r1 if type(r1) is float else r1(av, bv, out),
            )
        elif ta:
            r0 = rules[0]
            if r0 is None:
                raise prim.missing_rule(0)
            entry = (prim, None, a.index, r0 if type(r0) is float else r0(av, bv, out))
        else:
            r1 = rules[1]
            if r1 is None:
                raise prim.missing_rule(1)
            entry = (prim, None, b.index, r1 if type(r1) is float else r1(av, bv, out))
        entries = self.entries
        entries.append(entry)
        self.values.append(out)
        return Var(out, len(entries) - 1, self)

    def backward(self, out_index: int, seed: Any, wanted: list[int] | None) -> list[Any]:
        """Sweep from node ``out_index`` with adjoint ``seed``; return the adjoints of ``wanted``.

        Nodes never reached keep adjoint ``None`` (the caller reads that as zero). Intermediate
        adjoints are dropped once used, unless ``wanted`` is ``None``: then every node's adjoint is
        kept and returned (:meth:`Recording.adjoints`).
        """
        keep_all = wanted is None
        entries = self.entries
        adj: list[Any] = [None] * len(entries)
        adj[out_index] = seed
        owned: set[int] = set()
        updates = 0
        for k in range(out_index, -1, -1):
            g = adj[k]
            if g is None:
                continue
            e = entries[k]
            if e is None:
                continue
            if not keep_all:
                adj[k] = None
            prim = e[0]
            extra = e[1]
            if prim.partials is not None:
                if extra is None and type(g) is float:
                    # scalar fast path: float partials, no broadcasting; nan goes to scale()
                    p = e[2]
                    d = e[3]
                    c = d * g if type(d) is float else scale(d, g)
                    if c != c:
                        c = scale(d, g)
                    a = adj[p]
                    adj[p] = c if a is None else a + c
                    if len(e) == 4:
                        updates += 1
                        continue
                    p = e[4]
                    d = e[5]
                    c = d * g if type(d) is float else scale(d, g)
                    if c != c:
                        c = scale(d, g)
                    a = adj[p]
                    adj[p] = c if a is None else a + c
                    if len(e) == 6:
                        updates += 2
                        continue
                    j0 = 6
                    updates += 2
                else:
                    j0 = 2
                for j in range(j0, len(e), 2):
                    p = e[j]
                    d = e[j + 1]
                    c = scale(d, g)
                    if extra is not None and extra[j // 2 - 1] is not None:
                        c = sum_to(c, extra[j // 2 - 1])
                    a = adj[p]
                    adj[p] = c if a is None else a + c
                    updates += 1
                continue
            primals, out, params = extra
            acc = prim.accumulate
            for j in range(2, len(e), 2):
                p = e[j]
                i = e[j + 1]
                updates += 1
                if acc is not None and type(g) is not float and not isinstance(g, Traced):
                    buf = adj[p]
                    if buf is None or p not in owned:
                        fresh = np.zeros(shape_of(primals[i]))
                        buf = fresh if buf is None else fresh + buf
                        adj[p] = buf
                        owned.add(p)
                    acc(buf, g, **params)
                    continue
                c = prim.vjp[i](g, *primals, out, **params)
                a = adj[p]
                if a is None:
                    adj[p] = c
                elif p in owned and isinstance(a, np.ndarray) and isinstance(c, np.ndarray):
                    a += c
                else:
                    adj[p] = a + c
        self.updates += updates
        self.sweeps += 1
        return adj if wanted is None else [adj[i] for i in wanted]

    def node(self, k: int) -> Node:
        """Node ``k`` in readable form: its primitive (None for an input), parents, partials."""
        e = self.entries[k]
        if e is None:
            return Node(k, None, (), (), self.values[k])
        prim = e[0]
        parents = tuple(e[2::2])
        partials = tuple(e[3::2]) if prim.partials is not None else ()
        return Node(k, prim, parents, partials, self.values[k])

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
            return sys.getsizeof(obj)

        return size(self.entries) + size(self.values)

    def format(self, limit: int | None = 50) -> str:
        """The tape as ReverseDiff-style lines ``%k = op(%i, %j)  value``, in execution order."""
        lines = []
        for k, e in enumerate(self.entries):
            if limit is not None and k >= limit:
                lines.append(f"... ({len(self.entries) - limit} more entries)")
                break
            v = self.values[k]
            shown = f"{v:.6g}" if type(v) is float else f"array{shape_of(v)}"
            if e is None:
                lines.append(f"%{k} = input  {shown}")
            else:
                args = ", ".join(f"%{p}" for p in e[2::2])
                lines.append(f"%{k} = {e[0].name}({args})  {shown}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


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
        self.value = as_plain(out.value if self._depends else out)

    @property
    def _depends(self) -> bool:
        return isinstance(self.out, Var) and self.out._trace is self.tape

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
        out_shape = self.out_shape
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

    def counts(self) -> dict[str, int]:
        """What this recording and its sweeps did so far (``modes.counting`` reads it)."""
        tape = self.tape
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


def _gather(adjs: list[Any], inputs: Inputs) -> Any:
    """Input adjoints as the user's gradient: float, 1-D array or array shaped like x (fresh)."""
    if inputs.kind == "list":
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
    return np.array(np.broadcast_to(a, inputs.shape), dtype=float)


def record(f: Callable[[Any], Any], x: Any) -> Recording:
    """Run ``f`` at ``x`` once, recording its tape; sweep it with ``Recording.backward``."""
    return record_inputs(f, parse_inputs(x))


def record_inputs(f: Callable[[Any], Any], inputs: Inputs) -> Recording:
    """:func:`record` for an already validated ``x`` (:func:`modes.inputs.parse_inputs`)."""
    tape = Tape()
    try:
        if inputs.kind == "list":
            arg: Any = [tape.input(v) for v in inputs.items]
            nodes = [a.index for a in arg]
        else:
            arg = tape.input(inputs.items)
            nodes = [arg.index]
        out = call(f, arg)
    finally:
        tape.close()
    return Recording(tape, inputs, nodes, out)


def value_and_grad(f: Callable[[Any], Any], inputs: Inputs) -> tuple[Any, Any, dict[str, int], Tape]:
    """Value and gradient of a scalar ``f``: one recording, one sweep."""
    rec = record_inputs(f, inputs)
    require_scalar(rec.value)
    g = rec.backward(1.0)
    return rec.value, g, rec.counts(), rec.tape


def jacobian(f: Callable[[Any], Any], inputs: Inputs) -> tuple[Any, Any, dict[str, int], Tape]:
    """Value and Jacobian (``out.shape + x.shape``): one recording, one sweep per output entry."""
    rec = record_inputs(f, inputs)
    out_shape = rec.out_shape
    m = int(np.prod(out_shape)) if out_shape else 1
    if m == 1 and not out_shape:
        J = rec.backward(1.0)
    else:
        rows = []
        for j in range(m):
            seed = np.zeros(m)
            seed[j] = 1.0
            rows.append(rec.backward(seed.reshape(out_shape)))
        if any(isinstance(r, Traced) for r in rows):
            J = reshape(stack(*rows, axis=0), shape=out_shape + inputs.shape)
        else:
            J = np.array(rows, dtype=float).reshape(out_shape + inputs.shape)
    return rec.value, J, rec.counts(), rec.tape


def vjp(f: Callable[[Any], Any], inputs: Inputs, u: Any) -> tuple[Any, Any, dict[str, int], Tape]:
    """Value of ``f`` and ``u^T J`` (shaped like ``x``) from one recording and one sweep."""
    rec = record_inputs(f, inputs)
    g = rec.backward(u)
    return rec.value, g, rec.counts(), rec.tape
