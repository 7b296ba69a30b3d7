"""The runner's reverse-replay mode: recorded once per cell at a nearby point, timed at the cell's
point, its recording time a column of its own, checked against reverse mode and the reference."""

from pathlib import Path

import numpy as np
import pytest
from test_runner import make_fast

import modes
from experiments import report_text, tables
from experiments.cli import exit_code
from experiments.kernels import Replay, recording_point
from experiments.problems import CATALOGUE, GRADIENT, Instance, Problem
from experiments.report_data import Run
from experiments.results import REVERSE, REVERSE_REPLAY
from experiments.runner import Runner, Settings


@pytest.fixture(autouse=True)
def fast_timing(monkeypatch):
    make_fast(monkeypatch)


def test_replay_cells_are_timed_checked_and_carry_their_recording_time():
    s = Settings(problem=CATALOGUE["rosenbrock"], sizes=[3, 12], modes=(REVERSE, REVERSE_REPLAY), repeat=3)
    out = Runner(s).run()
    assert exit_code(out) == 0
    for n in (3, 12):
        rev = next(c for c in out.cells if c.n == n and c.mode == REVERSE)
        rep = next(c for c in out.cells if c.n == n and c.mode == REVERSE_REPLAY)
        assert rep.status == "ok" and rep.agrees and rep.max_rel_diff == 0.0  # bit-equal to reverse
        assert rep.ref_rel_diff <= 1e-15  # the closed-form gradient at the cell's point
        assert rep.record_time_s > 0 and rev.record_time_s is None
        assert rep.tape_length == rev.tape_length and rep.sweeps == 1
        saved = rev.time_median_s - rep.time_median_s
        if saved > 0:
            assert rep.break_even_calls == int(np.ceil(rep.record_time_s / saved))
    doc = {"problem": {"name": "rosenbrock"}, "cells": [c.as_dict() for c in out.cells]}
    advice = report_text.advice_replay(Run(doc, Path("results.json")))
    assert "repaid after" in advice or "replayed gradient took" in advice
    assert (
        report_text.advice_replay(
            Run({"cells": [c.as_dict() for c in out.cells if c.mode == REVERSE]}, Path())
        )
        is None
    )
    table = tables.format_table([c.as_dict() for c in out.cells])
    assert "record" in table.splitlines()[0]
    assert any("reverse-replay" in line for line in tables.summary([c.as_dict() for c in out.cells]))


def test_replay_is_recorded_elsewhere_and_a_refused_replay_fails_its_cell():
    x = [0.5, 1.0, 2.0]
    moved = recording_point(x)
    assert all(a != b for a, b in zip(moved, x)) and type(moved) is list

    def build(n, seed, m, opts):
        def f(v):  # v[0] == 0.5 exactly: the recording point is elsewhere, so the branch flips
            return v[0] * v[1] if v[0] == 0.5 else v[0] + v[2]

        return Instance(f, list(x), 3, 1, GRADIENT, None)

    p = Problem("branchy", "a branch on an exact value", GRADIENT, "n = 3", build, min_n=3, fixed_n=3)
    out = Runner(Settings(problem=p, sizes=[3], modes=(REVERSE, REVERSE_REPLAY), repeat=3)).run()
    rep = next(c for c in out.cells if c.mode == REVERSE_REPLAY)
    assert rep.status == "error" and "BranchChangedError" in rep.reason and "%0 == 0.5" in rep.reason
    assert next(c for c in out.cells if c.mode == REVERSE).status == "ok"


def test_replay_kernel_of_a_jacobian_problem_sweeps_per_output():
    inst = CATALOGUE["tall"].build(3, 0, 6)
    r = Replay(inst)
    assert r.compile_seconds > 0
    np.testing.assert_array_equal(r(), modes.jacobian(inst.f, inst.x))
