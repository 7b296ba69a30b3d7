"""modes.compile: record once, replay many, and the branch guard (issue 13, items 1-3).

Oracles: fresh ``modes.grad`` / ``jvp`` / ``vjp`` / ``hessian`` at the same point (the replay must
agree bit for bit where it evaluates the same operations), the closed-form Rosenbrock gradient
and hand-derived Jacobians; the guard against the comparison recomputed in plain Python.
"""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_random_expressions import points, to_engine, trees

import modes
from experiments.problems import rosenbrock, rosenbrock_array, rosenbrock_gradient
from modes import ops

rng = np.random.default_rng(20261130)
finite = st.floats(-4.0, 4.0, allow_nan=False)


def _points(n: int, k: int) -> list[np.ndarray]:
    return [rng.uniform(-1.5, 1.5, n) for _ in range(k)]


# ----------------------------------------------------------------------------- replayed gradients


@pytest.mark.parametrize("n", [2, 3, 10, 40])
def test_scalar_rosenbrock_replay_equals_fresh_grad_and_closed_form(n):
    x0 = [float(v) for v in rng.uniform(-1.5, 1.5, n)]
    c = modes.compile(rosenbrock, x0)
    assert c.program.fast is not None  # the generated-code path is the one under test here
    for p in _points(n, 25):
        x = [float(v) for v in p]
        value, g = c.value_and_grad(x)
        fresh_value, fresh = modes.value_and_grad(rosenbrock, x)
        assert value == fresh_value
        np.testing.assert_array_equal(g, fresh)
        np.testing.assert_allclose(g, rosenbrock_gradient(p), rtol=1e-12, atol=1e-12)
    assert c.recordings == 1


@pytest.mark.parametrize("n", [2, 7, 30])
def test_array_rosenbrock_replay_equals_fresh_grad_and_closed_form(n):
    c = modes.compile(rosenbrock_array, rng.uniform(-1.5, 1.5, n))
    assert c.program.fast is None  # array operations replay through the engine
    for p in _points(n, 10):
        g = c.grad(p)
        np.testing.assert_array_equal(g, modes.grad(rosenbrock_array, p))
        np.testing.assert_allclose(g, rosenbrock_gradient(p), rtol=1e-12, atol=1e-12)


def test_generated_code_and_engine_replay_agree_bit_for_bit():
    def f(v):
        a = ops.maximum(v[0], v[1]) * ops.sin(v[0]) + abs(v[1]) / v[0] + ops.tanh(v[2])
        return a + v[0] ** v[1] + ops.relu(v[2] - 1.0) + ops.sigmoid(v[1]) - ops.minimum(v[2], 0.3)

    c = modes.compile(f, [1.2, 0.7, 0.5])
    assert c.program.fast is not None
    for p in _points(3, 30):
        x = [abs(float(p[0])) + 0.1, float(p[1]), float(p[2])]
        fast = c.value_and_grad(x)
        engine = modes.value_and_grad(c.program, x)  # the recorded sequence through the reverse engine
        fresh = modes.value_and_grad(f, x)
        assert fast[0] == engine[0] == fresh[0]
        np.testing.assert_array_equal(fast[1], engine[1])
        np.testing.assert_array_equal(fast[1], fresh[1])


@settings(max_examples=80, deadline=None)
@given(tree=trees, x0=points, x1=points)
def test_random_expressions_replay_like_a_fresh_recording(tree, x0, x1):
    """Any expression of the catalogue's primitives: replayed at x1 == recorded afresh at x1, bit for bit.

    (Or refused, when a comparison inside an expression flips; the fresh recording decides then.)
    """
    f = lambda v: to_engine(tree, v)
    with np.errstate(all="ignore"):
        try:  # plain-float subtrees of constants (0.0 / 0.0) raise in Python itself: not a replay case
            f(x0), f(x1)
        except ArithmeticError:
            assume(False)
        c = modes.compile(f, x0)
        try:
            value, g = c.value_and_grad(x1)
        except modes.BranchChangedError:
            assert c.program.checks
            return
        fresh_value, fresh = modes.value_and_grad(f, x1)
        jv = c.jvp(x1, [1.0, -2.0, 0.5])[1]
        fresh_jv = modes.jvp(f, x1, [1.0, -2.0, 0.5])[1]
    np.testing.assert_array_equal([value], [fresh_value])
    np.testing.assert_array_equal(g, fresh)
    np.testing.assert_array_equal([jv], [fresh_jv])


