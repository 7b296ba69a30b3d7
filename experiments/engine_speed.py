"""The engines' speed figures (issues 2, 13 and 14), in one process: ``python -m experiments.engine_speed``.

Ratios, not absolute times: every figure is a ratio of medians of interleaved samples
(:func:`experiments.timing.medians`: gc collected before each, off while timing), BLAS pinned to
one thread, taken in one run. The problems are the catalogue's (:mod:`experiments.problems`).

The first block is issue 2's: reverse-gradient time / plain-function time for scalar Rosenbrock
(n = 1000, a Python loop over floats), forward(chunk=1) / reverse at n = 1000, and an MLP loss
with about 10^4 parameters on a batch of 256 rows (plain NumPy).

The second block is issue 14's table, each engine figure beside a reference measured in the same
process: a minimal hand-written tape (a list of tuples and a backwards loop: the least a tape can
do in Python) and a micrograd-style engine (Karpathy's closures and topological sort), both
defined below, on a chain of multiply/add and on the article's example; grad / plain ratios of
scalar and array Rosenbrock and of the MLP at batch 16 and 256; tape bytes per recorded op; the
default forward chunk against the best chunk of a sweep; and vector-mode reverse on ``tall``.

The ``catalogue-chunk`` group (issue 14 item 5: the default chunk never more than 2x the best
anywhere in the catalogue at n <= 1000) sweeps the chunk for every catalogue problem with a
forward-mode gradient or Jacobian at n = 10, 100, 1000 (where it accepts them), each chunk's
derivative checked against the reference first, and ends with the worst default / best. To stay
within a few minutes it skips a (problem, n) whose default-chunk call takes over
:data:`CATALOGUE_CALL_LIMIT_S` and stops a sweep below chunks over :data:`DOMINATED` times the
fastest; each row says what it left out. Both chunk sweeps (``chunk`` and ``catalogue-chunk``) pin
glibc's allocator (:func:`pin_allocator`), so they run last. ``--only GROUP,...`` times some groups
only.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import platform
import statistics
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import modes
from experiments.kernels import input_elements
from experiments.problems import (
    CATALOGUE,
    GRADIENT,
    JACOBIAN,
    Instance,
    mlp_instance,
    rosenbrock,
    rosenbrock_array,
)
from experiments.timing import TimeLimitExceeded, medians, timed_call
from modes.examples import ARTICLE_POINT, article

#: Scalar Rosenbrock's input count.
ROSENBROCK_N = 1000


def rosenbrock_instance() -> Instance:
    """The catalogue's scalar Rosenbrock at n = 1000 (seed 0)."""
    return CATALOGUE["rosenbrock"].build(ROSENBROCK_N, seed=0)


def mlp(features: int = 64, hidden: int = 150, batch: int = 256) -> Instance:
    """The catalogue's MLP loss with ``hidden`` units (issue 2's: 9901 parameters, batch 256)."""
    return mlp_instance(hidden * (features + 2) + 1, seed=1, features=features, batch=batch)


# ------------------------------------------------------------------- references (issue 14)


def chain(v: list) -> Any:
    """A chain of multiply/add, ``y = y * t + t`` over the inputs: 2 (len(v) - 1) operations."""
    y = v[0]
    for t in v[1:]:
        y = y * t + t
    return y


class MinimalVar:
    """The least a Python tape can do: a value, its tape position, and one tuple per operation."""

    __slots__ = ("value", "index", "tape")

    def __init__(self, value: float, index: int, tape: list) -> None:
        self.value = value
        self.index = index
        self.tape = tape

    def __add__(self, o: MinimalVar) -> MinimalVar:
        tape = self.tape
        tape.append((self.index, 1.0, o.index, 1.0))
        return MinimalVar(self.value + o.value, len(tape) - 1, tape)

    def __mul__(self, o: MinimalVar) -> MinimalVar:
        tape = self.tape
        tape.append((self.index, o.value, o.index, self.value))
        return MinimalVar(self.value * o.value, len(tape) - 1, tape)


def minimal_grad(f: Callable[[list], MinimalVar], x: list[float]) -> list[float]:
    """Gradient by the minimal tape: record ``f``, then one backwards loop over the tuples."""
    tape: list = [None] * len(x)
    out = f([MinimalVar(v, i, tape) for i, v in enumerate(x)])
    adj = [0.0] * len(tape)
    adj[out.index] = 1.0
    for k in range(out.index, len(x) - 1, -1):
        i, di, j, dj = tape[k]
        g = adj[k]
        adj[i] += di * g
        adj[j] += dj * g
    return adj[: len(x)]


