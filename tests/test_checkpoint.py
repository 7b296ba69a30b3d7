"""modes.checkpoint and modes.loop: the same derivatives as plain recording, for less memory.

Oracles: the plain recording (``snapshots=None``, no checkpoint), forward mode (no tape at all),
central finite differences, and revolve's closed-form step counts (``modes/revolve.py``, itself
checked by brute force in ``tests/test_revolve.py``).
"""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modes
from modes import ops, revolve
from modes.hessian import ORDERS

D, T = 6, 23
RNG = np.random.default_rng(17)
W = RNG.normal(size=(D, D)) / np.sqrt(D)
XS = RNG.normal(size=(T, D))
H0 = RNG.normal(size=D)
SNAPSHOTS = [1, 2, 3, 5, T - 1, T, T + 7]


def rnn(h0, w=W, steps=T, snapshots=None):
    """loss = |h_T|^2 with h <- tanh(w h + x_t); w closed over by the step."""
    h = modes.loop(lambda h, t: ops.tanh(w @ h + XS[t]), h0, steps, snapshots=snapshots)
    return ops.sum(h * h)


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------------------ gradients equal the plain ones


@pytest.mark.parametrize("s", SNAPSHOTS)
def test_gradient_in_the_initial_state(s):
    close(modes.grad(lambda h: rnn(h, snapshots=s), H0), modes.grad(rnn, H0))


@pytest.mark.parametrize("s", SNAPSHOTS)
def test_gradient_in_a_closed_over_parameter(s):
    plain = modes.grad(lambda w: rnn(H0, w), W)
    close(modes.grad(lambda w: rnn(H0, w, snapshots=s), W), plain)
    close(modes.grad(lambda w: rnn(w[0], w, snapshots=s), W), modes.grad(lambda w: rnn(w[0], w), W))


def two_part_step(c, t):
    """A carry that is a tuple (array, list of scalars): structure kept through every step."""
    h, (a, b) = c
    h = ops.tanh(W @ h * a + XS[t % T])
    return (h, [ops.sin(a + b * 0.1), b * ops.cos(ops.sum(h))])


@pytest.mark.parametrize("s", [1, 4, 40])
def test_structured_carry(s):
    def f(v):
        h, (a, b) = modes.loop(two_part_step, (v[:D], [v[D], v[D + 1]]), 40, snapshots=s)
        return ops.sum(h) * a + b

    def plain(v):
        h, (a, b) = modes.loop(two_part_step, (v[:D], [v[D], v[D + 1]]), 40)
        return ops.sum(h) * a + b

    v = RNG.normal(size=D + 2)
    close(modes.grad(f, v), modes.grad(plain, v))
    close(modes.grad(f, v, mode="forward"), modes.grad(plain, v))


def test_scalar_list_carry_and_list_inputs():
    def f(v, s=None):
        a, b = modes.loop(
            lambda c, t: [c[0] * ops.cos(c[1]), c[1] + 0.1 * c[0]], [v[0], v[1]], 15, snapshots=s
        )
        return a * b + v[2]

    x = [0.3, -0.7, 2.0]
    for s in (1, 2, 15):
        close(modes.grad(lambda v, s=s: f(v, s), x), modes.grad(f, x))


def test_finite_differences_agree():
    fd = modes.finite_difference_jacobian(lambda h: rnn(h, snapshots=3), H0)
    np.testing.assert_allclose(modes.grad(lambda h: rnn(h, snapshots=3), H0), fd, rtol=1e-6, atol=1e-7)


def test_jacobian_sweeps_the_recording_many_times():
    f = lambda w, s=None: modes.loop(lambda h, t: ops.tanh(w @ h + XS[t]), H0, T, snapshots=s)
    J = modes.jacobian(lambda w: f(w, 4), W)
    close(J, modes.jacobian(f, W))
    close(modes.jacobian(lambda w: f(w, 4), W, mode="forward"), modes.jacobian(f, W))


# --------------------------------------------------------------------------------- forward mode


@pytest.mark.parametrize("s", [None, 1, 3, T])
def test_forward_and_reverse_agree_through_loop(s):
    g_rev = modes.grad(lambda h: rnn(h, snapshots=s), H0)
    g_fwd = modes.grad(lambda h: rnn(h, snapshots=s), H0, mode="forward")
    close(g_fwd, g_rev)
    v = RNG.normal(size=D)
    _, jv = modes.jvp(lambda h: rnn(h, snapshots=s), H0, v)
    close(jv, g_rev @ v)


def test_forward_mode_is_a_plain_loop():
    with modes.counting(memory=False) as stats:
        modes.grad(lambda h: rnn(h, snapshots=2), H0, mode="forward", chunk=D)
    assert stats.step_evaluations == T and stats.recomputed_steps == 0


