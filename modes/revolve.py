"""Binomial checkpointing (Griewank and Walther's *revolve*): the schedule, as pure bookkeeping.

Reversing ``T`` steps ``x_{i+1} = step(x_i, i)`` needs each state ``x_i`` again, in the order
``x_{T-1}, ..., x_0``. Storing all of them costs ``T`` states; with only ``s`` stored states
("snapshots", the one holding ``x_0`` included) the missing ones are recomputed from the nearest
snapshot. Griewank and Walther showed the fewest forward steps this takes is

    t(T, s) = r T - C(s + r, s + 1),   r the smallest integer with C(s + r, s) >= T,

(``r`` is the *repetition number*: no step is evaluated more than ``r`` times), and that splitting
the range recursively at the binomial points attains it. :func:`schedule` writes that plan as a
list of actions; nothing here evaluates a step, so it can be checked exhaustively
(``tests/test_revolve.py`` compares it with a brute-force dynamic program).

Actions, executed in order by ``modes/checkpoint.py``:

* ``Action("advance", i, j)``: the current state is ``x_i``; evaluate steps ``i .. j-1`` plainly;
* ``Action("store", i, slot)``: keep the current state ``x_i`` in ``slot``;
* ``Action("restore", i, slot)``: the current state becomes the ``x_i`` kept in ``slot``;
* ``Action("free", i, slot)``: ``slot`` (holding ``x_i``) is no longer needed;
* ``Action("reverse", i)``: the current state is ``x_i``; record step ``i`` and sweep it backwards
  (the adjoint of ``x_{i+1}`` becomes the adjoint of ``x_i``); the current state is then spent.

Slot 0 holds ``x_0`` from the start (it is never stored or freed by the schedule).
"""

from __future__ import annotations

from collections.abc import Iterator
from math import comb
from typing import NamedTuple


class Action(NamedTuple):
    """One instruction of a schedule (see the module docstring)."""

    kind: str
    step: int
    arg: int = -1  # "advance": the step reached; "store"/"restore"/"free": the slot


def _check(steps: int, snapshots: int) -> None:
    for name, v, least in (("steps", steps, 0), ("snapshots", snapshots, 1)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
        if v < least:
            raise ValueError(f"{name} must be >= {least}, got {v}")


def repetitions(steps: int, snapshots: int) -> int:
    """The repetition number ``r``: the smallest integer with ``C(snapshots + r, snapshots) >= steps``."""
    _check(steps, snapshots)
    r = 0
    while comb(snapshots + r, snapshots) < steps:
        r += 1
    return r


def advances(steps: int, snapshots: int) -> int:
    """The fewest plain step evaluations ``t(T, s)`` that reverse ``steps`` steps from ``x_0``.

    The count includes the first advance from ``x_0`` to ``x_{T-1}``; the ``T`` recorded
    evaluations (one per step, in the reverse actions) are not included.
    """
    if steps == 0:
        _check(steps, snapshots)
        return 0
    r = repetitions(steps, snapshots)
    return r * steps - comb(snapshots + r, snapshots + 1)


def sweep_evaluations(steps: int, snapshots: int) -> int:
    """Step evaluations during the backward sweep when the forward pass already ran.

    The forward pass (``steps`` plain evaluations, taking the schedule's first snapshots and
    keeping ``x_{T-1}``) is followed by the rest of the schedule: ``advances - (steps - 1)``
    plain evaluations and ``steps`` recorded ones. This is at most ``r * steps``.
    """
    if steps == 0:
        _check(steps, snapshots)
        return 0
    return advances(steps, snapshots) - (steps - 1) + steps


def _split(length: int, snapshots: int) -> int:
    """Where to take the next snapshot when reversing ``length`` steps with ``snapshots`` slots.

    Any ``m`` whose left part ``(m, snapshots)`` has repetition number ``r - 1`` and whose right
    part ``(length - m, snapshots - 1)`` has ``r`` is optimal (the costs add up to ``t`` by
    Pascal's rule); the largest such ``m`` is taken.
    """
    r = repetitions(length, snapshots)
    beta = lambda s, k: comb(s + k, s) if k >= 0 else 0
    lo = max(1, beta(snapshots, r - 2), length - beta(snapshots - 1, r))
    hi = min(length - 1, beta(snapshots, r - 1), length - beta(snapshots - 1, r - 1))
    if lo > hi:  # pragma: no cover - excluded by the theory, checked by the tests
        raise AssertionError(f"no binomial split for length={length}, snapshots={snapshots}")
    return hi


def schedule(steps: int, snapshots: int) -> list[Action]:
    """The revolve plan reversing ``steps`` steps with at most ``snapshots`` stored states, as a list."""
    return list(plan(steps, snapshots))


def plan(steps: int, snapshots: int) -> Iterator[Action]:
    """The actions of :func:`schedule`, generated lazily (memory: the recursion's depth, not ``r T``).

    ``snapshots >= steps`` stores every state (no recomputation). Iterative (an explicit stack),
    so any ``steps`` works without deep recursion.
    """
    _check(steps, snapshots)
    return _plan(steps, min(snapshots, max(steps, 1)))


def _plan(steps: int, snapshots: int) -> Iterator[Action]:
    free_slots = list(range(snapshots - 1, 0, -1))
    current = 0
    # tasks: ("reverse", start, length, budget, slot of x_start) or ("free", step, 0, 0, slot)
    tasks: list[tuple[str, int, int, int, int]] = [("reverse", 0, steps, snapshots, 0)] if steps else []
    while tasks:
        kind, a, length, budget, slot = tasks.pop()
        if kind == "free":
            yield Action("free", a, slot)
            free_slots.append(slot)
            continue
        if length == 1 or budget == 1:
            for i in range(length - 1, -1, -1):
                if current != a:
                    yield Action("restore", a, slot)
                if i:
                    yield Action("advance", a, a + i)
                yield Action("reverse", a + i)
                current = -1
            continue
        if current != a:
            yield Action("restore", a, slot)
        m = _split(length, budget)
        yield Action("advance", a, a + m)
        new = free_slots.pop()
        yield Action("store", a + m, new)
        current = a + m
        tasks.append(("reverse", a, m, budget, slot))
        tasks.append(("free", a + m, 0, 0, new))
        tasks.append(("reverse", a + m, length - m, budget - 1, new))