class MicroValue:
    """micrograd's ``Value`` (Karpathy, MIT licence): a node holding a closure for its backward step."""

    def __init__(self, data: float, _children: tuple = (), _op: str = "") -> None:
        self.data = data
        self.grad = 0.0
        self._backward: Callable[[], None] = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other: Any) -> MicroValue:
        other = other if isinstance(other, MicroValue) else MicroValue(other)
        out = MicroValue(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> MicroValue:
        other = other if isinstance(other, MicroValue) else MicroValue(other)
        out = MicroValue(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        topo: list[MicroValue] = []
        visited: set[MicroValue] = set()

        def build_topo(v: MicroValue) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


def micrograd_grad(f: Callable[[list], MicroValue], x: list[float]) -> list[float]:
    """micrograd's build + backward of ``f`` at ``x``: the gradient as a list."""
    vs = [MicroValue(v) for v in x]
    f(vs).backward()
    return [v.grad for v in vs]


# ------------------------------------------------------------------------- issue 14 rows

CHAIN_STEPS = 300  # 598 operations: micrograd's recursive sort stays under Python's depth limit


def _chain_rows(rows: list[tuple[str, str, str]]) -> None:
    x = [float(v) for v in np.random.default_rng(2).uniform(0.9, 1.0, CHAIN_STEPS)]
    ref = minimal_grad(chain, x)
    for got in (modes.grad(chain, x), micrograd_grad(chain, x)):
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    n_ops = 2 * (CHAIN_STEPS - 1)
    med = medians(
        {
            "ours": lambda: modes.grad(chain, x),
            "minimal": lambda: minimal_grad(chain, x),
            "micrograd": lambda: micrograd_grad(chain, x),
        },
        15,
    )
    ns = {k: v / n_ops * 1e9 for k, v in med.items()}
    rows.append(
        (
            "scalar chain, record + sweep, ns per op",
            f"{ns['ours']:.0f}",
            f"minimal tape {ns['minimal']:.0f} (ours / minimal {med['ours'] / med['minimal']:.2f}); "
            f"micrograd {ns['micrograd']:.0f} (micrograd / ours {med['micrograd'] / med['ours']:.2f})",
        )
    )
    a = list(ARTICLE_POINT)
    med = medians(
        {"ours": lambda: modes.grad(article, a), "micrograd": lambda: micrograd_grad(article, a)}, 15
    )
    rows.append(
        (
            "article example, one modes.grad call",
            f"{med['ours'] * 1e6:.1f} us",
            f"micrograd build + backward {med['micrograd'] * 1e6:.1f} us "
            f"(ours / micrograd {med['ours'] / med['micrograd']:.2f})",
        )
    )


def _ratio_rows(rows: list[tuple[str, str, str]], rosenbrock_ratio: float | None) -> None:
    if rosenbrock_ratio is not None:
        rows.append(
            ("scalar Rosenbrock n = 1000, reverse grad / plain f", f"{rosenbrock_ratio:.1f}", "target 30")
        )
    xa = np.random.default_rng(0).uniform(-1.5, 1.5, 1000)
    med = medians(
        {"plain": lambda: rosenbrock_array(xa), "grad": lambda: modes.grad(rosenbrock_array, xa)}, 21
    )
    rows.append(
        ("array Rosenbrock n = 1000, grad / NumPy f", f"{med['grad'] / med['plain']:.1f}", "target 5")
    )
    for (d, h, batch), target in (((8, 100, 16), "4"), ((64, 150, 256), "2.5")):
        net = mlp(d, h, batch)
        loss, loss_np, p = net.f, net.plain, net.x
        med = medians(
            {"plain": lambda f=loss_np, p=p: f(p), "grad": lambda f=loss, p=p: modes.grad(f, p)}, 21
        )
        rows.append(
            (
                f"MLP loss, batch {batch}, n = {p.size}, grad / NumPy f",
                f"{med['grad'] / med['plain']:.2f}",
                f"target {target}",
            )
        )


def _memory_row(rows: list[tuple[str, str, str]]) -> None:
    x = [float(v) for v in np.random.default_rng(0).uniform(-1.5, 1.5, 10_000)]
    gc.collect()
    with modes.counting(memory=True) as s:
        modes.grad(rosenbrock, x)
    rows.append(
        (
            f"tape memory, scalar Rosenbrock n = 10^4 ({s.ops} ops), tracemalloc peak / op",
            f"{s.peak_bytes / s.ops:.0f} bytes",
            f"peak {s.peak_bytes / 2**20:.1f} MiB; target 150",
        )
    )


def _chunk_sweep(f: Any, x: Any, chunks: list[int]) -> tuple[int, dict[int, float]]:
    default = modes.choose_chunk(len(x), elements=len(x) if isinstance(x, np.ndarray) else 1)
    cs = sorted(set(chunks) | {default})
    med = medians({c: (lambda c=c: modes.grad(f, x, mode="forward", chunk=c)) for c in cs}, 3)
    return default, med


def _chunk_rows(rows: list[tuple[str, str, str]]) -> None:
    pinned = pin_allocator()  # as the catalogue sweep: chunk sizes must not set each other's malloc
    xl = [float(v) for v in np.random.default_rng(0).uniform(-1.5, 1.5, 100)]
    xa = np.random.default_rng(0).uniform(-1.5, 1.5, 1000)
    for label, f, x, chunks in (
        ("list Rosenbrock n = 100", rosenbrock, xl, [1, 4, 12, 25, 50, 100]),
        ("array Rosenbrock n = 1000", rosenbrock_array, xa, [1, 12, 50, 100, 250, 500, 1000]),
    ):
        default, med = _chunk_sweep(f, x, chunks)
        best = min(med, key=med.__getitem__)
        sweep = ", ".join(f"{c}: {med[c] * 1e3:.3g}" for c in sorted(med))
        rows.append(
            (
                f"forward chunk, {label}: default / best",
                f"{med[default] / med[best]:.2f}",
                f"default c = {default}, best c = {best}; ms by c: {sweep}"
                + ("" if pinned else "; allocator not pinned (not glibc)"),
            )
        )


#: The catalogue-wide check of the default chunk (issue 14 item 5: within 2x of the best anywhere
#: in the catalogue at n <= 1000): the input counts tried, and the chunks swept (with n itself and
#: the default; clamped to n).
CATALOGUE_SIZES = (10, 100, 1000)
CATALOGUE_CHUNKS = (1, 4, 12, 32, 100, 250)

#: A (problem, n) whose default-chunk call takes longer than this (seconds) is not swept: the row
#: says so. It keeps the group within a few minutes (gmm at n = 1002 takes 20-40 s a call).
CATALOGUE_CALL_LIMIT_S = 3.0

#: The sweep runs from the largest chunk down; a chunk smaller than the fastest so far and slower
#: than this many times it is dropped with every smaller one (each halving of c doubles the
#: passes, each of which costs at least the per-operation overhead): the row says where it stopped.
DOMINATED = 4.0


def _catalogue_cases() -> list[tuple[str, int]]:
    """(problem, n) for every catalogue problem with a forward-mode gradient or Jacobian, at each
    of :data:`CATALOGUE_SIZES` it accepts (a problem of one fixed size at that size only)."""
    cases = []
    for name, problem in CATALOGUE.items():
        if problem.kind not in (GRADIENT, JACOBIAN):
            continue
        sizes = (problem.fixed_n,) if problem.fixed_n is not None else CATALOGUE_SIZES
        cases += [(name, n) for n in sizes if problem.size_error(n) is None]
    return cases


def _agree(got: Any, ref: Any, what: str) -> None:
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12 * scale, err_msg=what)


def _sweep_order(n: int, default: int) -> list[int]:
    """The default chunk first, then the swept chunks (clamped to ``n``) from the largest down."""
    return [default] + sorted({min(c, n) for c in (*CATALOGUE_CHUNKS, n)} - {default}, reverse=True)


def _catalogue_case(name: str, n: int) -> tuple[str, str, str, float | None]:
    """One row for problem ``name`` at ``n``: (label, default / best, details, the ratio or None).

    Every chunk's derivative is checked against the instance's reference (reverse mode's where the
    problem has none) before it is timed; that call, with a second one if it is short, is also its
    warm-up and decides the pruning (:data:`DOMINATED`, :data:`CATALOGUE_CALL_LIMIT_S`).
    """
    inst = CATALOGUE[name].build(n, seed=0)
    f, x = inst.f, inst.x
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    ref = inst.reference if inst.reference is not None else diff(f, x, mode="reverse")
    default = modes.choose_chunk(inst.n, elements=input_elements(x))
    label = f"forward chunk, {name} n = {inst.n}: default / best"
    kernels: dict[int, Callable[[], Any]] = {}
    fastest, at = float("inf"), default
    dropped = ""
    for c in _sweep_order(inst.n, default):
        fn = kernels[c] = lambda c=c: diff(f, x, mode="forward", chunk=c)
        below = c < at  # fewer directions than the fastest chunk so far: the passes only multiply
        limit = max(1.0, DOMINATED * fastest) if below else CATALOGUE_CALL_LIMIT_S
        try:
            t, got = timed_call(fn, limit)
        except TimeLimitExceeded:
            t, got = float("inf"), None
        if got is None and not below:
            del kernels[c]
            if c == default:
                why = f"one call at the default c = {default} took over {limit:.0f} s"
                return label, "skipped", why, None
            dropped += f"; c = {c} not timed (one call over {limit:.0f} s)"
            continue
        if got is not None:
            _agree(got, ref, f"{name} n = {inst.n}, forward chunk {c}")
            t = t if t > 0.25 else min(t, timed_call(fn)[0])
        if below and t > DOMINATED * fastest:
            del kernels[c]
            dropped += f"; c <= {c} not timed (over {DOMINATED:.0f}x the fastest)"
            break
        if t < fastest:
            fastest, at = t, c
    med = medians(kernels, 3)
    best = min(med, key=med.__getitem__)
    ratio = med[default] / med[best]
    sweep = ", ".join(f"{c}: {med[c] * 1e3:.3g}" for c in sorted(med))
    return label, f"{ratio:.2f}", f"default c = {default}, best c = {best}; ms by c: {sweep}{dropped}", ratio


#: glibc's ``mallopt`` parameters (malloc.h): M_TRIM_THRESHOLD and M_MMAP_MAX.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def pin_allocator() -> bool:
    """Make glibc's malloc keep freed memory for reuse: no block mapped on its own (M_MMAP_MAX 0),
    no heap returned to the kernel (M_TRIM_THRESHOLD 2 GiB). For the rest of the process: mallopt
    settings also end glibc's dynamic thresholds. False where malloc is not glibc's.

    Why: a tangent of a few MiB or more is otherwise, depending on the largest block freed so far,
    mapped afresh by each operation (every page faulted in and zeroed by the kernel) or reused from
    the heap. Interleaved in one process, chunk sizes then change each other's times: measured on
    the catalogue, a sweep's best chunk followed what ran before it (mlp at n = 1001: c = 251 was
    2.4x slower than c = 32 interleaved, and the fastest of the two alone in its process).
    Pinned, the sweep measures the engine (operations, cache), as BLAS pinned to one thread does.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def _catalogue_chunk_rows(rows: list[tuple[str, str, str]]) -> None:
    pinned = pin_allocator()
    rows.append(
        (
            "forward chunk, catalogue: allocator",
            "pinned" if pinned else "not pinned",
            "glibc malloc keeps freed memory (pin_allocator)" if pinned else "not glibc: see pin_allocator",
        )
    )
    worst: tuple[float, str] | None = None
    for name, n in _catalogue_cases():
        label, shown, details, ratio = _catalogue_case(name, n)
        rows.append((label, shown, details))
        if ratio is not None and (worst is None or ratio > worst[0]):
            worst = (ratio, label.split(":")[0].removeprefix("forward chunk, "))
    if worst is not None:
        rows.append(
            (
                "forward chunk, catalogue n <= 1000: worst default / best",
                f"{worst[0]:.2f}",
                f"{worst[1]}; target 2",
            )
        )


def _vector_reverse_row(rows: list[tuple[str, str, str]]) -> None:
    inst = CATALOGUE["tall"].build(128, seed=0, outputs=128)
    f, x = inst.f, inst.x
    for c in (1, 128):
        J = modes.jacobian(f, x, mode="reverse", chunk=c)
        np.testing.assert_allclose(J, inst.reference, rtol=1e-10, atol=1e-12)
    med = medians(
        {
            "single": lambda: modes.jacobian(f, x, mode="reverse", chunk=1),
            "vector": lambda: modes.jacobian(f, x, mode="reverse", chunk=128),
        },
        9,
    )
    rows.append(
        (
            "vector reverse, tall m = n = 128: 128 single sweeps / one sweep of 128",
            f"{med['single'] / med['vector']:.1f}",
            "target 5",
        )
    )


#: The row groups of issue 14's table, by the name ``--only`` takes.
GROUPS = ("chain", "ratios", "memory", "chunk", "vector", "catalogue-chunk")


def issue14(rosenbrock_ratio: float | None, only: tuple[str, ...] = GROUPS) -> None:
    """Print issue 14's table (the groups in ``only``): each figure with its reference."""
    rows: list[tuple[str, str, str]] = []
    if "chain" in only:
        _chain_rows(rows)
    if "ratios" in only:
        _ratio_rows(rows, rosenbrock_ratio)
    if "memory" in only:
        _memory_row(rows)
    if "vector" in only:
        _vector_reverse_row(rows)
    # the chunk sweeps last: they pin the allocator for the rest of the process (pin_allocator)
    if "chunk" in only:
        _chunk_rows(rows)
    if "catalogue-chunk" in only:
        _catalogue_chunk_rows(rows)
    print("issue 14 figures (ours | reference or target)")
    width = max(len(r[0]) for r in rows)
    for name, ours, ref in rows:
        print(f"  {name:<{width}}  {ours:>10}  | {ref}")


def _parse(argv: list[str] | None) -> tuple[str, ...]:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.engine_speed",
        description="The engines' speed figures (issues 2, 13, 14) as ratios measured in one run.",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated groups to time, of: scalar (the first block), " + ", ".join(GROUPS),
    )
    args = parser.parse_args(argv)
    if args.only is None:
        return ("scalar", *GROUPS)
    only = tuple(g.strip() for g in args.only.split(",") if g.strip())
    unknown = [g for g in only if g not in ("scalar", *GROUPS)]
    if unknown or not only:
        parser.error(f"--only: unknown group(s) {', '.join(unknown) or '(none given)'}")
    return only


