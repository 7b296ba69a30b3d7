"""Record once, replay many: ``modes.compile(f, x)`` (CppAD's ADFun, ReverseDiff's compiled tape).

``compile`` runs ``f`` once at ``x`` under the reverse engine and keeps the recorded operation
sequence: per tape entry its primitive, its operands (earlier entries or constants) and its
params. A *replay* evaluates that sequence at a new point without running ``f``: the Python
around the primitives (loops, indexing, function calls) is gone. The sequence is itself a
function of primitives, so every sweep comes from the engines as they are:

* ``.grad`` / ``.value_and_grad`` / ``.vjp``: the reverse engine records the replayed sequence
  and sweeps it backwards (tangents and adjoints over the *same* operation sequence, as in CppAD);
* ``.jvp``: the forward engine pushes a tangent through it;
* fast path: a sequence of scalar float operations (``f`` given a float or a list of floats) is
  turned once into one straight-line Python function computing value and gradient, generated from
  our own instruction list (names we make, float literals via ``repr``, the kernels and the rule
  table's partials traced symbolically), never from user strings. Its results are the engines'
  bit for bit: same kernels, same products in the same order; on anything unusual (a NaN in the
  gradient, where the engines' strong-zero convention matters; a math domain error; a changed
  branch) it hands over to the engine path above, which then decides.

**Branch guard** (``modes/guard.py``): comparisons, ``bool(v)`` and ``modes.primal`` reads of
recorded values are noted while ``f`` runs and re-checked, in tape order, at every replay. If one
comes out differently the recorded sequence is not ``f``'s at that point: ``BranchChangedError``
(naming the check, its tape position, recorded vs now), or with ``on_branch_change="rerecord"``
``f`` is recorded again at the new point (``.recordings`` counts recordings). Choices a primitive
makes (``maximum``/``minimum`` sides, ``abs``/``relu`` signs, ``where`` on an engine condition,
``logsumexp``'s shift) are recomputed by the replay itself and need no guard.

A replay cannot see, and so reproduces as recorded: closures over mutable state, random numbers
drawn inside ``f``, and ``v.value`` read directly (use ``modes.primal``, which is guarded).

Nesting: replaying at engine values (``modes.grad(lambda x: c.grad(x) @ w, x)``) works: the
sequence's primitives are recorded by the enclosing differentiation. Compiling at engine values,
or a ``f`` that opens a trace of its own (``modes.grad``, ``checkpoint``, ``loop``, a replay), is
refused with a clear error: the rule table decides some partials on primal values (``abs``,
``maximum``, ``relu``, ``pow``), and a derivative taken inside ``f`` would freeze those decisions
into the tape (checkpointed steps might be safe to replay, but are refused with the rest).
"""

from __future__ import annotations

import builtins
import math
import operator
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from modes import forward, guard, reverse, stats
from modes.core import ModesError, Primitive, Trace, Traced, last_level, primal, shape_of
from modes.guard import SYMBOLS, BranchChangedError
from modes.inputs import Inputs, as_plain, call, parse_direction, parse_inputs, require_scalar
from modes.reverse import Recording, Tape, Var
from modes.value import EngineValue

ON_BRANCH_CHANGE = ("raise", "rerecord")

# operand kinds of an instruction: an earlier tape entry, a constant, a constant derived from an entry
NODE, CONST, DERIVED = 0, 1, 2


def _freeze(obj: Any) -> Any:
    """A private copy of a constant or param (arrays copied, so later mutation cannot leak in)."""
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if type(obj) is tuple:
        return tuple(_freeze(o) for o in obj)
    return obj


def _same(a: Any, b: Any) -> bool:
    """Equal values (nan equal to nan), for re-checking a value read."""
    if type(a) is float and type(b) is float:
        return a == b or (a != a and b != b)
    return shape_of(a) == shape_of(b) and bool(np.array_equal(a, b, equal_nan=True))