def test_plain_numbers_give_plain_numbers():
    h = H0
    for t in range(T):
        h = np.tanh(W @ h + XS[t])
    for s in (None, 1, 5):
        out = modes.loop(lambda h, t: ops.tanh(W @ h + XS[t]), H0, T, snapshots=s)
        assert type(out) is np.ndarray
        close(out, h, 1e-15)
    f = lambda a, b: (ops.sin(a) * b, [a, b])
    assert modes.checkpoint(f)(0.5, 2.0) == f(0.5, 2.0)


# ------------------------------------------------------------------------- second derivatives


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("s", [1, 3, T])
def test_hvp_through_loop(order, s):
    v = RNG.normal(size=(D, D))
    close(
        modes.hvp(lambda w: rnn(H0, w, snapshots=s), W, v, order=order), modes.hvp(lambda w: rnn(H0, w), W, v)
    )


def inner(a, b):
    return [ops.sin(a * b), ops.exp(a) * ops.sum(b * b)]


def with_checkpoint(x, fn=None):
    y, z = (fn or modes.checkpoint(inner))(x[0], x[1:])
    return ops.sum(y) * z + ops.sum(x**3)


@pytest.mark.parametrize("order", ORDERS)
def test_hvp_through_a_checkpointed_function(order):
    x, v = RNG.normal(size=4), RNG.normal(size=4)
    close(modes.hvp(with_checkpoint, x, v, order=order), modes.hvp(lambda x: with_checkpoint(x, inner), x, v))
    close(
        modes.hessian(with_checkpoint, x, order=order), modes.hessian(lambda x: with_checkpoint(x, inner), x)
    )


def test_nested_checkpoints():
    """checkpoint inside a loop step, inside checkpoint: each level recomputes its own."""
    inner_ck = modes.checkpoint(lambda h: ops.tanh(W @ h))
    outer = modes.checkpoint(lambda h: modes.loop(lambda c, t: inner_ck(c + XS[t]), h, 5, snapshots=2))
    plain = lambda h: modes.loop(lambda c, t: ops.tanh(W @ (c + XS[t])), h, 5)
    close(modes.grad(lambda h: ops.sum(outer(h) ** 2), H0), modes.grad(lambda h: ops.sum(plain(h) ** 2), H0))
    v = RNG.normal(size=D)
    close(
        modes.hvp(lambda h: ops.sum(outer(h) ** 2), H0, v, order="reverse-over-reverse"),
        modes.hvp(lambda h: ops.sum(plain(h) ** 2), H0, v),
    )


# ----------------------------------------------------------------------- what reverse mode keeps


def test_the_tape_holds_one_entry_for_the_loop():
    rec = modes.record(lambda h: modes.loop(lambda h, t: ops.tanh(W @ h + XS[t]), h, T, snapshots=4), H0)
    assert len(rec.tape) == 2 and rec.tape.node(1).primitive.name == "loop"
    plain = modes.record(lambda h: modes.loop(lambda h, t: ops.tanh(W @ h + XS[t]), h, T), H0)
    assert len(plain.tape) > 3 * T


@pytest.mark.parametrize("s", SNAPSHOTS)
def test_step_evaluations_obey_revolve(s):
    with modes.counting(memory=False) as stats:
        modes.grad(lambda h: rnn(h, snapshots=s), H0)
    s_used = min(s, T)
    r = revolve.repetitions(T, s_used)
    sweep = r * T - comb(s_used + r, s_used + 1) + 1  # revolve's t(T, s), after the forward pass
    assert stats.recomputed_steps == sweep <= r * T
    assert stats.step_evaluations == T + sweep
    assert stats.recomputed_ops > 0


def test_recording_everything_recomputes_nothing():
    with modes.counting(memory=False) as stats:
        modes.grad(rnn, H0)
    assert stats.step_evaluations == T and stats.recomputed_steps == 0 and stats.recomputed_ops == 0


def test_peak_memory_falls():
    """T = 600, a state of 40 floats: 8 snapshots need at least 5x less than recording every step."""
    d, steps = 40, 600
    rng = np.random.default_rng(3)
    w, xs, h0 = rng.normal(size=(d, d)) / np.sqrt(d), rng.normal(size=(steps, d)), rng.normal(size=d)

    def loss(h, s):
        return ops.sum(modes.loop(lambda h, t: ops.tanh(w @ h + xs[t]), h, steps, snapshots=s) ** 2)

    peaks = {}
    grads = {}
    for s in (None, 8):
        with modes.counting(memory=True) as stats:
            grads[s] = modes.grad(lambda h, s=s: loss(h, s), h0)
        peaks[s] = stats.peak_bytes
    close(grads[8], grads[None])
    assert peaks[8] > 0 and peaks[None] >= 5 * peaks[8], peaks


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("s", [0, -1])
def test_snapshots_must_be_positive(s):
    with pytest.raises(ValueError, match="snapshots must be >= 1"):
        modes.loop(lambda h, t: h, H0, 3, snapshots=s)


@pytest.mark.parametrize("s", [2.0, "3", True, [2]])
def test_snapshots_must_be_an_integer(s):
    with pytest.raises(TypeError, match="snapshots must be an integer"):
        modes.loop(lambda h, t: h, H0, 3, snapshots=s)


