"""modes.counting(): passes, primitive evaluations, updates, sweeps, tape length and bytes, peak bytes.

The expected counts are worked out by hand from the functions below (one primitive per operator
or ops call; one update per (primitive, engine-valued argument) pair, per direction in forward mode).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import modes
from modes import ops

N = 30


def chain_list(v):
    """Per link: sin (1 update), mul (2 updates), add (2 updates); n - 1 links."""
    total = v[0]
    for i in range(1, len(v)):
        total = total + ops.sin(v[i]) * v[i - 1]
    return total


def sum_sin_times_x(x):
    """sin (1 update), mul (2 updates: both arguments are engine values), sum (1 update)."""
    return ops.sum(ops.sin(x) * x)


X = np.linspace(-1.0, 2.0, N)


@pytest.mark.parametrize("chunk", [None, 1, 4, 7, 10, 29, 30, 100])
def test_forward_counts_for_list_inputs(chunk):
    c = modes.choose_chunk(N, chunk)
    with modes.counting(memory=False) as stats:
        modes.grad(chain_list, list(X), mode="forward", chunk=chunk)
    passes = math.ceil(N / min(c, N))
    assert stats.passes == passes
    assert stats.ops == passes * 3 * (N - 1)
    assert stats.tangent_updates == 5 * (N - 1) * N  # per direction, summed over all directions
    assert stats.adjoint_updates == 0 and stats.sweeps == 0
    assert stats.tape_length == 0 and stats.tape_bytes == 0
    assert stats.calls == 1 and stats.modes == ["forward"]


@pytest.mark.parametrize("chunk", [None, 1, 3, 12, 30])
def test_forward_counts_for_array_inputs(chunk):
    with modes.counting(memory=False) as stats:
        modes.grad(sum_sin_times_x, X, mode="forward", chunk=chunk)
    passes = {None: 1, 1: 30, 3: 10, 12: 3, 30: 1}[chunk]  # default: one pass (modes/chunking.py)
    assert stats.passes == passes
    assert stats.ops == 3 * passes
    assert stats.tangent_updates == 4 * N


def test_reverse_counts():
    with modes.counting(memory=False) as stats:
        modes.grad(chain_list, list(X), mode="reverse")
    assert stats.passes == 1
    assert stats.ops == 3 * (N - 1)
    assert stats.adjoint_updates == 5 * (N - 1)
    assert stats.tangent_updates == 0
    assert stats.sweeps == 1
    assert stats.tape_length == N + 3 * (N - 1)  # one input node per entry, one node per op
    assert stats.tape_bytes > 0
    assert stats.modes == ["reverse"]
    with modes.counting(memory=False) as stats:
        modes.value_and_grad(sum_sin_times_x, X)
    assert (stats.passes, stats.ops, stats.adjoint_updates, stats.sweeps, stats.tape_length) == (
        1,
        3,
        4,
        1,
        4,
    )


def test_unreached_nodes_cost_no_adjoint_updates():
    def f(v):
        _ = ops.exp(v[0]) * v[1]  # recorded, but does not reach the output
        return v[0] * v[1]

    with modes.counting(memory=False) as stats:
        modes.grad(f, [1.0, 2.0])
    assert stats.ops == 3 and stats.tape_length == 5
    assert stats.adjoint_updates == 2


def test_the_articles_counts():
    """Forward mode does the work once per input; reverse mode once."""
    f = lambda v: (v[0] + v[1]) * (v[1] + v[2])
    with modes.counting(memory=False) as fwd:
        modes.grad(f, [-1.0, 3.0, 4.0], mode="forward", chunk=1)
    with modes.counting(memory=False) as rev:
        modes.grad(f, [-1.0, 3.0, 4.0])
    assert (fwd.passes, fwd.ops, fwd.tangent_updates) == (3, 9, 18)
    assert (rev.passes, rev.ops, rev.adjoint_updates, rev.tape_length) == (1, 3, 6, 6)


def test_jacobian_counts_one_sweep_per_row_and_one_pass_per_chunk():
    m = 5
    x = np.linspace(0.1, 0.5, m)
    f = lambda v: ops.sin(v) * 2.0  # sin (1 update), mul with a constant (1 update)
    with modes.counting(memory=False) as rev:
        modes.jacobian(f, x, mode="reverse")
    assert rev.passes == 1 and rev.sweeps == m
    assert rev.ops == 2
    assert rev.adjoint_updates == 2 * m
    assert rev.tape_length == 3
    with modes.counting(memory=False) as fwd:
        modes.jacobian(f, x, mode="forward", chunk=2)
    assert fwd.passes == 3 and fwd.ops == 6 and fwd.tangent_updates == 2 * m and fwd.sweeps == 0


def test_jvp_and_vjp_counts():
    with modes.counting(memory=False) as stats:
        modes.jvp(sum_sin_times_x, X, np.ones(N))
    assert (stats.passes, stats.ops, stats.tangent_updates, stats.sweeps) == (1, 3, 4, 0)
    assert stats.modes == ["forward"]
    with modes.counting(memory=False) as stats:
        modes.vjp(lambda v: ops.sin(v) * v, X, np.ones(N))
    assert (stats.passes, stats.ops, stats.adjoint_updates, stats.sweeps, stats.tape_length) == (
        1,
        2,
        3,
        1,
        3,
    )
    assert stats.modes == ["reverse"]


def test_counts_add_up_across_calls_in_one_block():
    with modes.counting(memory=False) as stats:
        modes.grad(sum_sin_times_x, X, mode="forward", chunk=10)
        modes.grad(sum_sin_times_x, X, mode="reverse")
        modes.grad(chain_list, list(X[:4]), mode="reverse")
    assert stats.calls == 3
    assert stats.modes == ["forward", "reverse", "reverse"]
    assert stats.passes == 3 + 1 + 1
    assert stats.ops == 9 + 3 + 9
    assert stats.tangent_updates == 4 * N
    assert stats.adjoint_updates == 4 + 15
    assert stats.sweeps == 2
    assert stats.tape_length == max(4, 4 + 9)  # the longest tape
    d = stats.as_dict()
    assert (
        d["calls"] == 3
        and d["passes"] == 5
        and set(d)
        >= {
            "passes",
            "ops",
            "tangent_updates",
            "adjoint_updates",
            "sweeps",
            "tape_length",
            "tape_bytes",
            "peak_bytes",
        }
    )


def test_nothing_is_counted_outside_a_block_or_without_a_computation():
    with modes.counting(memory=False) as stats:
        pass
    assert stats.as_dict() == modes.Stats().as_dict()
    modes.grad(sum_sin_times_x, X)  # outside: counted nowhere
    assert stats.calls == 0 and stats.passes == 0


# ----------------------------------------------------------------------------------- memory


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_peak_bytes_with_memory_on(mode):
    n = 10_000 if mode == "reverse" else 600  # forward: ceil(n / 12) passes under tracemalloc
    x = np.linspace(-1.0, 1.0, n)
    was_tracing = tracemalloc.is_tracing()
    with modes.counting(memory=True) as stats:
        modes.grad(sum_sin_times_x, x, mode=mode)
    assert tracemalloc.is_tracing() == was_tracing  # the block restores tracemalloc's state
    # at least one intermediate array of n float64 was alive at the peak
    assert stats.peak_bytes >= 8 * n
    if mode == "reverse":
        # the tape keeps the input and the outputs of sin and mul: three arrays of n float64
        assert stats.tape_bytes >= 3 * 8 * n
    with modes.counting(memory=False) as quiet:
        modes.grad(sum_sin_times_x, x[:50], mode=mode)
    assert quiet.peak_bytes == 0


def test_peak_bytes_grow_with_the_tape():
    """A longer recording holds more: the peak and the tape bytes grow with the chain length."""

    def chain(k):
        def f(x):
            for _ in range(k):
                x = ops.sin(x) * 1.5
            return ops.sum(x)

        return f

    x = np.linspace(0.0, 1.0, 1000)
    with modes.counting(memory=True) as short:
        modes.grad(chain(5), x)
    with modes.counting(memory=True) as long:
        modes.grad(chain(50), x)
    assert short.peak_bytes > 0 and short.tape_bytes > 0
    assert long.tape_bytes > 5 * short.tape_bytes
    assert long.peak_bytes > 5 * short.peak_bytes
    assert long.tape_length == 1 + 2 * 50 + 1


# --------------------------------------------------------------------- counting changes nothing


def _computations():
    W = np.array([[1.0, -2.0, 0.5], [0.0, 1.5, -1.0]])
    x = np.array([0.3, -0.8, 1.1])
    f = lambda v: ops.sum(ops.tanh(W @ v) ** 2)
    g = lambda v: ops.tanh(W @ v)
    return [
        ("grad-rev", lambda: modes.grad(f, x)),
        ("grad-fwd", lambda: modes.grad(f, x, mode="forward")),
        ("grad-fwd-c1", lambda: modes.grad(f, x, mode="forward", chunk=1)),
        ("grad-list", lambda: modes.grad(chain_list, list(x), mode="forward", chunk=2)),
        ("value_and_grad", lambda: modes.value_and_grad(f, x)),
        ("jacobian-rev", lambda: modes.jacobian(g, x)),
        ("jacobian-fwd", lambda: modes.jacobian(g, x, mode="forward", chunk=2)),
        ("jvp", lambda: modes.jvp(g, x, np.array([1.0, 0.0, -1.0]))),
        ("vjp", lambda: modes.vjp(g, x, np.array([1.0, 2.0]))),
        ("scalar", lambda: modes.value_and_grad(lambda s: ops.exp(s) * s, 0.7, mode="forward")),
    ]


def _flatten(r):
    if isinstance(r, tuple):
        return [np.asarray(e) for e in r]
    return [np.asarray(r)]


@pytest.mark.parametrize("memory", [True, False])
def test_counting_never_changes_results(memory):
    for name, compute in _computations():
        outside = _flatten(compute())
        with modes.counting(memory=memory) as stats:
            inside = _flatten(compute())
        assert stats.calls == 1, name
        assert len(inside) == len(outside)
        for a, b in zip(inside, outside):
            np.testing.assert_array_equal(a, b, err_msg=name)
            assert a.dtype == b.dtype and a.shape == b.shape, name


def test_nothing_is_counted_outside_a_counting_block(monkeypatch):
    """Issue 14: a gradient outside ``counting()`` does not assemble its counts (they cost a dict,
    a property and a length per call); inside a block the same call reports them."""
    from modes.reverse import Recording

    real = Recording.counts
    asked = []

    def spy(self):
        asked.append(1)
        return real(self)

    monkeypatch.setattr(Recording, "counts", spy)
    assert modes.grad(lambda v: v[0] * v[1], [2.0, 3.0]).tolist() == [3.0, 2.0]
    assert asked == []
    with modes.counting(memory=False) as s:
        modes.grad(lambda v: v[0] * v[1], [2.0, 3.0])
    assert asked == [1] and s.ops == 1 and s.sweeps == 1


def test_memory_tracing_is_opt_in():
    """A plain counting block traces no allocations (tracemalloc slows a computation unevenly,
    which reversed a forward-vs-reverse verdict timed inside one; issue 15 item 18)."""
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is already on in this process")
    with modes.counting() as stats:
        assert not tracemalloc.is_tracing()
        modes.grad(sum_sin_times_x, X)
    assert stats.peak_bytes == 0 and stats.ops > 0 and stats.tape_bytes > 0
    with modes.counting(memory=True) as traced:
        assert tracemalloc.is_tracing()
        modes.grad(sum_sin_times_x, X)
    assert traced.peak_bytes > 0 and not tracemalloc.is_tracing()


def test_the_runner_asks_for_memory_explicitly():
    """The runner's peak memory comes from its own traced run (counting(memory=True)), its
    counts from the untraced verification call."""
    from experiments.memory import traced_peak

    peak, _, stats = traced_peak(lambda: modes.grad(sum_sin_times_x, np.linspace(0.0, 1.0, 5000)))
    assert peak >= 8 * 5000 and stats.peak_bytes >= 8 * 5000


def test_an_untraced_peak_is_not_shown_as_zero_bytes():
    from modes import notebook

    with modes.counting() as plain:
        modes.grad(sum_sin_times_x, X)
    with modes.counting(memory=True) as traced:
        modes.grad(sum_sin_times_x, X)
    rows = {label: v for label, v in notebook.stats_rows(plain)}
    assert rows["peak bytes (tracemalloc)"].startswith("not traced")
    assert dict(notebook.stats_rows(traced))["peak bytes (tracemalloc)"] == f"{traced.peak_bytes:,}"


def test_the_runner_peak_is_the_tape_not_the_counting_bookkeeping():
    """The runner's traced run used the whole call's peak, which included the tape-size estimate
    walking the tape after the gradient (a set of every entry's id): scalar Rosenbrock at n = 1000
    read 571 bytes per op where the differentiation itself peaks at 175."""
    from experiments.memory import traced_peak
    from experiments.problems import rosenbrock

    x = [float(v) for v in np.random.default_rng(0).uniform(-1.5, 1.5, 1000)]
    peak, _, stats = traced_peak(lambda: modes.grad(rosenbrock, x))
    with modes.counting(memory=True) as alone:
        modes.grad(rosenbrock, x)
    assert peak == stats.peak_bytes
    # the same differentiation counted on its own (allocator caches make a few percent differ)
    assert 0.7 * alone.peak_bytes <= peak <= 1.3 * alone.peak_bytes
    assert peak / stats.ops < 250  # bytes per recorded op: the tape, not the bookkeeping