def _show(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if type(v) is float or isinstance(v, (int, np.floating)):
        return f"{float(v):.6g}"
    return f"array{shape_of(v)}"


class Check:
    """One outcome the replay re-checks: a comparison, a truth test or a value read.

    ``operands`` are ``(NODE, k)`` or ``(CONST, value)``; ``position`` is the number of tape
    entries when the check was made (all its operands are earlier).
    """

    __slots__ = ("kind", "ufunc", "operands", "recorded", "position")

    def __init__(self, kind: str, ufunc: Any, operands: tuple, recorded: Any, position: int) -> None:
        self.kind = kind
        self.ufunc = ufunc
        self.operands = operands
        self.recorded = recorded
        self.position = position

    def describe(self) -> str:
        ops = [f"%{s[1]}" if s[0] == NODE else _show(s[1]) for s in self.operands]
        if self.kind == "compare":
            return f"{ops[0]} {SYMBOLS[self.ufunc]} {ops[1]}"
        if self.kind == "truth":
            return f"bool({ops[0]})"
        return f"modes.primal({ops[0]})"

    def now(self, vals: list[Any]) -> Any:
        """The outcome at the replayed values ``vals``."""
        xs = [primal(vals[s[1]]) if s[0] == NODE else s[1] for s in self.operands]
        if self.kind == "compare":
            r = self.ufunc(xs[0], xs[1])
            return bool(r) if isinstance(r, np.bool_) else r
        if self.kind == "truth":
            return bool(xs[0])
        return xs[0]

    def holds(self, now: Any) -> bool:
        rec = self.recorded
        if self.kind == "read":
            return _same(now, rec)
        if type(rec) is bool:
            return now is rec
        return shape_of(now) == shape_of(rec) and bool(np.array_equal(now, rec))


class _FlipError(Exception):
    """Internal: a check came out differently during a replay (turned into BranchChangedError)."""

    def __init__(self, check: Check, now: Any, vals: list[Any]) -> None:
        super().__init__(check.describe())
        self.check = check
        self.now = now
        self.operand_values = [primal(vals[s[1]]) for s in check.operands if s[0] == NODE]


class _Recorder(Tape):
    """The reverse engine's tape, also keeping every entry's operands and params for replay.

    It adds nothing to the engines' own path: the normal tape stores what a sweep needs (local
    partials), this one also what re-evaluating needs (constants, params), and it observes the
    guard's doors (``modes/guard.py``) while ``f`` runs.
    """

    __slots__ = ("captured", "checks", "derived_consts")

    def __init__(self) -> None:
        super().__init__()
        self.captured: dict[int, tuple[Primitive, tuple, dict]] = {}
        self.checks: list[Check] = []
        self.derived_consts: dict[int, tuple[Any, int, Callable[[Any], Any]]] = {}

    def scalar1(self, prim: Primitive, out: float, a: Var, d: Any, c: float, i: int) -> Var:
        v = Tape.scalar1(self, prim, out, a, d, c, i)
        self._capture(v, prim, (a, c) if i == 0 else (c, a), {})
        return v

    def scalar2(self, prim: Primitive, out: float, a: Var, da: Any, b: Var, db: Any) -> Var:
        v = Tape.scalar2(self, prim, out, a, da, b, db)
        self._capture(v, prim, (a, b), {})
        return v

    def process(self, prim: Primitive, args: tuple, params: dict) -> Var:
        out = Tape.process(self, prim, args, params)
        self._capture(out, prim, args, params)
        return out

    def _capture(self, out: Var, prim: Primitive, args: tuple, params: dict) -> None:
        specs = []
        for a in args:
            if isinstance(a, Traced):
                if a._trace is self:
                    specs.append((NODE, a.index))  # type: ignore[attr-defined]
                    continue
                raise ModesError(
                    "modes.compile: f used an engine value of an enclosing differentiation (is x, or a "
                    "value f closes over, being differentiated?); compile records at plain numbers: "
                    "compile outside and call .grad(x) / .jvp(x, v) inside instead"
                )
            d = self.derived_consts.get(id(a))
            if d is not None and d[0] is a:
                specs.append((DERIVED, d[1], d[2]))
            else:
                specs.append((CONST, _freeze(a)))
        self.captured[out.index] = (prim, tuple(specs), {k: _freeze(v) for k, v in params.items()})

    # -- the guard's doors (called through modes.guard while f runs) -------------------------------
    def _locate(self, v: Any) -> int | None:
        while isinstance(v, Traced):
            if v._trace is self:
                return v.index  # type: ignore[attr-defined]
            v = v.value  # type: ignore[attr-defined]
        return None

    def _operand(self, v: Any, k: int | None) -> tuple:
        return (NODE, k) if k is not None else (CONST, _freeze(primal(v)))

    def compared(self, ufunc: np.ufunc, a: Any, b: Any, result: Any) -> None:
        ka, kb = self._locate(a), self._locate(b)
        if ka is not None or kb is not None:
            ops = (self._operand(a, ka), self._operand(b, kb))
            self.checks.append(Check("compare", ufunc, ops, _freeze(result), len(self)))

    def truth(self, v: Any, result: bool) -> None:
        k = self._locate(v)
        if k is not None:
            self.checks.append(Check("truth", None, ((NODE, k),), result, len(self)))

    def read(self, v: Any, value: Any) -> None:
        k = self._locate(v)
        if k is not None:
            self.checks.append(Check("read", None, ((NODE, k),), _freeze(value), len(self)))

    def derived(self, source: Any, obj: Any, fn: Callable[[Any], Any]) -> None:
        k = self._locate(source)
        if k is not None:
            self.derived_consts[id(obj)] = (obj, k, fn)


class Program:
    """A recorded operation sequence as a function of primitives (what a replay evaluates).

    ``steps`` hold, in tape order, instructions ``(k, primitive, operands, params)`` and, at their
    tape position, the checks ``(None, check)``. Calling the program on engine values records it
    on their trace; on plain numbers it computes the value.
    """

    def __init__(self, recorder: _Recorder, recording: Recording) -> None:
        self.recording = recording
        self.inputs = recording.inputs
        self.input_nodes = list(recording.input_nodes)
        self.output_node = recording.output_node
        self.value = recording.value
        self.length = len(recording.tape)
        self.checks = list(recorder.checks)
        self.instructions: list[tuple[int, Primitive, tuple, dict]] = []
        steps: list[tuple] = []
        checks = self.checks
        ci = 0
        for node in recording.nodes():  # the recording's public read, cross-checked with what we kept
            k = node.index
            while ci < len(checks) and checks[ci].position <= k:
                steps.append((None, checks[ci]))
                ci += 1
            if node.primitive is None:
                continue
            captured = recorder.captured.get(k)
            parents = None if captured is None else tuple(s[1] for s in captured[1] if s[0] == NODE)
            if captured is None or captured[0] is not node.primitive or parents != node.parents:
                raise ModesError(f"modes.compile: tape entry %{k} was not captured (internal error)")
            ins = (k, captured[0], captured[1], captured[2])
            self.instructions.append(ins)
            steps.append(ins)
        steps.extend((None, c) for c in checks[ci:])
        self.steps = steps
        self._fast: Any = None
        self._fast_built = False

    def __call__(self, arg: Any) -> Any:
        """Evaluate the sequence at ``arg`` (f's argument form); raise ``_FlipError`` if a check differs."""
        vals: list[Any] = [None] * self.length
        if self.inputs.kind == "list":
            for k, a in zip(self.input_nodes, arg):
                vals[k] = a
        else:
            vals[self.input_nodes[0]] = arg
        for step in self.steps:
            k = step[0]
            if k is None:
                check = step[1]
                now = check.now(vals)
                if not check.holds(now):
                    raise _FlipError(check, now, vals)
                continue
            args = [
                vals[s[1]] if s[0] == NODE else (s[1] if s[0] == CONST else s[2](primal(vals[s[1]])))
                for s in step[2]
            ]
            vals[k] = step[1](*args, **step[3])
        if self.output_node is None:
            v = self.value
            return v.copy() if isinstance(v, np.ndarray) else v
        return vals[self.output_node]

    @property
    def fast(self) -> Callable[[Any, float], Any] | None:
        """The generated value-and-gradient function, or ``None`` when the sequence is not scalar."""
        if not self._fast_built:
            self._fast = _generate(self)
            self._fast_built = True
        return self._fast


# ----------------------------------------------------------------------------- code generation


class _NeedsValueError(Exception):
    """A rule asked for a number while being traced symbolically: call it at run time instead."""


class _Sym(EngineValue):
    """A float that exists only as a name in generated code (used to trace rules symbolically)."""

    __slots__ = ("name", "_trace")

    def __init__(self, name: str, trace: _CodeTrace) -> None:
        self.name = name
        self._trace = trace

    @property
    def value(self) -> Any:  # type: ignore[override]
        raise _NeedsValueError


#: The scalar kernels written as Python operators in generated code (the kernels' own float path).
_INLINE = {
    operator.add: "{} + {}",
    operator.sub: "{} - {}",
    operator.mul: "{} * {}",
    operator.truediv: "{} / {}",
    operator.neg: "-{}",
}


class _Emitter:
    """Names and lines of one generated function."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {}
        self._names: dict[int, str] = {}
        self.counter = 0

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ref(self, obj: Any, prefix: str) -> str:
        """A name in the generated function's globals bound to ``obj``."""
        name = self._names.get(id(obj))
        if name is None:
            name = f"{prefix}{len(self._names)}"
            self._names[id(obj)] = name
            self.ns[name] = obj
        return name

    def const(self, c: Any) -> str:
        if type(c) is bool:
            return "True" if c else "False"
        if type(c) is int:
            c = float(c)
        if type(c) is float:
            return f"({c!r})" if math.isfinite(c) else self.ref(c, "C")
        raise _NeedsValueError

    def apply(self, prim: Primitive, operands: list[str]) -> str:
        scalar = getattr(prim.impl, "scalar", prim.impl)
        template = _INLINE.get(scalar)
        if template is not None and template.count("{}") == len(operands):
            return template.format(*operands)
        return f"{self.ref(scalar, 'F')}({', '.join(operands)})"


class _CodeTrace(Trace):
    """Runs a rule of the table on symbolic floats: each primitive it applies becomes an expression.

    Expressions nest (a rule is a handful of primitives), so a partial is one expression; the
    kernels are pure, so an operand used twice is merely computed twice.
    """

    __slots__ = ("em",)

    def __init__(self, em: _Emitter) -> None:
        super().__init__()
        self.em = em

    def operand(self, a: Any) -> str:
        if isinstance(a, _Sym) and a._trace is self:
            return a.name
        if isinstance(a, Traced):
            raise _NeedsValueError
        return self.em.const(a)

    def process(self, prim: Primitive, args: tuple, params: dict) -> _Sym:
        if params:
            raise _NeedsValueError
        return _Sym(f"({self.em.apply(prim, [self.operand(a) for a in args])})", self)


def _partial_code(em: _Emitter, prim: Primitive, i: int, operands: list[tuple[str, Any]], out: str) -> str:
    """An expression for the local partial of ``prim`` in argument ``i`` (a name, literal or ``(...)``).

    ``operands`` are ``(code, constant)`` pairs (``constant`` is ``None`` for a value known only at
    run time). The rule is traced symbolically where it can be (each primitive it applies becomes
    a subexpression); a rule that reads a number (``abs``, ``maximum``: ``primal``) is called at
    run time.
    """
    rule = prim.partials[i]  # type: ignore[index]
    if type(rule) is float:
        return em.const(rule)
    trace = _CodeTrace(em)
    try:
        args = [_Sym(code, trace) if c is None else c for code, c in operands]
        res = rule(*args, _Sym(out, trace))
        if isinstance(res, _Sym) and res._trace is trace:
            return res.name
        if type(res) in (float, int):
            return em.const(float(res))
    except Exception:  # any failure to trace means: call the rule at run time
        pass
    finally:
        trace.close()
    codes = [code for code, _ in operands]
    return f"{em.ref(rule, 'R')}({', '.join([*codes, out])})"


def _scalar_program(p: Program) -> bool:
    if p.inputs.kind not in ("list", "scalar") or p.inputs.nested:
        return False
    if any(type(n.value) is not float for n in p.recording.nodes()):
        return False
    for _, prim, specs, params in p.instructions:
        if prim.partials is None or params:
            return False
        for s in specs:
            if s[0] == CONST and type(s[1]) not in (float, int, bool):
                return False
    for c in p.checks:
        if c.kind != "read" and type(c.recorded) is not bool:
            return False
        if any(s[0] == CONST and type(s[1]) not in (float, int, bool) for s in c.operands):
            return False
    return True


def _generate(p: Program) -> Callable[[Any, float], Any] | None:
    """One straight-line function ``(x, seed) -> (value, input adjoints)`` for a scalar program.

    Returns ``None`` (the engine path serves) unless every entry is a float from an elementwise
    primitive. The generated function returns ``None`` when the engine path must decide.
    """
    if not _scalar_program(p) or p.output_node is None:
        return None
    em = _Emitter()
    body: list[str] = []
    operands: dict[int, list[tuple[str, Any]]] = {}
    if p.inputs.kind == "list":
        names = ", ".join(f"v{k}" for k in p.input_nodes)
        body.append(f"{names}, = x")
    else:
        body.append(f"v{p.input_nodes[0]} = x")
    for step in p.steps:
        k = step[0]
        if k is None:
            body.append(_check_code(em, step[1]))
            continue
        _, prim, specs, _params = step
        ops: list[tuple[str, Any]] = []
        for s in specs:
            if s[0] == NODE:
                ops.append((f"v{s[1]}", None))
            elif s[0] == CONST:
                ops.append((em.const(s[1]), s[1]))
            else:
                name = em.fresh("c")
                body.append(f"{name} = {em.ref(s[2], 'D')}(v{s[1]})")
                ops.append((name, None))
        operands[k] = ops
        body.append(f"v{k} = {em.apply(prim, [code for code, _ in ops])}")
    out = p.output_node
    live = {out}
    for k, _prim, specs, _ in reversed(p.instructions):
        if k in live:
            live.update(s[1] for s in specs if s[0] == NODE)
    # adj[k]: the expression holding node k's adjoint so far; a partial of 1 passes it on unchanged
    # (no statement), and every later contribution is one "a + d * g" as in the engine's sweep
    adj: dict[int, str] = {out: "seed"}
    for k, prim, specs, _ in reversed(p.instructions):
        if k not in live:
            continue
        gk = adj[k]
        for i, s in enumerate(specs):
            if s[0] != NODE:
                continue
            par = s[1]
            d = _partial_code(em, prim, i, operands[k], f"v{k}")
            term = gk if d == "(1.0)" else f"{d} * {gk}"
            if par in adj:
                body.append(f"g{par} = {adj[par]} + {term}")
            elif term == gk:
                adj[par] = gk
                continue
            else:
                body.append(f"g{par} = {term}")
            adj[par] = f"g{par}"
    grads = ", ".join(adj.get(k, "0.0") for k in p.input_nodes)
    body.append(f"return v{out}, [{grads}]")
    src = ["def replay(x, seed):", "    try:"]
    src.extend(f"        {line}" for line in body)
    src.append("    except (ValueError, OverflowError, ZeroDivisionError):")
    src.append("        return None")
    code = builtins.compile("\n".join(src), "<modes.compile replay>", "exec")  # our instruction list only
    ns = dict(em.ns)
    exec(code, ns)  # generated from the recorded instruction list, no user strings
    return ns["replay"]


def _check_code(em: _Emitter, check: Check) -> str:
    ops = [f"v{s[1]}" if s[0] == NODE else em.const(s[1]) for s in check.operands]
    if check.kind == "compare":
        test = f"({ops[0]} {SYMBOLS[check.ufunc]} {ops[1]})"
    elif check.kind == "truth":
        test = f"({ops[0]})"
    else:
        return f"if not {em.ref(_same, 'S')}({ops[0]}, {em.ref(check.recorded, 'C')}): return None"
    return f"if not {test}: return None" if check.recorded else f"if {test}: return None"


# --------------------------------------------------------------------------------- public API


class Compiled:
    """``f`` recorded once; gradients, jvps and vjps at new points by replaying that recording.

    Made by :func:`compile`. ``recordings`` counts how often ``f`` has been run (1 after compile;
    ``on_branch_change="rerecord"`` adds one per point whose branches differ). ``compile_seconds``
    is the one-off cost (recording ``f`` and building the replay), to set against per-call times.
    """

    def __init__(self, f: Callable[[Any], Any], x: Any, on_branch_change: str = "raise") -> None:
        if not callable(f):
            raise TypeError(f"argument 'f' must be callable, got {type(f).__name__}")
        if on_branch_change not in ON_BRANCH_CHANGE:
            raise ValueError(f"on_branch_change must be 'raise' or 'rerecord', got {on_branch_change!r}")
        inputs = parse_inputs(x)
        if inputs.nested:
            raise ModesError(
                "modes.compile records at plain numbers, but x holds engine values of an enclosing "
                "differentiation; compile outside it and call .grad(x) / .jvp(x, v) inside instead"
            )
        self.f = f
        self.on_branch_change = on_branch_change
        self.kind = inputs.kind
        self.shape = inputs.shape
        self.recordings = 0
        start = time.perf_counter()
        self.program = self._record(inputs)
        self.program.fast  # noqa: B018 - build the generated code now: part of the one-off cost
        self.compile_seconds = time.perf_counter() - start

    # -- recording ------------------------------------------------------------------------------
    def _record(self, inputs: Inputs) -> Program:
        tape = _Recorder()
        guard.OBSERVERS.append(tape)
        try:
            if inputs.kind == "list":
                arg: Any = [tape.input(v) for v in inputs.items]
                nodes = [a.index for a in arg]
            else:
                arg = tape.input(inputs.items)
                nodes = [arg.index]
            out = call(self.f, arg)
        finally:
            guard.OBSERVERS.remove(tape)
            tape.close()
        if last_level() != tape.level:  # this thread opened no trace inside f
            raise ModesError(
                "modes.compile cannot replay a differentiation run inside f (modes.grad, jvp, hessian, "
                "checkpoint, loop or a compiled replay opened its own trace while f was recorded): the "
                "rule table decides some partials (abs, maximum, relu, pow) on primal values, which a "
                "replay would freeze. Compile a function that does not differentiate, and differentiate "
                "its replay instead"
            )
        self.recordings += 1
        return Program(tape, Recording(tape, inputs, nodes, out))

    @property
    def recording(self) -> Recording:
        """The recording currently replayed (readable: ``.nodes()``, ``str()``)."""
        return self.program.recording

    # -- inputs ---------------------------------------------------------------------------------
    def _parse(self, x: Any) -> Inputs:
        inputs = parse_inputs(x)
        if inputs.kind != self.kind:
            raise TypeError(
                f"this function was compiled for {_kind_name(self.kind, self.shape)} and cannot replay "
                f"{_kind_name(inputs.kind, inputs.shape)}: f would see a different kind of argument"
            )
        if inputs.shape != self.shape:
            raise ValueError(
                f"this function was compiled for x of shape {self.shape}, got shape {inputs.shape}; "
                "a recorded tape replays at inputs of the recorded shape only (compile again)"
            )
        return inputs

    def _fast_inputs(self, x: Any) -> Any:
        """``x`` itself when the generated code can take it as is (floats of the recorded structure)."""
        if self.kind == "list":
            if type(x) is list and len(x) == self.shape[0]:
                for v in x:
                    if type(v) is not float:
                        return None
                return x
            return None
        return x if type(x) is float else None

    # -- replays ---------------------------------------------------------------------------------
    def _replay(self, x: Any, run: Callable[[Program, Inputs], Any], fast: Callable | None = None) -> Any:
        """Run ``run(program, inputs)``; on a changed branch raise or re-record, as configured."""
        if fast is not None and stats.active() is None:
            xs = self._fast_inputs(x)
            gen = self.program.fast
            if xs is not None and gen is not None:
                result = fast(gen, xs)
                if result is not None:
                    return result
        inputs = self._parse(x)
        try:
            return run(self.program, inputs)
        except _FlipError as flip:
            if self.on_branch_change == "raise":
                raise self._error(flip) from None
        self.program = self._record(inputs)  # at x itself, so its checks hold at x
        return run(self.program, inputs)

    def _error(self, flip: _FlipError) -> BranchChangedError:
        c = flip.check
        nodes = [f"%{s[1]}" for s in c.operands if s[0] == NODE]
        values = ", ".join(f"{n} = {_show(v)}" for n, v in zip(nodes, flip.operand_values))
        what = {"compare": "comparison", "truth": "truth test", "read": "value read"}[c.kind]
        recorded, now = c.recorded, flip.now
        if c.kind == "read":
            outcome = f"read {_show(recorded)} when f was recorded and reads {_show(now)} at this x"
        elif type(recorded) is bool:
            outcome = f"was {recorded} when f was recorded and is {now} at this x"
        else:
            differ = np.argwhere(np.asarray(now) != np.asarray(recorded))
            outcome = (
                f"differs at this x in {len(differ)} of {np.size(recorded)} entries "
                f"(first at index {tuple(int(i) for i in differ[0])})"
            )
        return BranchChangedError(
            f"{what} `{c.describe()}` (made after tape entry %{c.position - 1}) {outcome} ({values}): "
            "f would take a different branch here, so the recorded tape does not apply. Record again "
            "at this x (modes.compile(f, x)) or compile with on_branch_change='rerecord'",
            check=c.describe(),
            position=c.position,
            recorded=recorded,
            now=now,
        )

    def value_and_grad(self, x: Any) -> tuple[Any, Any]:
        """``(f(x), gradient)`` by replaying the recorded tape at ``x`` (shaped as ``modes.grad``'s)."""
        return self._replay(x, _reverse_grad, lambda gen, xs: self._fast_grad(gen, xs, 1.0))

    def grad(self, x: Any) -> Any:
        """The gradient of the scalar ``f`` at ``x``, by replaying the recorded tape."""
        return self.value_and_grad(x)[1]

    def jacobian(self, x: Any) -> Any:
        """The Jacobian (``f(x).shape + x.shape``): the replayed tape swept once per output entry."""
        return self._replay(x, lambda p, inputs: stats.counted("reverse", reverse.jacobian, p, inputs))[1]

    def vjp(self, x: Any, u: Any) -> tuple[Any, Any]:
        """``(f(x), u^T J)``, shaped like ``x``: the replayed tape swept backwards from ``u``."""
        if u is None:
            raise TypeError("argument 'u' must be numeric, got NoneType")
        fast = None
        if type(u) is float and self.program.value is not None and shape_of(self.program.value) == ():
            fast = lambda gen, xs: self._fast_grad(gen, xs, u)
        return self._replay(x, lambda p, inputs: stats.counted("reverse", reverse.vjp, p, inputs, u), fast)

    def jvp(self, x: Any, v: Any) -> tuple[Any, Any]:
        """``(f(x), J v)``: a tangent pushed forwards through the same recorded tape."""

        def run(p: Program, inputs: Inputs) -> Any:
            d = parse_direction(v, inputs.shape, "v")
            if inputs.kind == "list":
                d = list(d) if not isinstance(d, np.ndarray) else [float(e) for e in d]
            return stats.counted("forward", forward.jvp, p, inputs, d)

        return self._replay(x, run)

    def value(self, x: Any) -> Any:
        """``f(x)`` by replaying the recorded operations on plain numbers (guard included)."""
        return self._replay(x, lambda p, inputs: as_plain(p(inputs.items)))

    def _fast_grad(self, gen: Callable, xs: Any, seed: float) -> Any:
        r = gen(xs, seed)
        if r is None:
            return None
        value, gs = r
        if self.kind == "scalar":
            g = gs[0]
            return None if g != g else (value, g)
        total = sum(gs)
        if total != total:  # a nan somewhere: the engines' strong-zero convention decides
            return None
        return value, np.array(gs, dtype=float)

    def __repr__(self) -> str:
        fast = "generated code" if self.program.fast is not None else "engine replay"
        return (
            f"<Compiled {getattr(self.f, '__name__', 'f')}: {self.program.length} tape entries, "
            f"{len(self.program.checks)} guarded checks, {fast}, recordings={self.recordings}>"
        )


def _kind_name(kind: str, shape: tuple[int, ...]) -> str:
    if kind == "list":
        return f"a list of {shape[0]} floats"
    if kind == "scalar":
        return "a float"
    return f"a NumPy array of shape {shape}"


def _reverse_grad(p: Program, inputs: Inputs) -> tuple[Any, Any]:
    value, g = stats.counted("reverse", reverse.value_and_grad, p, inputs)
    require_scalar(value)
    return value, g


def compile(f: Callable[[Any], Any], x: Any, *, on_branch_change: str = "raise") -> Compiled:  # noqa: A001
    """Record ``f`` at ``x`` once; the result replays that recording at new points.

    ``.grad(x)``, ``.value_and_grad(x)``, ``.vjp(x, u)`` (reverse sweeps) and ``.jvp(x, v)`` (a
    forward sweep) all evaluate the same recorded operation sequence without running ``f``. A
    replay re-checks every comparison, truth test and ``modes.primal`` read made while recording;
    where one differs, ``on_branch_change="raise"`` raises :class:`modes.BranchChangedError` and
    ``"rerecord"`` records ``f`` again at that point (``.recordings`` counts). New points must have
    the recorded type and shape.
    """
    return Compiled(f, x, on_branch_change)
