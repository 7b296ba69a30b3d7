"""What a recorded tape cannot follow, noted while ``modes.compile`` records ``f``: the branch guard.

A tape replays primitives, so every choice a primitive makes (the side ``maximum`` picks, the sign
``abs`` and ``relu`` see) is simply recomputed at the new point. What the tape cannot see is
Python acting on a *value*: ``if v[0] > v[1]:``, ``while err > tol:``, ``x[int(np.argmax(...))]``.
Engine values reach Python only through a few doors, and each one reports here while a compile
is recording (``OBSERVERS`` is non-empty only then, so otherwise a door costs one test of an
empty list):

* comparisons ``<, <=, >, >=, ==, !=`` and their NumPy ufuncs (``modes/value.py``): the outcome is
  recorded and re-checked at every replay (a bool array too: it may steer Python code);
* ``bool(v)`` (``if v:``): re-checked;
* :func:`primal` (``modes.primal(v)``, the public read): the value read is re-checked, since what
  ``f`` did with the number is invisible; replay refuses once it differs;
* reads that :mod:`modes.ops` makes for itself and uses only as a constant operand (the shift of
  ``logsumexp``, the condition of ``where`` given an engine value): noted as *derived* constants,
  which the replay recomputes from the replayed value (they never reach user code).

A check that comes out differently raises :class:`BranchChangedError` (or re-records, on request).
Not seen, and documented as such: reading ``v.value`` directly, closures over mutable state and
random numbers drawn inside ``f`` (a replay sees the values recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modes import core
from modes.core import ModesError, Traced

#: The compile recordings in progress, innermost last (see the module docstring).
OBSERVERS: list[Any] = []

#: How each comparison ufunc is written in a message.
SYMBOLS: dict[Any, str] = {
    np.less: "<",
    np.less_equal: "<=",
    np.greater: ">",
    np.greater_equal: ">=",
    np.equal: "==",
    np.not_equal: "!=",
}


class BranchChangedError(ModesError):
    """A replayed tape met a point where a comparison (or value read) made while recording differs.

    ``check`` says which (``'%5 > %7'``), ``position`` how many tape entries existed when it was
    made, ``recorded`` and ``now`` its outcome then and at the new point.
    """

    def __init__(self, message: str, *, check: str, position: int, recorded: Any, now: Any) -> None:
        super().__init__(message)
        self.check = check
        self.position = position
        self.recorded = recorded
        self.now = now


def compared(ufunc: np.ufunc, a: Any, b: Any, result: Any) -> None:
    """Report a comparison of engine values (``a OP b`` gave ``result``) to the recordings."""
    for o in OBSERVERS:
        o.compared(ufunc, a, b, result)


def truth(v: Any, result: bool) -> None:
    """Report ``bool(v) == result`` for an engine value ``v``."""
    for o in OBSERVERS:
        o.truth(v, result)


def derived(source: Any, obj: Any, fn: Callable[[Any], Any]) -> None:
    """Report that ``obj == fn(primal(source))`` is used as a constant, and only as one.

    For :mod:`modes.ops`' own reads: a replay recomputes ``obj`` from the replayed ``source``.
    """
    for o in OBSERVERS:
        o.derived(source, obj, fn)


def primal(x: Any) -> Any:
    """The plain number (float or ndarray) inside ``x``, through every level of nesting.

    This is the explicit way to read an engine value without its derivative; ``float(v)`` is
    refused because it would drop the derivative silently. Inside a function being compiled
    (``modes.compile``) the read is noted: a replay refuses a point where the value read differs,
    since what ``f`` did with the number cannot be replayed.
    """
    value = core.primal(x)
    if OBSERVERS and isinstance(x, Traced):
        for o in OBSERVERS:
            o.read(x, value)
    return value
