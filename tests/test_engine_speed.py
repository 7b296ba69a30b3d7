"""The speed script computes the figures it prints from the catalogue's problems (its timings live
in its output, not here: the medians are replaced by known numbers to check the arithmetic)."""

import os
import platform
import subprocess
import sys
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
    for name in (
        "_chain_rows",
        "_ratio_rows",
        "_memory_row",
        "_chunk_rows",
        "_vector_reverse_row",
        "_catalogue_chunk_rows",
    ):
        monkeypatch.setattr(
            engine_speed,
            name,
            lambda rows, *a, name=name: (called.append(name), rows.append((name, "1", ""))),
        )
    engine_speed.main(["--only", "ratios,memory"])
    assert called == ["_ratio_rows", "_memory_row"]  # and not the scalar block: nothing else timed
    assert capsys.readouterr().out.startswith("issue 14 figures")
    called.clear()
    engine_speed.main(["--only", "catalogue-chunk,vector,chunk"])
    # the chunk sweeps last: they pin the allocator
    assert called == ["_vector_reverse_row", "_chunk_rows", "_catalogue_chunk_rows"]
    with pytest.raises(SystemExit) as e:
        engine_speed.main(["--only", "nonsense"])
    assert e.value.code == 2


# ------------------------------------------------------- the default chunk across the catalogue


def test_the_catalogue_chunk_group_covers_every_differentiable_problem():
    from experiments.problems import CATALOGUE, GRADIENT, JACOBIAN

    cases = engine_speed._catalogue_cases()
    assert {name for name, _ in cases} == {
        name for name, p in CATALOGUE.items() if p.kind in (GRADIENT, JACOBIAN)
    }
    assert ("article", 3) in cases  # a fixed-size problem at its one size
    assert {("mlp", 1000), ("tall", 1000), ("rosenbrock-array", 1000)} <= set(cases)
    assert all(n <= 1000 for _, n in cases)


def fake_clock(monkeypatch, seconds):
    """Make each forward call of chunk c "take" seconds[c] (timed_call's limit raising as the real
    one does) and medians return those times; the derivatives are still computed, and checked."""
    from experiments.timing import TimeLimitExceeded

    real_grad, chunks = modes.grad, []

    def grad(f, x, *, mode="reverse", chunk=None):
        if mode == "forward":
            chunks.append(chunk)
        return real_grad(f, x, mode=mode, chunk=chunk)

    def timed_call(fn, limit=None):
        out = fn()
        if limit is not None and seconds[chunks[-1]] > limit:
            raise TimeLimitExceeded("fake")
        return seconds[chunks[-1]], out

    monkeypatch.setattr(modes, "grad", grad)
    monkeypatch.setattr(engine_speed, "timed_call", timed_call)
    monkeypatch.setattr(engine_speed, "medians", lambda kernels, rounds: {c: seconds[c] for c in kernels})
    return chunks


def test_a_catalogue_chunk_row_is_default_over_best_and_says_what_it_left_out(monkeypatch):
    # logsumexp at n = 100: the default is 100; from 100 down, 4 is over 4x the fastest (32)
    chunks = fake_clock(monkeypatch, {100: 0.002, 32: 0.001, 12: 0.003, 4: 0.0041, 1: 1.0})
    label, shown, details, ratio = engine_speed._catalogue_case("logsumexp", 100)
    assert label == "forward chunk, logsumexp n = 100: default / best"
    assert (shown, ratio) == ("2.00", 2.0)
    assert details == (
        "default c = 100, best c = 32; ms by c: 12: 3, 32: 1, 100: 2; c <= 4 not timed (over 4x the fastest)"
    )
    assert 1 not in chunks  # dominated: never run


