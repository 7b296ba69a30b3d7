"""Forward vs reverse mode in pytest-benchmark: problem x n x mode, drawn from the problem catalogue.

Each benchmark times the callable ``compare-modes`` itself times (``experiments.runner.kernel``):
the plain function, its gradient (or Jacobian) in forward mode with chunk 1, in forward mode with
the default chunk, and in reverse mode. Outside the timed region it makes one untimed call inside
``modes.counting()`` (operation counts, and the result checked against the catalogue's closed-form
reference, or against another mode where the problem has none), measures peak memory in a separate
``tracemalloc`` call when that is cheap, and checks that the timed calls returned the same result.
``benchmark.extra_info`` holds these under the names of ``experiments.results.Cell``, so
``experiments.benchmark_json`` turns a ``--benchmark-json`` file into a results.json-like record.

Run (one table per problem and n, modes side by side)::

    pytest tests/benchmarks --benchmark-only --benchmark-group-by=param:problem,param:n
    pytest tests/benchmarks --benchmark-only --benchmark-large      # also the larger sizes (long)
    pytest tests/benchmarks -o addopts="" --benchmark-disable        # each body once, as a test (CI)

The ordinary ``pytest`` run skips them (``--benchmark-skip`` in pyproject's addopts).
"""

from __future__ import annotations

import gc
import math
import time
from functools import cache
from typing import Any

import numpy as np
import pytest

import modes
from experiments.kernels import chunk_for, kernel
from experiments.memory import traced_peak
from experiments.problems import CATALOGUE, GRADIENT, Instance
from experiments.results import FUNCTION
from experiments.verify import rel_diff

#: The four timed kernels of one (problem, n), in the order a table lists them.
MODES = (FUNCTION, "forward", "forward-chunked", "reverse")

#: Input counts per problem for the default run: a full ``--benchmark-only`` run takes a few minutes
#: on a 2-core machine (the dearest cells are forward chunk 1 at the largest n: n passes through f).
SIZES: dict[str, tuple[int, ...]] = {
    "article": (3,),
    "rosenbrock": (10, 100),
    "rosenbrock-array": (10, 100, 1000),
    "mlp": (11, 101),
    "logsumexp": (10, 100, 1000),
    "gmm": (6, 60),
    "tall": (10, 100),
}
#: Added by ``--benchmark-large`` (about ten minutes more on a 2-core machine; forward chunk 1 at
#: rosenbrock n = 1000 is half of it: n passes, each O(n), so it grows like n^2).
LARGE_SIZES: dict[str, tuple[int, ...]] = {
    "rosenbrock": (300, 1000),
    "rosenbrock-array": (10000,),
    "mlp": (1001,),
    "logsumexp": (10000,),
    "gmm": (200,),
    "tall": (300,),
}
#: A problem added to the catalogue without an entry above is benchmarked at these sizes.
FALLBACK_SIZES = (10, 100)

#: Relative agreement required with the reference (compare-modes' default ``--tolerance``).
TOLERANCE = 1e-8
#: Peak memory is measured (one extra call under tracemalloc, up to ~8x slower) only when one
#: plain call takes at most this long; otherwise ``peak_bytes`` stays empty and a note says why.
MEMORY_CALL_LIMIT_S = 0.5
SEED = 0


def sweep(large: bool = False) -> list[tuple[str, int]]:
    """The (problem, n) cases to benchmark, in catalogue order."""
    cases = []
    for name, problem in CATALOGUE.items():
        if problem.fixed_n is not None:
            sizes: tuple[int, ...] = (problem.fixed_n,)
        else:
            sizes = SIZES.get(name, FALLBACK_SIZES) + (LARGE_SIZES.get(name, ()) if large else ())
        cases += [(name, n) for n in sizes if problem.size_error(n) is None]
    return cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if {"problem", "n", "mode"} <= set(metafunc.fixturenames):
        large = bool(metafunc.config.getoption("benchmark_large", default=False))
        metafunc.parametrize(("problem", "n"), sweep(large))
        metafunc.parametrize("mode", MODES)


@cache
def instance(problem: str, n: int) -> Instance:
    """One built instance per (problem, n), shared by its four modes (built on first use)."""
    return CATALOGUE[problem].build(n, SEED)


