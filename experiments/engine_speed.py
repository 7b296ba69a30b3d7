"""The engines' speed figures (issue 2), measured in one process: ``python -m experiments.engine_speed``.

Ratios, not absolute times: reverse-gradient time / plain-function time for scalar Rosenbrock
(n = 1000, a Python loop over floats) and for an MLP loss with about 10^4 parameters on a batch
of 256 rows (plain NumPy), and forward(chunk=1) / reverse at n = 1000. Medians of interleaved
``timeit`` samples (gc collected before each, off while timing), BLAS pinned to one thread.
"""

from __future__ import annotations

import gc
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import modes
from experiments.problems import rosenbrock
from modes import ops


def interleaved(kernels: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each kernel, its samples interleaved round by round."""
    loops = {k: max(1, timeit.Timer(f).autorange()[0]) for k, f in kernels.items()}
    samples: dict[str, list[float]] = {k: [] for k in kernels}
    for _ in range(rounds):
        for k, f in kernels.items():
            gc.collect()
            samples[k].append(timeit.Timer(f).timeit(loops[k]) / loops[k])
    return {k: statistics.median(v) for k, v in samples.items()}


def mlp_problem(d: int = 64, h: int = 150, batch: int = 256, seed: int = 1) -> tuple[Any, Any, np.ndarray]:
    """A one-hidden-layer tanh MLP's squared error: (loss in modes.ops, loss in NumPy, parameters)."""
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(batch, d)), rng.normal(size=batch)
    cut = (d * h, d * h + h, d * h + 2 * h)

    def loss(p: Any) -> Any:
        W1, b1, w2, b2 = ops.reshape(p[: cut[0]], (d, h)), p[cut[0] : cut[1]], p[cut[1] : cut[2]], p[cut[2]]
        r = ops.tanh(X @ W1 + b1) @ w2 + b2 - Y
        return ops.sum(r * r) / batch

    def loss_np(p: np.ndarray) -> float:
        W1, b1, w2, b2 = p[: cut[0]].reshape(d, h), p[cut[0] : cut[1]], p[cut[1] : cut[2]], p[cut[2]]
        r = np.tanh(X @ W1 + b1) @ w2 + b2 - Y
        return float(np.sum(r * r) / batch)

    return loss, loss_np, rng.normal(size=cut[2] + 1) * 0.1


def main() -> None:
    with threadpool_limits(1):
        x = [float(v) for v in np.random.default_rng(0).uniform(-1.5, 1.5, 1000)]
        rec = modes.record(rosenbrock, x)
        med = interleaved(
            {
                "plain": lambda: rosenbrock(x),
                "reverse": lambda: modes.grad(rosenbrock, x),
                "record": lambda: modes.record(rosenbrock, x),
                "sweep": lambda: rec.backward(),
            },
            15,
        )
        n_ops = rec.tape.ops
        print(f"scalar Rosenbrock, n = 1000 ({n_ops} recorded ops)")
        print(f"  reverse / plain = {med['reverse'] / med['plain']:.1f}")
        per_op = {k: v / n_ops * 1e9 for k, v in med.items()}
        print(
            f"  per op: plain {per_op['plain']:.0f} ns, record {per_op['record']:.0f} ns, "
            f"sweep {per_op['sweep']:.0f} ns"
        )
        fwd, rev = [], []
        for _ in range(2):
            gc.collect()
            t = time.perf_counter()
            modes.grad(rosenbrock, x, mode="forward", chunk=1)
            fwd.append(time.perf_counter() - t)
            rev.append(interleaved({"reverse": lambda: modes.grad(rosenbrock, x)}, 3)["reverse"])
        print(f"  forward(chunk=1) / reverse = {statistics.median(fwd) / statistics.median(rev):.0f}")
        loss, loss_np, p = mlp_problem()
        med = interleaved({"plain": lambda: loss_np(p), "reverse": lambda: modes.grad(loss, p)}, 21)
        ratio = med["reverse"] / med["plain"]
        print(f"MLP loss, {p.size} parameters, batch 256: reverse / plain NumPy = {ratio:.2f}")


if __name__ == "__main__":
    main()
