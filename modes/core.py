"""The shared protocol between the rule table and the engines.

A :class:`Primitive` is one operation of the expression API (``sin``, ``add``, ``sum``...). Calling
it *binds* it: with plain numbers it computes the value; with engine values it hands the call to
the engine (a :class:`Trace`) of the innermost differentiation among its arguments. That single
routing point is what lets one expression API be read by two engines, and lets engines nest.

Levels: every differentiation call opens a trace with a level number larger than any open one.
A value of level L may hold values of lower levels inside it (its primal, its tangent), never
higher ones, so perturbations of different nesting depths never mix.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from modes import registry


class ModesError(Exception):
    """Base class of the errors this library raises on purpose."""


class MissingRuleError(ModesError, NotImplementedError):
    """A primitive was differentiated with respect to an argument it has no rule for."""


class DerivativeDropError(ModesError, TypeError):
    """An engine value was converted to a plain number (``float(v)``), which would drop its derivative."""


class MixedTraceError(ModesError, ValueError):
    """Engine values from a finished (or foreign) recording were used in another one."""


class Primitive:
    """One operation: its numeric value function and its derivative rule, declared once.

    Rules come in two kinds (see ``modes/rules.py``):

    * ``partials``: one function per argument returning the *local partial derivative*
      (elementwise ops; the engines multiply it into tangents or adjoints and handle broadcasting);
    * ``jvp`` / ``vjp``: one tangent map taking every argument's tangent (``None`` for a
      constant) and, per argument, its transpose (structure ops such as ``sum``, ``reshape``,
      ``getitem``, ``tensordot``), written with primitives so they nest.

    A ``None`` entry means "not differentiable in this argument"; using it raises
    :class:`MissingRuleError` naming the primitive and the argument.

    ``public``, ``numpy`` and ``expression`` say how users reach the primitive: its name in
    :mod:`modes.ops`, the NumPy ufuncs or functions that dispatch to it on engine values, and
    whether the explain parser may call it (``modes/registry.py`` derives every table from them).

    ``structural_zeros`` and ``weightless`` tell the engines where a zero is *structural* (see
    ``modes/chain.py``): the first, that a zero local partial means the argument was not chosen
    or has no influence (``where``, ``relu``, ``maximum``, ``floor``), so it stays zero against
    nan and inf; the second, that the tangent map and transposes only copy, move and add entries
    (``getitem``, ``sum``, ``concatenate``), so a reach mask pushed through them comes out exact.
    """

    __slots__ = (
        "name",
        "impl",
        "arg_names",
        "partials",
        "jvp",
        "vjp",
        "accumulate",
        "chunked_vjp",
        "structural_zeros",
        "weightless",
    )

    def __init__(
        self,
        name: str,
        impl: Callable[..., Any],
        arg_names: tuple[str, ...],
        *,
        partials: tuple[Callable[..., Any] | None, ...] | None = None,
        jvp: Callable[..., Any] | None = None,
        vjp: tuple[Callable[..., Any] | None, ...] | PerArgument | None = None,
        accumulate: Callable[..., None] | None = None,
        chunked_vjp: bool = False,
        structural_zeros: bool = False,
        weightless: bool = False,
        public: str | None = None,
        numpy: Any = (),
        expression: bool = False,
    ) -> None:
        self.name = name
        self.impl = impl
        self.arg_names = arg_names
        self.partials = partials
        self.jvp = jvp
        self.vjp = vjp
        # Optional in-place form of a vjp for plain NumPy adjoints (indexing: scatter into the
        # parent's adjoint buffer instead of materialising a dense array per element read).
        self.accumulate = accumulate
        # True when every vjp also takes a cotangent with a trailing axis of c directions (vector
        # mode reverse, one sweep for c Jacobian rows); otherwise the sweep applies it per direction.
        self.chunked_vjp = chunked_vjp
        self.structural_zeros = structural_zeros
        self.weightless = weightless
        if public is not None:
            registry.declare(public, self, numpy, expression=expression)
        elif numpy or expression:
            raise ValueError(f"primitive '{name}': numpy= and expression= need a public name")

    @property
    def elementwise(self) -> bool:
        return self.partials is not None

    def arg_name(self, i: int) -> str:
        names = self.arg_names
        if not names:
            return f"argument {i}"
        return names[i] if i < len(names) else f"{names[-1]}[{i - len(names) + 1}]"

    def missing_rule(self, i: int) -> MissingRuleError:
        return MissingRuleError(
            f"primitive '{self.name}' has no derivative rule for its argument "
            f"{i} ('{self.arg_name(i)}'): it cannot be differentiated with respect to it"
        )

    def __call__(self, *args: Any, **params: Any) -> Any:
        top = None
        for a in args:
            t = type(a)
            if t is np.ndarray or t is float:  # plain operands, the common case, without isinstance
                continue
            if isinstance(a, Traced):
                tr = a._trace
                if top is None or tr.level > top.level:
                    top = tr
        if top is None:
            return self.impl(*args, **params)
        return top.process(self, args, params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


class Operand:
    """A local partial that *is* one of the primitive's arguments, or its output.

    DiffRules.jl writes ``*(x, y) = y, x``: the partial of ``x * y`` in ``x`` is ``y``. Declared as
    ``partials=(operand(1), operand(0))``, such a partial needs no computation: the scalar fast
    path (``modes/value.py``) reads it directly; every other path calls it like any rule, with
    ``(*args, out)``, and gets that entry back.
    """

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position  # index into (*args, out): -1 is the output

    def __call__(self, *args_and_out: Any) -> Any:
        return args_and_out[self.position]

    def __repr__(self) -> str:
        return "OUT" if self.position == -1 else f"operand({self.position})"


def operand(i: int) -> Operand:
    """The partial that equals argument ``i`` of the primitive (``x * y``: ``operand(1)`` in x)."""
    return Operand(i)


#: The partial that equals the primitive's output (``exp``).
OUT = Operand(-1)

_levels = itertools.count(1)
#: The level of the last trace each thread opened (levels themselves are unique process-wide).
_opened = threading.local()


class Trace:
    """One differentiation in progress (a forward pass or a tape recording).

    Subclasses implement :meth:`process`, the engine's way of applying a primitive.
    """

    __slots__ = ("level", "active", "fast", "__weakref__")

    def __init__(self) -> None:
        self.level = _opened.level = next(_levels)
        self.active = True
        # True while the trace is active and takes the operators' scalar fast path
        # (``scalar1`` / ``scalar2``, see ``modes/value.py``); other traces see only ``process``.
        self.fast = False

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        self.active = False
        self.fast = False

    def stale(self) -> MixedTraceError:
        return MixedTraceError(
            "an engine value from a differentiation that has already finished was used in "
            "another computation; engine values are only valid inside the function being "
            "differentiated (read the number with modes.primal(v) if you need it later)"
        )


def last_level() -> int:
    """The level of the last trace opened by the calling thread (0 if none).

    Per thread, so that "did ``f`` open a trace of its own?" (``modes.compile`` asks) is answered
    the same whatever other threads differentiate meanwhile.
    """
    return getattr(_opened, "level", 0)


class Traced:
    """Base class of engine values (dual numbers and tape variables)."""

    __slots__ = ()
    _trace: Trace


def primal(x: Any) -> Any:
    """The plain number (float or ndarray) inside ``x``, through every level of nesting.

    This is the explicit way to read an engine value without its derivative; ``float(v)`` is
    refused because it would drop the derivative silently.
    """
    while isinstance(x, Traced):
        x = x.value  # type: ignore[attr-defined]
    return x


def shape_of(x: Any) -> tuple[int, ...]:
    """Shape of a plain number or an engine value."""
    t = type(x)
    if t is np.ndarray:
        return x.shape
    if t is float or t is int:
        return ()
    if isinstance(x, Traced):
        v = x.value  # type: ignore[attr-defined]
        while isinstance(v, Traced):
            v = v.value
        return v.shape if type(v) is np.ndarray else shape_of(v)
    return np.shape(x)


def check_value(prim: Primitive, out: Any) -> None:
    """Refuse a result an engine value may not hold: a complex number or a NumPy masked array.

    The engines differentiate real functions only: a complex intermediate (a constant such as
    ``1j`` or ``np.emath.sqrt(-4.0)``) would otherwise lose its imaginary part silently when the
    result is read as a float, and a masked array's mask would be dropped from the derivative.
    Engines call this only on results that are not Python floats (off the scalar fast path).
    """
    t = type(out)
    if t is np.ndarray:
        if out.dtype.kind != "c":
            return
    elif isinstance(out, np.ma.MaskedArray):
        raise TypeError(
            f"primitive '{prim.name}' met a NumPy masked array: masked arrays are not supported "
            "(their mask would be dropped from the derivative); pass plain arrays, and select "
            "entries with ops.where(mask, ...) or indexing instead"
        )
    elif t is not complex and not isinstance(out, np.complexfloating):
        return
    raise TypeError(
        f"primitive '{prim.name}' produced a complex value: complex differentiation is not "
        "supported (the engines differentiate real functions in float64). A complex constant "
        "such as 1j or np.emath.sqrt(-4.0) met an engine value; keep the computation real "
        "(e.g. carry the real and imaginary parts as two real numbers)"
    )


class PerArgument:
    """Rule entries of a primitive that takes any number of arguments (concatenate, stack).

    ``rules[i]`` builds the entry for argument ``i`` from ``make(i)``.
    """

    __slots__ = ("make",)

    def __init__(self, make: Callable[[int], Callable[..., Any]]) -> None:
        self.make = make

    def __getitem__(self, i: int) -> Callable[..., Any]:
        return self.make(i)
