"""modes/revolve.py: the binomial checkpointing schedule, checked against brute force.

Oracles: a dynamic program over every split point (the optimal number of forward steps, by
exhaustion) and a simulator that executes a schedule on abstract states and rejects any illegal
move (advancing from the wrong state, reversing out of order, more than ``s`` stored states).
"""

from __future__ import annotations

from functools import cache
from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modes import revolve


@cache
def brute_force(length: int, snapshots: int) -> int:
    """Fewest forward steps reversing ``length`` steps from a stored x_0 with ``snapshots`` slots."""
    if length == 1:
        return 0
    if snapshots == 1:
        return length * (length - 1) // 2  # from x_0 to each state in turn
    return min(
        m + brute_force(length - m, snapshots - 1) + brute_force(m, snapshots) for m in range(1, length)
    )


def simulate(steps: int, snapshots: int) -> dict[str, int]:
    """Execute the schedule on step indices; every illegal action fails an assertion."""
    current, slots, reversed_steps = 0, {0: 0}, []
    advances = most = 0
    forward_prefix = True
    for act in revolve.schedule(steps, snapshots):
        if act.kind == "advance":
            assert current == act.step < act.arg <= steps - 1
            advances += act.arg - act.step
            current = act.arg
        elif act.kind == "store":
            assert current == act.step and act.arg not in slots
            slots[act.arg] = act.step
        elif act.kind == "restore":
            assert forward_prefix is False and slots[act.arg] == act.step
            current = act.step
        elif act.kind == "free":
            assert slots.pop(act.arg) == act.step and act.arg != 0
        else:
            assert act.kind == "reverse" and current == act.step
            if forward_prefix:
                assert act.step == steps - 1  # the forward pass ends at x_{T-1}
                forward_prefix = False
            reversed_steps.append(act.step)
            current = -1
        most = max(most, len(slots))
    assert reversed_steps == list(range(steps - 1, -1, -1))
    assert most <= max(1, min(snapshots, steps))
    return {"advances": advances, "slots": most}


@pytest.mark.parametrize("snapshots", range(1, 8))
def test_the_schedule_is_legal_and_optimal(snapshots):
    for steps in range(1, 70):
        seen = simulate(steps, snapshots)
        assert seen["advances"] == brute_force(steps, snapshots) == revolve.advances(steps, snapshots), (
            steps,
            snapshots,
        )


@given(steps=st.integers(1, 3000), snapshots=st.integers(1, 40))
def test_closed_forms(steps, snapshots):
    r = revolve.repetitions(steps, snapshots)
    assert comb(snapshots + r, snapshots) >= steps
    assert r == 0 or comb(snapshots + r - 1, snapshots) < steps  # the smallest such r
    sweep = revolve.sweep_evaluations(steps, snapshots)
    assert sweep == r * steps - comb(snapshots + r, snapshots + 1) + 1
    assert steps <= sweep <= max(r, 1) * steps  # revolve's bound, one recording per step at least


@pytest.mark.parametrize(("steps", "snapshots"), [(1000, 2), (1000, 8), (1000, 1000), (20000, 3)])
def test_large_schedules_count_what_the_formula_says(steps, snapshots):
    advances = sum(a.arg - a.step for a in revolve.plan(steps, snapshots) if a.kind == "advance")
    assert advances == revolve.advances(steps, snapshots)


def test_enough_snapshots_store_every_state():
    for steps in (1, 2, 7):
        for s in (steps, steps + 1, 10 * steps):
            assert revolve.advances(steps, s) == steps - 1
            assert revolve.sweep_evaluations(steps, s) == steps
            assert simulate(steps, s)["advances"] == steps - 1


def test_zero_steps_is_an_empty_schedule():
    assert revolve.schedule(0, 3) == []
    assert revolve.advances(0, 3) == 0 and revolve.sweep_evaluations(0, 3) == 0


@pytest.mark.parametrize(
    ("steps", "snapshots", "error"),
    [
        (-1, 2, ValueError),
        (5, 0, ValueError),
        (5, -3, ValueError),
        (2.0, 2, TypeError),
        (5, 1.5, TypeError),
        (5, True, TypeError),
    ],
)
def test_bad_counts_are_refused_at_the_call(steps, snapshots, error):
    with pytest.raises(error, match=r"steps|snapshots"):
        revolve.plan(steps, snapshots)  # not lazily, at the first action
    with pytest.raises(error):
        revolve.advances(steps, snapshots)
