"""Checkpointing: trade reverse mode's memory for recomputation.

Reverse mode keeps every intermediate until the sweep. ``checkpoint(fn)`` keeps only what ``fn``
receives and returns: under reverse mode its call is *one* tape entry, a primitive whose
transpose re-runs ``fn`` on the saved inputs under a fresh recording and sweeps that. ``loop(step,
carry, steps, snapshots=s)`` does the same for a whole loop and reverses it with Griewank and
Walther's binomial schedule (``modes/revolve.py``): ``s`` stored states and at most ``r * steps``
step evaluations in the sweep, ``r`` the smallest integer with ``C(s + r, s) >= steps``.

Both are built on the shared protocol (``modes/core.py``), not on special cases in the engines:

* the call binds a :class:`~modes.core.Primitive` whose arguments are the carry's entries and the
  engine values ``fn`` *closes over* (found by running ``fn`` once under a scope that sees every
  foreign engine value it combines with its arguments, JAX-style closure conversion), so
  gradients reach parameters used inside ``fn`` without passing them in;
* its reverse rule (``vjp``, one per argument) records ``fn`` again with ``Tape`` inputs, the
  public engine API, so it nests: the recomputation runs on whatever values the outer sweep
  hands it (engine values of an enclosing differentiation for grad-of-grad and Hessian-vector
  products), and ``checkpoint`` inside ``checkpoint`` checkpoints at each level;
* under forward mode (dual numbers) and on plain numbers nothing is recorded, so ``fn`` simply
  runs: a dual evaluation of ``fn`` *is* its jvp, with the same cost as without checkpointing.

A limit of closure conversion by tracing: the computations ``fn`` does on closed-over engine
values *alone* (``xs[t]``, ``W.T``) are not part of the call; when the recording they belong to
has finished before the sweep, recomputing them fails with :class:`CheckpointError` (compute such
values outside ``fn`` and pass them in).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from modes import ops, revolve, stats
from modes.core import MixedTraceError, ModesError, PerArgument, Primitive, Trace, Traced, primal, shape_of
from modes.reverse import Tape
from modes.value import EngineValue


class CheckpointError(ModesError):
    """A checkpointed function could not be recomputed during the backward sweep."""


# ----------------------------------------------------------------------- carries: leaves and structure

Spec = Any  # None for one value; (list | tuple, (subspecs...)) for a sequence


def _leaf(x: Any, where: str) -> Any:
    if isinstance(x, Traced):
        return x
    if isinstance(x, (bool, np.bool_)) or not (
        isinstance(x, (int, float, np.integer, np.floating, np.ndarray))
    ):
        raise TypeError(
            f"{where} must be a number, a NumPy array, an engine value, or a list or tuple of them; "
            f"got {type(x).__name__}"
        )
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise TypeError(f"{where} must hold real numbers, got an array of dtype {x.dtype}")
        return float(x) if x.ndim == 0 else x.astype(np.float64, copy=False)
    return float(x)


def _flatten(x: Any, where: str) -> tuple[list[Any], Spec]:
    """The leaves of a carry and its structure (plain recursion: no closures, so no garbage cycles)."""
    leaves: list[Any] = []
    return leaves, _walk(x, where, leaves)


def _walk(v: Any, where: str, leaves: list[Any]) -> Spec:
    if type(v) is list or type(v) is tuple:
        if not v:
            raise TypeError(f"{where} is an empty {type(v).__name__}")
        return (type(v), tuple(_walk(e, f"{where}[{i}]", leaves) for i, e in enumerate(v)))
    leaves.append(_leaf(v, where))
    return None


def _unflatten(spec: Spec, leaves: list[Any]) -> Any:
    if spec is None:
        return leaves[0]
    return _build(spec, iter(leaves))


def _build(spec: Spec, it: Iterator[Any]) -> Any:
    if spec is None:
        return next(it)
    kind, subs = spec
    return kind(_build(s, it) for s in subs)


def _describe(spec: Spec, shapes: list[tuple[int, ...]]) -> str:
    return _show(spec, iter(shapes))


def _show(spec: Spec, it: Iterator[tuple[int, ...]]) -> str:
    if spec is None:
        return f"shape {next(it)}"
    kind, subs = spec
    return f"a {kind.__name__} of [{', '.join(_show(s, it) for s in subs)}]"


def _pack(leaves: list[Any]) -> Any:
    """The carry as one value (the primitive's output): itself, or its entries raveled end to end."""
    if len(leaves) == 1:
        return leaves[0]
    return ops.concatenate([ops.reshape(v, (-1,)) for v in leaves])


def _unpack(packed: Any, shapes: list[tuple[int, ...]]) -> list[Any]:
    if len(shapes) == 1:
        return [packed]
    out = []
    k = 0
    for s in shapes:
        size = int(np.prod(s)) if s else 1
        if s:
            out.append(ops.reshape(ops.getitem(packed, slice(k, k + size)), s))
        else:
            out.append(ops.getitem(packed, k))
        k += size
    return out


def _zero_or(a: Any, shape: tuple[int, ...]) -> Any:
    """An adjoint from a sweep, with None (never reached) as zero and the input's exact shape."""
    if a is None:
        return np.zeros(shape) if shape else 0.0
    if type(a) is np.ndarray and a.shape == shape:
        return a  # fresh from the sweep that computed it
    if isinstance(a, Traced):
        return a if shape_of(a) == shape else ops.broadcast_to(a, shape)
    if not shape:
        return float(a)
    return np.array(np.broadcast_to(a, shape), dtype=float)


def _top(values: Any) -> Trace | None:
    top = None
    for v in values:
        if isinstance(v, Traced):
            tr = v._trace
            if top is None or tr.level > top.level:
                top = tr
    return top


# ------------------------------------------------------------------ the scope: closure conversion


class _Scoped(EngineValue):
    """A value inside a scoped evaluation of a checkpointed function."""

    __slots__ = ("value", "_trace")

    def __init__(self, value: Any, trace: _Scope) -> None:
        self.value = value
        self._trace = trace


_MISSING = object()


class _Scope(Trace):
    """Runs a function on substituted values: the trace of the innermost level, so every operation
    that involves the function's arguments passes through :meth:`process` first.

    ``subst`` maps engine values the function closes over (by identity) to what they stand for
    in this evaluation. With ``probe`` set, a closed-over value seen for the first time is noted
    in ``captures`` and replaced by its plain number (the evaluation is then a plain one);
    without it, unknown values pass through unchanged (their own trace handles them).
    """

    __slots__ = ("subst", "probe", "captures")

    def __init__(self, subst: dict[int, Any], probe: bool = False) -> None:
        super().__init__()
        self.subst = subst
        self.probe = probe
        self.captures: list[Any] = []

    def resolve(self, a: Any) -> Any:
        r = self.subst.get(id(a), _MISSING)
        if r is not _MISSING:
            return r
        if not self.probe:
            return a
        self.captures.append(a)  # kept alive, so its id stays unique
        r = primal(a)
        self.subst[id(a)] = r
        return r

    def unwrap(self, x: Any) -> Any:
        if isinstance(x, Traced):
            return x.value if x._trace is self else self.resolve(x)  # type: ignore[attr-defined]
        return x

    def process(self, prim: Primitive, args: tuple, params: dict) -> _Scoped:
        if not self.active:
            raise self.stale()
        vals = [self.unwrap(a) for a in args]
        return _Scoped(prim(*vals, **params), self)


# ------------------------------------------------------------------------- the primitive


class _ClosesOver(Exception):  # noqa: N818 - a signal inside bind(), never seen by users
    """A step given plain numbers returned an engine value: it closes over one (step ``step``)."""

    def __init__(self, step: int) -> None:
        super().__init__(step)
        self.step = step


class _Forward(NamedTuple):
    """What a forward pass left for the first sweep: its inputs (by identity), output, snapshots."""

    key: tuple[Any, ...]
    out: Any
    slots: dict[int, list[Any]]
    live: list[Any]
    rest: Iterator[revolve.Action]  # the schedule from its first reverse action on


class _Checkpointed(Primitive):
    """``steps`` steps of a function reversed by a revolve schedule, bound as one primitive.

    Arguments: the carry's entries, then the engine values the steps close over. Output: the
    final carry, packed into one value. One instance per call (it holds that call's snapshots).
    """

    __slots__ = (
        "body",
        "steps",
        "snapshots",
        "n_in",
        "in_spec",
        "in_shapes",
        "out_spec",
        "out_shapes",
        "same_carry",
        "label",
        "captures",
        "_plain_attempt",
        "_fwd",
        "_cot",
    )

    def __init__(
        self,
        name: str,
        body: Callable[[int, list[Any]], Any],
        steps: int,
        snapshots: int,
        in_spec: Spec,
        in_shapes: list[tuple[int, ...]],
        same_carry: bool,
        label: str = "",
    ) -> None:
        super().__init__(name, self._impl, ("carry",), vjp=PerArgument(self._vjp_rule))
        self.body = body
        self.steps = steps
        self.snapshots = snapshots
        self.n_in = len(in_shapes)
        self.in_spec = in_spec
        self.in_shapes = in_shapes
        self.same_carry = same_carry
        self.label = label
        self.out_spec: Spec = in_spec if same_carry else _MISSING
        self.out_shapes: list[tuple[int, ...]] = in_shapes if same_carry else []
        self.captures: list[Any] = []
        self._plain_attempt = False
        self._fwd: _Forward | None = None
        self._cot: tuple[Any, tuple[Any, ...], dict[int, Any]] | None = None

    # -- evaluating steps ---------------------------------------------------------------------

    def _step(self, t: int, leaves: list[Any], scope: _Scope | None) -> list[Any]:
        if scope is not None:
            leaves = [_Scoped(v, scope) for v in leaves]
        raw = self.body(t, leaves)
        what = f"modes.loop: step {t}" if self.same_carry else f"modes.checkpoint({self.label})"
        out, spec = _flatten(raw, f"{what}: its result")
        if scope is not None:
            out = [scope.unwrap(v) for v in out]
        elif self._plain_attempt and any(isinstance(v, Traced) for v in out):
            raise _ClosesOver(t)
        shapes = [shape_of(v) for v in out]
        if self.out_spec is _MISSING:
            self.out_spec, self.out_shapes = spec, shapes
        elif spec != self.out_spec or shapes != self.out_shapes:
            if self.same_carry:
                raise ValueError(
                    f"{what} returned {_describe(spec, shapes)}, but the carry it received is "
                    f"{_describe(self.out_spec, self.out_shapes)}; a step must return a carry of the "
                    "same structure and shapes"
                )
            raise CheckpointError(
                f"{what} returned {_describe(spec, shapes)} when recomputed, but "
                f"{_describe(self.out_spec, self.out_shapes)} the first time"
            )
        return out

    def _scope(self, caps: tuple[Any, ...] | list[Any]) -> _Scope | None:
        if not self.captures:
            return None
        return _Scope({id(c): v for c, v in zip(self.captures, caps)})

    def _advance(
        self, leaves: list[Any], i: int, j: int, caps: Any, scope: _Scope | None = None
    ) -> list[Any]:
        own = scope is None
        if own:
            scope = self._scope(caps)
        try:
            for t in range(i, j):
                leaves = self._step(t, leaves, scope)
        finally:
            if own and scope is not None:
                scope.close()
        return leaves

    def _forward(self, leaves: list[Any], caps: Any, scope: _Scope | None = None) -> _Forward:
        """All steps, taking the schedule's first snapshots and keeping ``x_{T-1}``."""
        slots = {0: leaves}
        current = leaves
        actions = revolve.plan(self.steps, self.snapshots)
        for act in actions:
            if act.kind == "advance":
                current = self._advance(current, act.step, act.arg, caps, scope)
            elif act.kind == "store":
                slots[act.arg] = current
            else:  # the forward prefix of a schedule only advances and stores
                actions = itertools.chain([act], actions)
                break
        out = self._advance(current, self.steps - 1, self.steps, caps, scope)
        _count(step_evaluations=self.steps)
        return _Forward((), _pack(out), slots, current, actions)

    def _impl(self, *vals: Any) -> Any:
        fwd = self._fwd
        if fwd is not None and _same(fwd.key, vals):
            return fwd.out
        fwd = self._forward(list(vals[: self.n_in]), vals[self.n_in :])
        self._fwd = fwd._replace(key=vals)
        return fwd.out

    def direct(self, leaves: list[Any], caps: Any = ()) -> list[Any]:
        """Every step on the given values, nothing stored: plain numbers or forward mode."""
        out = self._advance(leaves, 0, self.steps, caps)
        _count(step_evaluations=self.steps)
        return out

    def __call__(self, *vals: Any, **params: Any) -> Any:
        """Route like any primitive, but evaluate directly when no tape is the innermost level."""
        top = _top(vals)
        if top is None:
            return self._impl(*vals)
        if isinstance(top, Tape):
            return top.process(self, vals, params)
        return _pack(self.direct(list(vals[: self.n_in]), vals[self.n_in :]))

    def bind(self, leaves: list[Any]) -> list[Any]:
        """The user's call: evaluate, find the closed-over values, and bind under reverse mode."""
        top = _top(leaves)
        if top is not None and not isinstance(top, Tape):
            return self.direct(leaves)
        plain = [primal(v) for v in leaves]
        try:  # first as plain numbers: a step that closes over no engine value returns plain ones
            self._plain_attempt = True
            fwd = self._forward(plain, ())
        except _ClosesOver as e:  # it does: find them, under a scope that sees every use
            _count(step_evaluations=e.step + 1)
            probe = _Scope({}, probe=True)
            try:
                fwd = self._forward(plain, (), probe)
            finally:
                probe.close()
            self.captures = probe.captures
        finally:
            self._plain_attempt = False
        vals = [*leaves, *self.captures]
        top = _top(vals)
        if top is None:
            return _unpack(fwd.out, self.out_shapes)
        if not isinstance(top, Tape):  # plain carry, closes over forward-mode values: run them
            return self.direct(leaves, self.captures)
        self._fwd = fwd._replace(key=(*plain, *(primal(c) for c in self.captures)))
        return _unpack(top.process(self, tuple(vals), {}), self.out_shapes)

    # -- the reverse rule ---------------------------------------------------------------------

    def _vjp_rule(self, i: int) -> Callable[..., Any]:
        def vjp(g: Any, *rest: Any) -> Any:
            primals = rest[:-1]
            cache = self._cot
            if cache is None or cache[0] is not g or not _same(cache[1], primals) or i not in cache[2]:
                cache = (g, primals, dict(enumerate(self._sweep(g, primals))))
                self._cot = cache
            return cache[2].pop(i)  # each cotangent is handed out once

        return vjp

    def _sweep(self, g: Any, primals: tuple[Any, ...]) -> list[Any]:
        """Cotangents of every argument: the revolve schedule from where the forward pass stopped."""
        caps = primals[self.n_in :]
        fwd = self._fwd
        if fwd is not None and _same(fwd.key, primals):
            self._fwd = None  # the sweep reuses (and then drops) the forward pass's snapshots
            slots, current, actions = fwd.slots, fwd.live, fwd.rest
        else:  # a later sweep, or values of another level: start again from x_0
            leaves = list(primals[: self.n_in])
            slots, current, actions = {0: leaves}, leaves, revolve.plan(self.steps, self.snapshots)
        seed = g
        adj_in: list[Any] = []
        adj_caps: list[Any] = [None] * len(caps)
        recomputed = recorded_ops = 0
        for act in actions:
            kind = act.kind
            if kind == "advance":
                current = self._advance(current, act.step, act.arg, caps)
                recomputed += act.arg - act.step
            elif kind == "store":
                slots[act.arg] = current
            elif kind == "restore":
                current = slots[act.arg]
            elif kind == "free":
                del slots[act.arg]
            else:
                adj_in, adj_c, n_ops = self._reverse(act.step, current, caps, seed)
                recomputed += 1
                recorded_ops += n_ops
                current = []
                for j, c in enumerate(adj_c):
                    if c is not None:
                        adj_caps[j] = c if adj_caps[j] is None else adj_caps[j] + c
                if act.step:
                    seed = _pack(adj_in)
        _count(step_evaluations=recomputed, recomputed_steps=recomputed, recomputed_ops=recorded_ops)
        return [*adj_in, *(_zero_or(a, shape_of(c)) for a, c in zip(adj_caps, caps))]

    def _reverse(self, t: int, leaves: list[Any], caps: Any, seed: Any) -> tuple[list[Any], list[Any], int]:
        """Record step ``t`` from ``leaves`` and sweep it with ``seed``: adjoints of its inputs."""
        tape = Tape()
        scope = None
        try:
            ins = [tape.input(v) for v in leaves]
            cap_vars = [tape.input(c) for c in caps]
            scope = self._scope(cap_vars)
            out = _pack(self._step(t, ins, scope))
        except MixedTraceError as e:
            raise CheckpointError(
                f"modes.{self.name}({self.label}): recomputing step {t} in the backward sweep used "
                "an engine value of a recording that has finished; this happens when the function "
                "computes with values it closes over *alone* (such as xs[t] or W.T): compute those "
                "outside and pass them in as arguments (or in the carry)"
            ) from e
        finally:
            tape.close()
            if scope is not None:
                scope.close()
        wanted = [v.index for v in (*ins, *cap_vars)]
        if isinstance(out, Traced) and out._trace is tape:
            adjs = tape.backward(out.index, seed, wanted)
        else:
            adjs = [None] * len(wanted)
        shapes = self.in_shapes if t == 0 else self.out_shapes
        adj_in = [_zero_or(a, s) for a, s in zip(adjs[: len(ins)], shapes)]
        return adj_in, adjs[len(ins) :], tape.ops


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _count(**counts: int) -> None:
    collector = stats.active()
    if collector is not None:
        for k, v in counts.items():
            setattr(collector, k, getattr(collector, k) + v)


# ------------------------------------------------------------------------------ public API


def checkpoint(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` that reverse mode does not look inside: its recording keeps only inputs and outputs.

    During the backward sweep ``fn`` is run again on the saved inputs under a fresh recording,
    so the memory of its intermediates is traded for one more evaluation. Arguments and results
    are numbers, arrays, engine values or (nested) lists and tuples of them; ``fn`` may use
    engine values it closes over (parameters) together with its arguments. Forward mode and
    plain evaluation are unaffected. Keyword arguments are not supported.
    """
    if not callable(fn):
        raise TypeError(f"checkpoint needs a callable, got {type(fn).__name__}")
    name = getattr(fn, "__name__", "fn")

    @functools.wraps(fn)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"modes.checkpoint({name}): pass arguments positionally (got {sorted(kwargs)})")
        where = f"modes.checkpoint({name}): argument "
        leaves, spec = _flatten(list(args), where) if args else ([], (list, ()))
        prog = _Checkpointed(
            "checkpoint",
            lambda t, xs: fn(*_unflatten(spec, xs)),
            1,
            1,
            spec,
            [shape_of(v) for v in leaves],
            same_carry=False,
            label=name,
        )
        out = prog.bind(leaves)
        return _unflatten(prog.out_spec, out)

    return checkpointed


def _check_count(name: str, v: Any, least: int) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"modes.loop: {name} must be an integer, got {type(v).__name__} {v!r}")
    if v < least:
        raise ValueError(f"modes.loop: {name} must be >= {least}, got {v}")
    return int(v)


def loop(step: Callable[[Any, int], Any], carry: Any, steps: int, *, snapshots: int | None = None) -> Any:
    """Run ``carry = step(carry, t)`` for ``t = 0 .. steps - 1`` and return the final carry.

    ``carry`` is a number, an array, an engine value, or a (nested) list or tuple of them; every
    step must return the same structure and shapes. ``snapshots=None`` records every step under
    reverse mode (the baseline). ``snapshots=s`` reverses the loop with revolve's binomial
    schedule: at most ``s`` stored carries (``s >= steps`` stores them all) and at most
    ``r * steps`` step evaluations in the sweep after the forward pass, ``r`` the smallest
    integer with ``C(s + r, s) >= steps``. Under forward mode and on plain numbers it is a plain
    loop. ``modes.counting()`` reports the step evaluations (and the peak memory with ``memory=True``).
    """
    if not callable(step):
        raise TypeError(f"modes.loop: step must be callable, got {type(step).__name__}")
    steps = _check_count("steps", steps, 0)
    if snapshots is not None:
        snapshots = min(_check_count("snapshots", snapshots, 1), max(steps, 1))
    leaves, spec = _flatten(carry, "modes.loop: carry")
    if steps == 0:
        return carry
    shapes = [shape_of(v) for v in leaves]
    prog = _Checkpointed(
        "loop",
        lambda t, xs: step(_unflatten(spec, xs), t),
        steps,
        steps if snapshots is None else snapshots,
        spec,
        shapes,
        same_carry=True,
        label=getattr(step, "__name__", "step"),
    )
    if snapshots is None:
        return _unflatten(spec, prog.direct(leaves))
    return _unflatten(spec, prog.bind(leaves))
