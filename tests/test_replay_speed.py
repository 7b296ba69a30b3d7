"""The replay speed script measures what it says (its figures live in its output, not here)."""

import modes.replay
from experiments import replay_speed


def test_measure_reports_every_figure_for_a_generated_replay(monkeypatch):
    monkeypatch.setattr(replay_speed, "compile_seconds", lambda n, repeats=3: 0.01)
    m = replay_speed.measure(5, rounds=1)
    assert {"plain", "replay", "grad", "record", "compile", "break_even"} <= set(m)
    assert m["generated"] and m["tape_length"] == 5 + 8 * 4  # 5 inputs, 8 operations per term
    assert all(m[k] > 0 for k in ("plain", "replay", "grad", "record"))


def test_compile_seconds_times_a_real_compile(monkeypatch):
    calls = []
    real = modes.replay.Compiled
    monkeypatch.setattr(replay_speed.modes, "compile", lambda f, x: calls.append(len(x)) or real(f, x))
    assert replay_speed.compile_seconds(4, repeats=2) > 0
    assert calls == [4, 4]