def test_scalar_input_and_shapes_match_modes_grad():
    c = modes.compile(lambda t: ops.sin(t) * t, 0.3)
    g = c.grad(1.1)
    assert type(g) is float and g == modes.grad(lambda t: ops.sin(t) * t, 1.1)
    ca = modes.compile(lambda x: ops.sum(x * x), np.ones((2, 3)))
    ga = ca.grad(np.arange(6.0).reshape(2, 3))
    assert ga.shape == (2, 3)
    np.testing.assert_array_equal(ga, 2 * np.arange(6.0).reshape(2, 3))
    cl = modes.compile(lambda v: v[0] * v[1], (1.0, 2.0))
    np.testing.assert_array_equal(cl.grad([3, 4]), [4.0, 3.0])  # ints promoted, list or tuple


def test_constant_function_and_identity():
    c = modes.compile(lambda v: 2.0, [1.0, 2.0])
    assert c.value_and_grad([5.0, 6.0])[0] == 2.0
    np.testing.assert_array_equal(c.grad([5.0, 6.0]), [0.0, 0.0])
    ci = modes.compile(lambda t: t, 1.0)
    assert ci.value_and_grad(4.0) == (4.0, 1.0)


# ----------------------------------------------------------------------- jvp / vjp on the same tape


def _vector_f(v):
    return [v[0] * v[1], ops.sin(v[0]) + v[1] ** 2, ops.exp(v[2]) * v[0]]


def _vector_jacobian(x):
    x0, x1, x2 = x
    return np.array(
        [[x1, x0, 0.0], [np.cos(x0), 2 * x1, 0.0], [np.exp(x2), 0.0, x0 * np.exp(x2)]],
    )


def test_jvp_and_vjp_equal_analytic_jacobian_products():
    c = modes.compile(_vector_f, [0.1, 0.2, 0.3])
    for p in _points(3, 10):
        J = _vector_jacobian(p)
        v, u = rng.normal(size=3), rng.normal(size=3)
        value, jv = c.jvp(list(p), v)
        np.testing.assert_allclose(value, [p[0] * p[1], np.sin(p[0]) + p[1] ** 2, np.exp(p[2]) * p[0]])
        np.testing.assert_allclose(jv, J @ v, rtol=1e-13)
        _, uj = c.vjp(list(p), u)
        np.testing.assert_allclose(uj, u @ J, rtol=1e-13)
        np.testing.assert_allclose(c.jacobian(list(p)), J, rtol=1e-13)
        np.testing.assert_array_equal(jv, modes.jvp(_vector_f, list(p), v)[1])
        np.testing.assert_array_equal(uj, modes.vjp(_vector_f, list(p), u)[1])
    assert c.recordings == 1


def test_array_jvp_vjp_and_scalar_vjp_seed():
    f = lambda x: ops.tanh(x) * x[::-1]
    c = modes.compile(f, np.array([0.1, 0.2, 0.3]))
    x, v = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, -1.0])
    J = np.diag((1 - np.tanh(x) ** 2) * x[::-1]) + np.diag(np.tanh(x))[:, ::-1]
    np.testing.assert_allclose(c.jvp(x, v)[1], J @ v, rtol=1e-13)
    np.testing.assert_allclose(c.vjp(x, v)[1], v @ J, rtol=1e-13)
    s = modes.compile(rosenbrock, [0.0, 0.0, 0.0])
    p = [0.3, -0.2, 1.1]
    np.testing.assert_array_equal(s.vjp(p, 2.5)[1], modes.vjp(rosenbrock, p, 2.5)[1])


# ------------------------------------------------------------------------------------ the guard

COMPARISONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
UFUNCS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def _branchy(cmp):
    def f(v):
        if cmp(v[0], v[1]):
            return v[0] * v[1]
        return v[0] + ops.sin(v[1])

    return f


@settings(max_examples=60, deadline=None)
@given(
    op=st.sampled_from(sorted(COMPARISONS)),
    via_ufunc=st.booleans(),
    p0=st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
    p1=st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
)
def test_every_comparison_kind_is_guarded_exactly_when_it_flips(op, via_ufunc, p0, p1):
    cmp = UFUNCS[op] if via_ufunc else COMPARISONS[op]
    f = _branchy(cmp)
    x0, x1 = [float(p0[0]), float(p0[1])], [float(p1[0]), float(p1[1])]  # integers: ties happen
    c = modes.compile(f, x0)
    flips = bool(COMPARISONS[op](*x0)) != bool(COMPARISONS[op](*x1))
    if flips:
        with pytest.raises(modes.BranchChangedError) as info:
            c.grad(x1)
        assert info.value.check == f"%0 {op} %1"
        assert info.value.recorded is bool(COMPARISONS[op](*x0))
        assert info.value.now is bool(COMPARISONS[op](*x1))
    else:
        np.testing.assert_array_equal(c.grad(x1), modes.grad(f, x1))
    r = modes.compile(f, x0, on_branch_change="rerecord")
    np.testing.assert_array_equal(r.grad(x1), modes.grad(f, x1))
    assert r.recordings == 1 + flips


