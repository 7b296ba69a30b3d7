"""Replay speed figures (issue 13), one process: ``python -m experiments.replay_speed [--quick]``.

Scalar Rosenbrock in its catalogue form (a Python loop over floats). ``f`` is compiled at one point
and every gradient is taken at another. Ratios to the plain-float function, from medians of
interleaved samples (:func:`experiments.timing.medians`: gc collected before each, off while
timing), BLAS pinned to one thread: ``replay`` (``Compiled.grad``), ``grad`` (``modes.grad``:
record and sweep afresh) and ``record`` (``modes.record`` alone). The one-off compile cost (median
of three compiles) is reported apart, with the break-even count ``compile / (grad - replay)``: the
number of gradients after which compiling has paid for itself. Before timing, the replayed
gradient is checked equal to the fresh one. A last line times the array form
(``rosenbrock-array``), which has no scalar fast path: its replay runs through the engine and
costs about what a fresh gradient does.
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import sys
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import modes
from experiments.problems import rosenbrock, rosenbrock_array
from experiments.timing import medians

SIZES = (10, 100, 300, 1000)


def _point(n: int, seed: int) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).uniform(-1.5, 1.5, n)]


def compile_seconds(n: int, repeats: int = 3) -> float:
    """Median wall time of ``modes.compile(rosenbrock, x)`` (recording plus building the replay)."""
    x = _point(n, 0)
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        modes.compile(rosenbrock, x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n: int, rounds: int) -> dict[str, Any]:
    """Median seconds of plain / replay / grad / record at size ``n``, plus compile cost and break-even."""
    c = modes.compile(rosenbrock, _point(n, 0))
    y = _point(n, 1)
    if not np.array_equal(c.grad(y), modes.grad(rosenbrock, y)):
        raise AssertionError(f"n = {n}: the replayed gradient differs from modes.grad")
    med = medians(
        {
            "plain": lambda: rosenbrock(y),
            "replay": lambda: c.grad(y),
            "grad": lambda: modes.grad(rosenbrock, y),
            "record": lambda: modes.record(rosenbrock, y),
        },
        rounds,
    )
    med["compile"] = compile_seconds(n)
    saved = med["grad"] - med["replay"]
    med["break_even"] = math.ceil(med["compile"] / saved) if saved > 0 else math.inf
    med["tape_length"] = c.program.length
    med["generated"] = c.program.fast is not None
    return med


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    rounds = 5 if "--quick" in argv else 15
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {rounds} interleaved rounds")
    print("scalar Rosenbrock, compiled at one point, gradients at another")
    header = "     n  tape  replay/plain  record/plain  grad/plain  grad/replay  compile   break-even"
    print(header)
    with threadpool_limits(1):
        for n in SIZES:
            m = measure(n, rounds)
            p = m["plain"]
            print(
                f"{n:>6}  {m['tape_length']:>5}  {m['replay'] / p:>11.2f}  {m['record'] / p:>12.1f}  "
                f"{m['grad'] / p:>10.1f}  {m['grad'] / m['replay']:>11.1f}  {m['compile'] * 1e3:>6.0f} ms  "
                f"{m['break_even']:>5} gradients"
            )
        x, y = np.array(_point(1000, 0)), np.array(_point(1000, 1))
        c = modes.compile(rosenbrock_array, x)
        kernels = {"replay": lambda: c.grad(y), "grad": lambda: modes.grad(rosenbrock_array, y)}
        med = medians(kernels, rounds)
        print(
            f"array form (rosenbrock-array, n = 1000, replayed through the engine): "
            f"grad/replay = {med['grad'] / med['replay']:.2f}"
        )
    print("replay: Compiled.grad (generated straight-line code); grad: modes.grad (record + sweep);")
    print("record: modes.record alone; compile: modes.compile (record + build + generate), one-off")


if __name__ == "__main__":
    main()
