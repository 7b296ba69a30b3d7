"""Chunk sizes, ForwardDiff's chunk rule, reused nodes, long chains, fresh gradients, reusable tapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import modes
from experiments.problems import rosenbrock as rosenbrock_list
from experiments.problems import rosenbrock_array, rosenbrock_gradient
from modes import ops

N = 30  # > 12, so the default chunk is a real chunk (10: three passes)


def cross_terms(x):
    """Every input meets every other: a dense gradient with products across chunk boundaries."""
    s = ops.sum(ops.sin(x) * np.arange(1.0, x.shape[0] + 1.0))
    return s * s + ops.sum(ops.exp(0.1 * x))


def cross_terms_gradient(x):
    w = np.arange(1.0, x.size + 1.0)
    s = np.sum(np.sin(x) * w)
    return 2.0 * s * w * np.cos(x) + 0.1 * np.exp(0.1 * x)


X0 = np.linspace(-1.2, 1.3, N) + 0.05 * np.cos(np.arange(N))


#: A chunk that leaves a remainder at N = 30 (ForwardDiff's tests take {1, c-1, c, c+1} this way).
C = 10


def chunk_sizes(n):
    return sorted({1, C - 1, C, C + 1, n, modes.choose_chunk(n)} & set(range(1, n + 1)) | {n + 5})


def test_the_chunk_sizes_exercise_remainders_and_the_default():
    assert chunk_sizes(N) == [1, 9, 10, 11, 30, 35]
    assert modes.choose_chunk(N) == N  # the default: one pass (modes/chunking.py)


@pytest.mark.parametrize("chunk", chunk_sizes(N))
def test_chunk_sizes_give_the_same_gradient_for_list_inputs(chunk):
    expected = rosenbrock_gradient(X0)
    g_rev = modes.grad(rosenbrock_list, list(X0))
    g = modes.grad(rosenbrock_list, list(X0), mode="forward", chunk=chunk)
    assert g.shape == (N,) and g.dtype == np.float64
    np.testing.assert_allclose(g_rev, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, g_rev, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("chunk", chunk_sizes(N))
@pytest.mark.parametrize(
    "f,gradient",
    [(rosenbrock_array, rosenbrock_gradient), (cross_terms, cross_terms_gradient)],
    ids=["rosenbrock", "dense"],
)
def test_chunk_sizes_give_the_same_gradient_for_array_inputs(chunk, f, gradient):
    expected = gradient(X0)
    g_rev = modes.grad(f, X0)
    g = modes.grad(f, X0, mode="forward", chunk=chunk)
    assert g.shape == X0.shape
    np.testing.assert_allclose(g_rev, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, g_rev, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("chunk", [1, 3, 4, 5, 6, 11, 12])
def test_chunk_sizes_on_a_2d_array_input(chunk):
    X = X0[:12].reshape(3, 4)
    W = np.arange(1.0, 13.0).reshape(4, 3) / 10.0
    f = lambda a: ops.sum(ops.tanh(a @ W) ** 2)
    T = np.tanh(X @ W)
    expected = (2.0 * T * (1.0 - T**2)) @ W.T
    np.testing.assert_allclose(modes.grad(f, X), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        modes.grad(f, X, mode="forward", chunk=chunk), expected, rtol=1e-12, atol=1e-14
    )


def test_jacobian_chunks_agree():
    f = lambda x: ops.stack([ops.sum(x * x), x[0] * x[-1]])
    x = X0[:14]
    expected = np.zeros((2, 14))
    expected[0] = 2.0 * x
    expected[1, 0], expected[1, -1] = x[-1], x[0]
    for chunk in chunk_sizes(14):
        np.testing.assert_allclose(modes.jacobian(f, x, mode="forward", chunk=chunk), expected, rtol=1e-14)
    np.testing.assert_allclose(modes.jacobian(f, x, mode="reverse"), expected, rtol=1e-14)


# ---------------------------------------------------------------------------- the chunk rule


def cost_model_pick(n, elements):
    """The rule, by brute force: the largest chunk within both byte caps, then balanced passes."""
    from modes.chunking import TANGENT_BYTES, TANGENTS_BYTES

    fits = [c for c in range(1, n + 1) if 8 * c * elements <= TANGENT_BYTES and 8 * n * c <= TANGENTS_BYTES]
    cap = max(fits, default=1)
    passes = math.ceil(n / cap)
    return min(c for c in range(1, cap + 1) if math.ceil(n / c) == passes)


def test_choose_chunk_follows_the_cost_model():
    assert modes.CHUNK_THRESHOLD == 12  # ForwardDiff's cap, kept for reference
    for n in (1, 2, 12, 13, 100, 1000, 2000):
        assert modes.choose_chunk(n) == n  # a list of floats: one pass
    assert modes.choose_chunk(3000) == 1500  # 3000 x 3000 seeded entries pass 64 MiB: two passes
    assert (
        modes.choose_chunk(1000, elements=1000) == 250
    )  # 2 MiB tangents: 4 passes of 250, not 262 x 3 + 214
    assert modes.choose_chunk(100, elements=100) == 100
    assert modes.choose_chunk(10**4) == 834  # 64 MiB of seeded tangents: 12 passes
    assert modes.choose_chunk(0) == 1
    for n in list(range(1, 60)) + [299, 300, 999, 1000, 1001, 5000, 20000]:
        for elements in (1, n):
            assert modes.choose_chunk(n, elements=elements) == cost_model_pick(n, elements), (n, elements)


def test_an_explicit_chunk_is_kept_and_clamped_to_n():
    assert modes.choose_chunk(30, 1) == 1
    assert modes.choose_chunk(30, 7) == 7
    assert modes.choose_chunk(30, 30) == 30
    assert modes.choose_chunk(30, 100) == 30
    assert modes.choose_chunk(5, 10) == 5
    # a chunk larger than n is clamped: one pass, the right gradient
    x = X0[:5]
    with modes.counting(memory=False) as stats:
        g = modes.grad(rosenbrock_array, x, mode="forward", chunk=100)
    assert stats.passes == 1
    np.testing.assert_allclose(g, rosenbrock_gradient(x), rtol=1e-13)
    g = modes.grad(rosenbrock_list, list(x), mode="forward", chunk=6)
    np.testing.assert_allclose(g, rosenbrock_gradient(x), rtol=1e-13)


# --------------------------------------------------------------------------- reused nodes


@pytest.mark.parametrize("mode,chunk", [("reverse", None), ("forward", None), ("forward", 1)])
def test_reused_node_graph(mode, chunk):
    def f(a):
        b = a + a
        c = b + b
        return c

    assert modes.grad(f, 0.7, mode=mode, chunk=chunk) == 4.0
    assert modes.grad(lambda v: f(v[0]), [0.7], mode=mode, chunk=chunk)[0] == 4.0
    np.testing.assert_array_equal(
        modes.grad(lambda x: ops.sum(f(x)), np.array([0.7, -2.0]), mode=mode, chunk=chunk), [4.0, 4.0]
    )

    # reuse with a non-linear op: c = b * b with b = a * a  ->  dc/da = 4 a^3
    def g(a):
        b = a * a
        return b * b

    assert modes.grad(g, 1.5, mode=mode, chunk=chunk) == pytest.approx(4 * 1.5**3, rel=1e-15)

    # a diamond: one node feeding two paths that meet again
    def h(v):
        a, b = v
        s = a * b
        return ops.sin(s) + s * s + ops.exp(s) * a

    a, b = 0.3, -1.2
    s = a * b
    ds = math.cos(s) + 2 * s + math.exp(s) * a
    expected = [ds * b + math.exp(s), ds * a]
    np.testing.assert_allclose(modes.grad(h, [a, b], mode=mode, chunk=chunk), expected, rtol=1e-14)


# ------------------------------------------------------------------------------ long chains


def test_a_million_operations_in_reverse_mode():
    n = 10**6

    def f(x):
        for _ in range(n):
            x = x * 1.0000001
        return x

    value, g = modes.value_and_grad(f, 1.5, mode="reverse")
    expected = 1.0000001**n
    assert g == pytest.approx(expected, rel=1e-9, abs=0)
    assert value == pytest.approx(1.5 * expected, rel=1e-9, abs=0)


def test_a_deep_chain_of_mixed_ops_in_both_modes():
    """Deeper than any recursion limit, with non-trivial partials at every step."""
    n = 20_000

    def f(x):
        for _ in range(n):
            x = ops.sin(x) + 0.1 * x
        return x

    # the same recurrence by hand: x' = sin(x) + 0.1 x, dx'/dx = cos(x) + 0.1
    x, d = 0.8, 1.0
    for _ in range(n):
        d *= math.cos(x) + 0.1
        x = math.sin(x) + 0.1 * x
    g_rev = modes.grad(f, 0.8)
    g_fwd = modes.grad(f, 0.8, mode="forward")
    assert g_rev == pytest.approx(d, rel=1e-9, abs=1e-300)
    assert g_fwd == pytest.approx(d, rel=1e-9, abs=1e-300)


# ------------------------------------------------------------------ fresh gradients and tapes


@pytest.mark.parametrize("mode,chunk", [("reverse", None), ("forward", None), ("forward", 1)])
@pytest.mark.parametrize("kind", ["array", "list"])
def test_gradients_are_fresh(mode, chunk, kind):
    x = X0[:6] if kind == "array" else list(X0[:6])
    f = rosenbrock_array if kind == "array" else rosenbrock_list
    g1 = modes.grad(f, x, mode=mode, chunk=chunk)
    g2 = modes.grad(f, x, mode=mode, chunk=chunk)
    assert g1 is not g2 and not np.shares_memory(g1, g2)
    np.testing.assert_array_equal(g1, g2)
    expected = g1.copy()
    g1[:] = 12345.0  # mutating a returned gradient changes nothing later
    g3 = modes.grad(f, x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g3, expected)
    np.testing.assert_array_equal(g2, expected)
    # the input is untouched
    np.testing.assert_array_equal(np.asarray(x), X0[:6])


@pytest.mark.parametrize("mode,chunk", [("reverse", None), ("forward", None), ("forward", 1)])
def test_results_never_alias_inputs_or_seeds(mode, chunk):
    x = np.array([1.0, 2.0, 3.0])
    J = modes.jacobian(lambda v: v, x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(J, np.eye(3))
    J[0, 0] = 99.0
    np.testing.assert_array_equal(modes.jacobian(lambda v: v, x, mode=mode, chunk=chunk), np.eye(3))
    g = modes.grad(lambda v: ops.sum(v), x, mode=mode, chunk=chunk)
    g[:] = 7.0
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(modes.grad(lambda v: ops.sum(v), x, mode=mode, chunk=chunk), np.ones(3))
    # vjp of the identity returns u^T I: a copy of u, not u itself
    u = np.array([0.5, -1.0, 2.0])
    _, back = modes.vjp(lambda v: v, x, u)
    assert not np.shares_memory(back, u)
    back[:] = 0.0
    np.testing.assert_array_equal(u, [0.5, -1.0, 2.0])
    v = np.array([1.0, 0.0, -1.0])
    _, t = modes.jvp(lambda z: z, x, v)
    assert not np.shares_memory(t, v)
    t[:] = 0.0
    np.testing.assert_array_equal(v, [1.0, 0.0, -1.0])


def test_a_recording_can_be_swept_twice():
    x = X0[:8]
    rec = modes.record(rosenbrock_array, x)
    length = len(rec.tape)
    g1 = rec.backward()
    g2 = rec.backward()
    expected = rosenbrock_gradient(x)
    np.testing.assert_allclose(g1, expected, rtol=1e-13)
    np.testing.assert_array_equal(g1, g2)
    assert g1 is not g2 and not np.shares_memory(g1, g2)
    g1[:] = 0.0
    np.testing.assert_array_equal(rec.backward(), g2)
    # a seed scales the sweep; the tape is unchanged by sweeping
    np.testing.assert_allclose(rec.backward(2.0), 2.0 * expected, rtol=1e-13)
    assert len(rec.tape) == length
    assert rec.value == pytest.approx(
        float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)), rel=1e-14
    )


def test_a_vector_recording_is_swept_once_per_row():
    W = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    x = np.array([0.3, -0.6, 0.9])
    rec = modes.record(lambda v: ops.tanh(W @ v), x)
    d = 1.0 - np.tanh(W @ x) ** 2
    for j in range(2):
        seed = np.zeros(2)
        seed[j] = 1.0
        np.testing.assert_allclose(rec.backward(seed), d[j] * W[j], rtol=1e-14)
    np.testing.assert_allclose(rec.backward(np.array([1.0, 1.0])), d @ W, rtol=1e-14)
    # the list-input tape: one node per input
    rec = modes.record(rosenbrock_list, list(x))
    assert [rec.tape.node(k).primitive for k in range(3)] == [None, None, None]
    np.testing.assert_allclose(rec.backward(), rosenbrock_gradient(x), rtol=1e-13)
    np.testing.assert_allclose(rec.backward(), rosenbrock_gradient(x), rtol=1e-13)