@settings(max_examples=40, deadline=None)
@given(op=st.sampled_from(sorted(COMPARISONS)), a=finite, shift=finite, b=finite)
def test_array_comparison_against_a_constant(op, a, shift, b):
    def f(x):
        mask = COMPARISONS[op](x, 0.5)
        return ops.sum(ops.where(mask, x * x, 3.0 * x))

    x0, x1 = np.array([a, shift]), np.array([b, shift])
    c = modes.compile(f, x0)
    if np.array_equal(COMPARISONS[op](x0, 0.5), COMPARISONS[op](x1, 0.5)):
        np.testing.assert_array_equal(c.grad(x1), modes.grad(f, x1))
    else:
        with pytest.raises(modes.BranchChangedError, match=r"`%0 .* 0\.5`.*differs at this x in 1 of 2"):
            c.grad(x1)


def test_truth_test_and_while_loop_are_guarded():
    def newton_sqrt(t):  # a while loop on values: the iteration count is a branch
        y = t
        while abs(y * y - t) > 1e-12:
            y = 0.5 * (y + t / y)
        return y

    c = modes.compile(newton_sqrt, 2.0)
    assert c.grad(2.0) == pytest.approx(0.5 / np.sqrt(2.0), rel=1e-12)
    with pytest.raises(modes.BranchChangedError, match=r"comparison `.* > 1e-12`"):
        c.grad(900.0)  # needs more iterations than were recorded
    f = lambda v: v[0] * 2.0 if v[1] else v[0] * 3.0
    ct = modes.compile(f, [1.0, 1.0])
    np.testing.assert_array_equal(ct.grad([2.0, -4.0]), [2.0, 0.0])
    with pytest.raises(modes.BranchChangedError, match=r"truth test `bool\(%1\)`"):
        ct.grad([2.0, 0.0])