def main(argv: list[str] | None = None) -> None:
    """Print the figures: every group, or those ``--only`` names in ``argv`` (command-line words)."""
    only = _parse([] if argv is None else argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    with threadpool_limits(1):
        if "scalar" not in only:
            issue14(None, only)
            return
        ros = rosenbrock_instance()
        f, x = ros.f, ros.x
        rec = modes.record(f, x)
        med = medians(
            {
                "plain": lambda: f(x),
                "reverse": lambda: modes.grad(f, x),
                "record": lambda: modes.record(f, x),
                "sweep": lambda: rec.backward(),
            },
            15,
        )
        n_ops = rec.tape.ops
        rosenbrock_ratio = med["reverse"] / med["plain"]
        print(f"scalar Rosenbrock, n = {ros.n} ({n_ops} recorded ops)")
        print(f"  reverse / plain = {rosenbrock_ratio:.1f}")
        per_op = {k: v / n_ops * 1e9 for k, v in med.items()}
        print(
            f"  per op: plain {per_op['plain']:.0f} ns, record {per_op['record']:.0f} ns, "
            f"sweep {per_op['sweep']:.0f} ns"
        )
        fwd, rev = [], []
        for _ in range(2):
            fwd.append(timed_call(lambda: modes.grad(f, x, mode="forward", chunk=1))[0])
            rev.append(medians({"reverse": lambda: modes.grad(f, x)}, 3)["reverse"])
        print(f"  forward(chunk=1) / reverse = {statistics.median(fwd) / statistics.median(rev):.0f}")
        net = mlp()
        loss, loss_np, p = net.f, net.plain, net.x
        med = medians({"plain": lambda: loss_np(p), "reverse": lambda: modes.grad(loss, p)}, 21)
        ratio = med["reverse"] / med["plain"]
        print(
            f"MLP loss, {net.n} parameters, batch {net.details['batch']}: reverse / plain NumPy = {ratio:.2f}"
        )
        issue14(rosenbrock_ratio, only)


if __name__ == "__main__":
    main(sys.argv[1:])