def test_more_snapshots_than_steps_means_all():
    for s in (T, T + 1, 10**6):
        with modes.counting(memory=False) as stats:
            g = modes.grad(lambda h, s=s: rnn(h, snapshots=s), H0)
        assert stats.recomputed_steps == T
        close(g, modes.grad(rnn, H0))


@pytest.mark.parametrize(("steps", "error"), [(-1, ValueError), (2.5, TypeError), (None, TypeError)])
def test_bad_step_counts(steps, error):
    with pytest.raises(error, match="steps"):
        modes.loop(lambda h, t: h, H0, steps)


def test_zero_steps_return_the_carry():
    assert modes.loop(lambda h, t: h * 2.0, H0, 0, snapshots=2) is H0
    close(modes.grad(lambda h: ops.sum(modes.loop(lambda c, t: c * 2.0, h, 0, snapshots=2)), H0), np.ones(D))


@pytest.mark.parametrize("s", [None, 1, 4])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_a_step_changing_the_shape_is_named(s, mode):
    def step(h, t):
        return ops.concatenate([h, h]) if t == 7 else h * 0.5

    with pytest.raises(ValueError, match=r"step 7 returned shape \(12,\).*shape \(6,\)"):
        modes.grad(lambda h: ops.sum(modes.loop(step, h, 10, snapshots=s)), H0, mode=mode)


def test_a_step_changing_the_structure_is_named():
    with pytest.raises(ValueError, match="step 0 returned a list"):
        modes.loop(lambda h, t: [h, h], H0, 3, snapshots=2)


def test_bad_carries_and_callables():
    with pytest.raises(TypeError, match="carry must be a number"):
        modes.loop(lambda h, t: h, "abc", 3)
    with pytest.raises(TypeError, match=r"carry\[1\] must be a number"):
        modes.loop(lambda h, t: h, [1.0, None], 3)
    with pytest.raises(TypeError, match="step must be callable"):
        modes.loop(3, H0, 3)
    with pytest.raises(TypeError, match="checkpoint needs a callable"):
        modes.checkpoint(None)
    with pytest.raises(TypeError, match="positionally"):
        modes.checkpoint(inner)(1.0, b=2.0)


def test_closed_over_values_computed_alone_need_passing_in():
    """xs[t] inside the step, with xs differentiated: the sweep cannot recompute it: a clear error."""

    def f(xs, s):
        return ops.sum(modes.loop(lambda h, t: ops.tanh(W @ h + xs[t]), H0, T, snapshots=s))

    with pytest.raises(modes.CheckpointError, match="xs\\[t\\]"):
        modes.grad(lambda xs: f(xs, 3), XS)
    close(modes.grad(lambda xs: f(xs, None), XS), modes.grad(lambda xs: f(xs, None), XS, mode="forward"))


def test_compile_replays_a_checkpointed_loop_and_refuses_closures_over_its_input():
    """The replay calls the loop primitive again, so a step's branches follow the new point; a
    step closing over a value computed from x would need the closure found at each replay: refused."""

    def step(c, t):
        return ops.tanh(W @ c + XS[t]) if modes.primal(c)[0] > 0 else c * 0.5

    f = lambda h: ops.sum(modes.loop(step, h, T, snapshots=3))
    compiled = modes.compile(f, H0)
    for h in (H0, -H0, RNG.normal(size=D)):
        close(compiled.grad(h), modes.grad(f, h))
    with pytest.raises(modes.ModesError, match=r"modes\.compile cannot replay"):
        modes.compile(lambda w: rnn(H0, w, snapshots=3), W)


@settings(max_examples=40, deadline=None)
@given(steps=st.integers(1, 30), s=st.integers(1, 35), d=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_loops_match_the_plain_recording_and_revolve(steps, s, d, seed):
    """Any length, any snapshot count, any small state: same gradient, revolve's exact count."""
    rng = np.random.default_rng(seed)
    w, xs, h0 = rng.normal(size=(d, d)), rng.normal(size=(steps, d)), rng.normal(size=d)

    def loss(h, snapshots):
        out = modes.loop(lambda h, t: ops.sin(w @ h) * 0.9 + xs[t], h, steps, snapshots=snapshots)
        return ops.sum(out * out)

    with modes.counting(memory=False) as stats:
        g = modes.grad(lambda h: loss(h, s), h0)
    close(g, modes.grad(lambda h: loss(h, None), h0))
    assert stats.recomputed_steps == revolve.sweep_evaluations(steps, min(s, steps))


def test_a_step_closing_over_an_engine_value_is_noticed_after_one_plain_step():
    """The first forward pass runs on plain numbers; step 0 returning an engine value reveals the
    closure, and the pass restarts under the scope that finds it (that one step is counted)."""
    with modes.counting(memory=False) as stats:
        modes.grad(lambda w: rnn(H0, w, snapshots=4), W)
    sweep = revolve.sweep_evaluations(T, 4)
    assert stats.recomputed_steps == sweep and stats.step_evaluations == 1 + T + sweep