def test_primal_reads_are_guarded():
    def f(x):  # indexing with a value-derived integer
        return x[int(np.argmax(modes.primal(x)))] * 2.0

    c = modes.compile(f, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(c.grad(np.array([1.0, 2.0])), [0.0, 2.0])
    with pytest.raises(modes.BranchChangedError, match=r"value read `modes\.primal\(%0\)`"):
        c.grad(np.array([3.0, 2.0]))
    r = modes.compile(f, np.array([1.0, 2.0]), on_branch_change="rerecord")
    np.testing.assert_array_equal(r.grad(np.array([3.0, 2.0])), [2.0, 0.0])
    assert r.recordings == 2


def test_choices_the_tape_follows_need_no_guard():
    def f(x):
        a = ops.maximum(x[0], x[1]) + ops.minimum(x[1], x[2]) + abs(x[2]) + ops.relu(x[0])
        return a + ops.sum(ops.where(x, x * x, 1.0)) + ops.logsumexp(x * 3.0)

    c = modes.compile(f, np.array([1.0, 2.0, 3.0]))
    assert not c.program.checks
    for p in [np.array([2.0, -1.0, -3.0]), np.array([-5.0, 0.0, 40.0]), np.array([300.0, 1.0, -2.0])]:
        value, g = c.value_and_grad(p)
        fresh_value, fresh = modes.value_and_grad(f, p)
        assert value == fresh_value  # logsumexp's shift is recomputed, not the recorded one
        np.testing.assert_array_equal(g, fresh)


def test_nan_inputs_propagate_without_a_guard_error():
    f = lambda v: ops.log(v[0]) + ops.sqrt(v[1]) + v[0] * v[1]
    c = modes.compile(f, [1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for x in ([np.nan, 2.0], [-1.0, -1.0], [0.0, 4.0]):
            value, g = c.value_and_grad(x)
            fresh_value, fresh = modes.value_and_grad(f, x)
            np.testing.assert_array_equal([value], [fresh_value])
            np.testing.assert_array_equal(g, fresh)  # nan where the engines give nan, strong zeros kept
    cg = modes.compile(_branchy(lambda a, b: a < b), [0.0, 1.0])
    with pytest.raises(modes.BranchChangedError, match="was True when f was recorded and is False"):
        cg.grad([np.nan, 1.0])  # nan < 1 is False: that is a flip


def test_branch_changed_error_message_names_check_position_and_values():
    c = modes.compile(_branchy(lambda a, b: a > b), [2.0, 1.0])
    with pytest.raises(modes.BranchChangedError) as info:
        c.grad([0.5, 3.0])
    e = info.value
    assert (e.check, e.position, e.recorded, e.now) == ("%0 > %1", 2, True, False)
    assert str(e).startswith(
        "comparison `%0 > %1` (made after tape entry %1) was True when f was recorded and is False at "
        "this x (%0 = 0.5, %1 = 3)"
    )
    assert "on_branch_change='rerecord'" in str(e)
    assert isinstance(e, modes.ModesError)


def test_closures_over_mutable_state_replay_the_recorded_values():
    scale = np.array([2.0])
    c = modes.compile(lambda x: ops.sum(x * scale), np.array([1.0]))
    scale[0] = 5.0  # documented: a replay sees the constants as they were recorded
    np.testing.assert_array_equal(c.grad(np.array([1.0])), [2.0])
    assert modes.grad(lambda x: ops.sum(x * scale), np.array([1.0]))[0] == 5.0


# ----------------------------------------------------------------------------- bad input, nesting


def test_wrong_shapes_and_types_raise_clear_errors():
    c = modes.compile(rosenbrock, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"compiled for x of shape \(3,\), got shape \(4,\)"):
        c.grad([0.0] * 4)
    with pytest.raises(TypeError, match="compiled for a list of 3 floats and cannot replay a NumPy array"):
        c.grad(np.zeros(3))
    with pytest.raises(TypeError, match=r"argument 'x\[1\]' must be a real number"):
        c.grad([0.0, "a", 0.0])
    ca = modes.compile(rosenbrock_array, np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\), got shape \(2, 2\)"):
        ca.grad(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="grad needs f to return a scalar"):
        modes.compile(_vector_f, [1.0, 2.0, 3.0]).grad([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="on_branch_change must be"):
        modes.compile(rosenbrock, [0.0, 0.0], on_branch_change="ignore")
    with pytest.raises(TypeError, match="must be callable"):
        modes.compile(3, [0.0])
    with pytest.raises(ValueError, match=r"argument 'v' has shape \(2,\), expected \(3,\)"):
        c.jvp([0.0] * 3, [1.0, 2.0])


def test_grad_of_a_replay_works_like_nested_grad():
    c = modes.compile(rosenbrock_array, np.zeros(4))
    x, w = rng.uniform(-1, 1, 4), rng.normal(size=4)
    hvp = modes.grad(lambda y: ops.sum(c.grad(y) * w), x)
    np.testing.assert_allclose(hvp, modes.hessian(rosenbrock_array, x) @ w, rtol=1e-12)
    cs = modes.compile(rosenbrock, [0.0, 0.0, 0.0])
    H = modes.jacobian(lambda y: cs.grad(y), [0.5, -0.2, 0.9], mode="forward")
    np.testing.assert_allclose(H, modes.hessian(rosenbrock, [0.5, -0.2, 0.9]), rtol=1e-12)


def test_compile_inside_a_differentiation_or_around_one_is_refused_clearly():
    with pytest.raises(modes.ModesError, match="records at plain numbers"):
        modes.grad(lambda x: modes.compile(rosenbrock_array, x).value_and_grad(np.zeros(3))[0], np.ones(3))
    with pytest.raises(modes.ModesError, match="cannot replay a differentiation run inside f"):
        modes.compile(lambda x: ops.sum(modes.grad(rosenbrock_array, x)), np.ones(3))
    # a checkpointed loop replays (tests/test_checkpoint.py); one closing over x opens a scope: refused
    with pytest.raises(modes.ModesError, match="cannot replay a differentiation run inside f"):
        modes.compile(
            lambda x: ops.sum(modes.loop(lambda c, t: ops.sin(c * x), np.ones(2), 3, snapshots=1)), np.ones(2)
        )
    y = None

    def capture(x):
        nonlocal y
        y = x
        return ops.sum(x)

    modes.grad(lambda x: (capture(x), ops.sum(x))[1], np.ones(2))
    with pytest.raises(modes.ModesError):
        modes.compile(lambda x: ops.sum(x * y), np.ones(2))  # a stale engine value closed over


def test_counting_sees_replayed_sweeps():
    c = modes.compile(rosenbrock, [0.1, 0.2, 0.3])
    with modes.counting(memory=False) as s:
        g = c.grad([0.3, 0.2, 0.1])
    assert s.sweeps == 1 and s.passes == 1 and s.ops == c.program.length - 3
    np.testing.assert_array_equal(g, modes.grad(rosenbrock, [0.3, 0.2, 0.1]))
    assert c.recordings == 1