def _check(inst: Instance, mode: str, result: Any) -> dict[str, Any]:
    """The untimed result checked against the reference, or another mode when there is none."""
    if mode == FUNCTION:
        value = np.asarray(result, dtype=float)  # f on plain inputs returns plain numbers
        assert value.size == inst.m, f"f returned {value.size} values, expected m = {inst.m}"
        assert np.isfinite(value).all(), "f is not finite at the benchmark's point"
        return {}
    if inst.reference is not None:
        d = rel_diff(result, inst.reference)
        assert d <= TOLERANCE, f"{mode} differs from the closed-form reference by {d:.3g} (relative)"
        return {"ref_rel_diff": d, "agrees": True}
    other = "forward-chunked" if mode == "reverse" else "reverse"
    d = rel_diff(result, kernel(inst, other, None)())
    assert d <= TOLERANCE, f"{mode} and {other} disagree: max relative difference {d:.3g}"
    return {"max_rel_diff": d, "agrees": True, "details": {**inst.details, "checked_against": other}}


def _counts(mode: str, stats: modes.Stats, chunk: int | None, n: int, m: int) -> dict[str, Any]:
    """Operation counts of one call, under ``experiments.results.Cell``'s field names."""
    if mode == FUNCTION:
        return {"passes": 1, "sweeps": None}
    out: dict[str, Any] = {"ops": stats.ops}
    if mode == "reverse":
        out.update(
            passes=stats.passes or 1,
            sweeps=stats.sweeps or m,
            adjoint_updates=stats.adjoint_updates,
            tape_length=stats.tape_length,
            tape_bytes=stats.tape_bytes or None,
        )
    else:
        out.update(
            passes=stats.passes or math.ceil(n / (chunk or 1)),
            sweeps=None,
            tangent_updates=stats.tangent_updates,
        )
    return out


def _memory(fn: Any, first_call_s: float) -> dict[str, Any]:
    if first_call_s > MEMORY_CALL_LIMIT_S:
        return {
            "note": f"peak memory not measured: one call took {first_call_s:.2g} s, and a tracemalloc "
            f"run is only made below {MEMORY_CALL_LIMIT_S:g} s"
        }
    peak, _, _ = traced_peak(fn)
    return {"peak_bytes": peak}


def test_mode(benchmark: Any, problem: str, n: int, mode: str) -> None:
    """Time one (problem, n, mode) cell; count, check and size it outside the timed region."""
    inst = instance(problem, n)
    chunk = chunk_for(mode, inst.n, None)
    fn = kernel(inst, mode, None)

    gc.collect()
    with modes.counting(memory=False) as stats:
        t0 = time.perf_counter()
        first = fn()
        first_call_s = time.perf_counter() - t0
    checked = _check(inst, mode, first)

    p = CATALOGUE[problem]
    info = benchmark.extra_info
    info.update(
        problem=problem,
        kind=inst.kind,
        n=inst.n,
        requested_n=n,
        m=inst.m,
        mode=mode,
        chunk=chunk,
        seed=SEED,
        details=dict(inst.details),
        problem_description=p.description,
        problem_sizes=p.sizes,
        first_call_s=first_call_s,
    )
    info.update(_counts(mode, stats, chunk, inst.n, inst.m))
    info.update(checked)
    info.update(_memory(fn, first_call_s))

    gc.collect()
    timed = benchmark(fn)

    # The timed calls computed what was checked (outside the timed region, as all checks here).
    d = rel_diff(timed, first)
    assert d <= TOLERANCE, f"the timed calls returned a different result ({d:.3g} relative)"


def test_sweep_covers_the_catalogue_and_every_mode() -> None:
    """Every catalogue problem is benchmarked (at its sizes) in all four modes; large adds sizes."""
    small, large = sweep(), sweep(large=True)
    assert {name for name, _ in small} == set(CATALOGUE)
    assert set(small) < set(large)
    assert all(CATALOGUE[name].size_error(n) is None for name, n in large)
    kinds = {CATALOGUE[name].kind for name, _ in small}
    assert GRADIENT in kinds and len(kinds) == 2  # gradients and a Jacobian problem