def test_a_slow_chunk_above_the_fastest_does_not_end_the_sweep(monkeypatch):
    # logsumexp at n = 1000: the default is below n; larger chunks can be slower (memory-bound)
    # without saying anything of the smaller ones, which are still swept down to 4x the fastest
    default = modes.choose_chunk(1000, elements=1000)
    order = engine_speed._sweep_order(1000, default)
    assert order[0] == default and order[1] == 1000 and order[1:] == sorted(order[1:], reverse=True)
    seconds = {c: (0.1 if c > default else 0.001 * (2 - c / default)) for c in order} | {4: 0.0041, 1: 1.0}
    chunks = fake_clock(monkeypatch, seconds)
    _, shown, details, _ = engine_speed._catalogue_case("logsumexp", 1000)
    assert shown == "1.00" and f"best c = {default};" in details
    assert "1000: 100;" in details and details.endswith("; c <= 4 not timed (over 4x the fastest)")
    assert 1 not in chunks
    # a larger chunk over the call limit is left out, and said; the sweep goes on
    seconds[1000] = 5.0
    fake_clock(monkeypatch, seconds)
    _, _, details, _ = engine_speed._catalogue_case("logsumexp", 1000)
    assert "1000:" not in details and "; c = 1000 not timed (one call over 3 s)" in details
    assert f"best c = {default};" in details


def test_a_default_chunk_over_the_call_limit_is_skipped_and_said(monkeypatch):
    fake_clock(monkeypatch, {10: 99.0, 4: 0.001, 1: 0.001})
    _, shown, details, ratio = engine_speed._catalogue_case("logsumexp", 10)
    assert (shown, ratio) == ("skipped", None)
    assert details == "one call at the default c = 10 took over 3 s"


def test_every_chunks_derivative_is_checked_before_it_is_timed(monkeypatch):
    fake_clock(monkeypatch, {100: 0.001, 32: 0.001, 12: 0.001, 4: 0.001, 1: 0.001})
    real = modes.grad

    def wrong_at_12(f, x, *, mode="reverse", chunk=None):
        g = real(f, x, mode=mode, chunk=chunk)
        return g * (1 + 1e-6) if chunk == 12 else g

    monkeypatch.setattr(modes, "grad", wrong_at_12)
    with pytest.raises(AssertionError, match="logsumexp n = 100, forward chunk 12"):
        engine_speed._catalogue_case("logsumexp", 100)


def test_the_catalogue_chunk_rows_end_with_the_worst_ratio(monkeypatch):
    rows_by_case = {
        ("a", 10): ("forward chunk, a n = 10: default / best", "1.20", "", 1.2),
        ("b", 100): ("forward chunk, b n = 100: default / best", "skipped", "why", None),
        ("b", 1000): ("forward chunk, b n = 1000: default / best", "1.70", "", 1.7),
    }
    monkeypatch.setattr(engine_speed, "pin_allocator", lambda: True)
    monkeypatch.setattr(engine_speed, "_catalogue_cases", lambda: list(rows_by_case))
    monkeypatch.setattr(engine_speed, "_catalogue_case", lambda name, n: rows_by_case[name, n])
    rows = []
    engine_speed._catalogue_chunk_rows(rows)
    assert [r[1] for r in rows] == ["pinned", "1.20", "skipped", "1.70", "1.70"]
    assert rows[-1] == (
        "forward chunk, catalogue n <= 1000: worst default / best",
        "1.70",
        "b n = 1000; target 2",
    )


FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from experiments import engine_speed
if sys.argv[1] == "pin":
    assert engine_speed.pin_allocator()
np.ones(8 * 2**20)  # 64 MiB, freed at once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    np.ones(8 * 2**20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only"
)
def test_a_pinned_allocator_reuses_freed_blocks_instead_of_faulting_them_in_again():
    """In a child process (the pin lasts for the rest of the process): a 64 MiB array allocated
    again after being freed comes from the kept heap, not from freshly faulted-in pages."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    faults = {
        how: int(
            subprocess.run(
                [sys.executable, "-c", FAULTS_SCRIPT, how],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            ).stdout
        )
        for how in ("pin", "default")
    }
    if faults["default"] < 100:
        pytest.skip(f"this machine's malloc kept the block anyway ({faults})")
    assert faults["pin"] < faults["default"] / 10, faults
