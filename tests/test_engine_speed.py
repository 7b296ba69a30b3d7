"""The speed script computes the figures it prints from the catalogue's problems (its timings live
in its output, not here: the medians are replaced by known numbers to check the arithmetic)."""

import time

import numpy as np
import pytest

import modes
from experiments import engine_speed
from experiments.timing import medians
from modes import ops


def test_the_mlps_it_times_are_the_catalogues():
    net = engine_speed.mlp()
    assert net.n == 9901 and net.details == {"features": 64, "hidden": 150, "batch": 256}
    np.testing.assert_allclose(modes.grad(net.f, net.x), net.reference, rtol=1e-10, atol=1e-14)
    # its plain-NumPy baseline is the same loss, and plain: a float, not through modes.ops
    assert isinstance(net.plain(net.x), float)
    assert net.plain(net.x) == pytest.approx(modes.primal(net.f(net.x)), rel=1e-14)
    small = engine_speed.mlp(8, 100, 16)
    assert small.plain(small.x) == pytest.approx(modes.primal(small.f(small.x)), rel=1e-14)
    assert small.n == 1001 and small.details == {"features": 8, "hidden": 100, "batch": 16}
    np.testing.assert_allclose(modes.grad(small.f, small.x), small.reference, rtol=1e-10, atol=1e-14)


def test_the_printed_ratios_are_the_medians_ratios(monkeypatch, capsys):
    fake = {"plain": 1e-4, "reverse": 6e-3, "record": 4e-3, "sweep": 2e-3}
    plain_checked = []

    def fake_medians(kernels, rounds):
        if set(kernels) == {"plain", "reverse"}:  # the MLP: its baseline must be plain NumPy
            with pytest.MonkeyPatch.context() as m:
                m.setattr(ops, "tanh", lambda *a, **k: pytest.fail("the plain baseline calls modes.ops"))
                kernels["plain"]()
            plain_checked.append(True)
        return {k: fake[k] for k in kernels}

    monkeypatch.setattr(engine_speed, "medians", fake_medians)
    monkeypatch.setattr(engine_speed, "timed_call", lambda fn: (3.0, None))
    monkeypatch.setattr(engine_speed, "issue14", lambda ratio, only: print(f"issue 14 from {ratio}"))
    engine_speed.main()
    out = capsys.readouterr().out.splitlines()
    n_ops = modes.record(engine_speed.rosenbrock_instance().f, engine_speed.rosenbrock_instance().x).tape.ops
    assert out == [
        f"scalar Rosenbrock, n = 1000 ({n_ops} recorded ops)",
        "  reverse / plain = 60.0",
        f"  per op: plain {1e5 / n_ops:.0f} ns, record {4e6 / n_ops:.0f} ns, sweep {2e6 / n_ops:.0f} ns",
        "  forward(chunk=1) / reverse = 500",
        "MLP loss, 9901 parameters, batch 256: reverse / plain NumPy = 60.00",
        "issue 14 from 60.0",
    ]
    assert plain_checked == [True]


def test_medians_are_seconds_per_call():
    """A kernel that sleeps 1 ms takes at least 1 ms a call, whatever loop count autorange picks."""
    med = medians({"sleep": lambda: time.sleep(1e-3), "nothing": lambda: None}, rounds=3)
    assert med["sleep"] >= 1e-3
    assert med["sleep"] < 0.05  # not the 0.2 s of a whole autorange sample
    assert med["nothing"] < med["sleep"]


@pytest.mark.parametrize("rounds", [1, 4])
def test_medians_take_one_sample_per_round(monkeypatch, rounds):
    from experiments import timing

    seen = {}
    real = timing.interleave

    def spy(plans, on_round=None):
        out = real(plans, on_round)
        seen.update({k: len(p.samples) for k, p in out.items()})
        return out

    monkeypatch.setattr(timing, "interleave", spy)
    medians({"a": lambda: None, "b": lambda: None}, rounds=rounds)
    assert seen == {"a": rounds, "b": rounds}


def test_only_times_the_groups_it_names(monkeypatch, capsys):
    called = []
    for name in ("_chain_rows", "_ratio_rows", "_memory_row", "_chunk_rows", "_vector_reverse_row"):
        monkeypatch.setattr(
            engine_speed,
            name,
            lambda rows, *a, name=name: (called.append(name), rows.append((name, "1", ""))),
        )
    engine_speed.main(["--only", "ratios,memory"])
    assert called == ["_ratio_rows", "_memory_row"]  # and not the scalar block: nothing else timed
    assert capsys.readouterr().out.startswith("issue 14 figures")
    with pytest.raises(SystemExit) as e:
        engine_speed.main(["--only", "nonsense"])
    assert e.value.code == 2
