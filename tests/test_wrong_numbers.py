"""Issue 11: inputs that used to give a silently wrong number now give the right one or a clear error.

Oracles: SciPy (softmax), analytic limits (pow at 0), NumPy's own masked arithmetic, forward vs
reverse mode and every chunk size.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import modes
from modes import ops


def every_setting(n):
    """Reverse mode and forward mode with every chunk size from 1 to n (and the default)."""
    return [("reverse", None), ("forward", None)] + [("forward", c) for c in range(1, n + 1)]


SETTINGS = every_setting(3)


# ------------------------------------------------------------------ complex values are refused

COMPLEX_FUNCTIONS = {
    "emath.sqrt constant": (lambda x: x * np.emath.sqrt(-4.0), 3.0),
    "python complex": (lambda x: x * 1j, 3.0),
    "reflected complex": (lambda x: 1j * x + x, 3.0),
    "complex then abs": (lambda x: abs(x * 1j), 3.0),
    "complex array constant": (lambda v: ops.sum(v * np.array([1 + 2j, 1.0])), np.array([1.0, 2.0])),
    "complex matrix": (lambda v: ops.sum(np.array([[1j, 0.0], [0.0, 1.0]]) @ v), np.array([1.0, 2.0])),
    "complex where branch": (lambda v: ops.sum(ops.where(v > 1.5, v, 1j)), np.array([1.0, 2.0])),
    "stacked with complex": (lambda v: ops.sum(ops.stack([v[0], 2j])), [1.0, 2.0]),
    "complex power": (lambda x: x ** (0.5 + 1j), 3.0),
}


@pytest.mark.parametrize("mode,chunk", SETTINGS)
@pytest.mark.parametrize("label", COMPLEX_FUNCTIONS)
def test_a_complex_value_inside_an_engine_value_is_a_type_error(label, mode, chunk):
    """Complex differentiation is not supported: an engine value never holds a complex number."""
    f, x = COMPLEX_FUNCTIONS[label]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning either: the refusal comes first
        with pytest.raises(TypeError, match=r"complex") as info:
            modes.value_and_grad(f, x, mode=mode, chunk=chunk)
    assert "not supported" in str(info.value)


def test_a_complex_value_is_refused_in_every_entry_point():
    f = lambda x: x * 1j
    for call in (
        lambda: modes.jvp(f, 3.0, 1.0),
        lambda: modes.vjp(f, 3.0, 1.0),
        lambda: modes.jacobian(f, 3.0, mode="forward"),
        lambda: modes.record(f, 3.0),
        lambda: modes.hvp(lambda x: (x * 1j) * x, 3.0, 1.0),
        lambda: modes.compile(f, 3.0),
    ):
        with pytest.raises(TypeError, match=r"complex"):
            call()


# ------------------------------------------------------------------------- empty inputs, chunks


@pytest.mark.parametrize("mode,chunk", SETTINGS)
@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_an_empty_array_gives_an_empty_gradient_in_both_modes(shape, mode, chunk):
    x = np.ones(shape)
    value, g = modes.value_and_grad(lambda v: ops.sum(v * v) + 1.0, x, mode=mode, chunk=chunk)
    assert value == 1.0
    assert isinstance(g, np.ndarray) and g.shape == shape and g.dtype == np.float64
    J = modes.jacobian(lambda v: ops.stack([ops.sum(v), ops.sum(v * v)]), x, mode=mode, chunk=chunk)
    assert J.shape == (2,) + shape
    J = modes.jacobian(lambda v: v * 2.0, x, mode=mode, chunk=chunk)
    assert J.shape == shape + shape


def test_an_empty_array_counts_one_pass_in_forward_mode():
    with modes.counting(memory=False) as s:
        modes.grad(lambda v: ops.sum(v), np.ones(0), mode="forward")
    assert s.passes == 1


def test_choose_chunk_of_zero_inputs_is_one_direction():
    assert modes.choose_chunk(0) == 1
    assert modes.choose_chunk(0, 5) == 1


def test_complex_and_masked_inputs_and_directions_are_refused_before_f_runs():
    called = []
    masked = np.ma.array([1.0, 2.0, 3.0], mask=[0, 0, 1])
    for x in (masked, np.ones(2) + 1j):
        with pytest.raises(TypeError, match=r"argument 'x'"):
            modes.grad(lambda v: called.append(v) or ops.sum(v), x)
    with pytest.raises(TypeError, match=r"argument 'v'.*masked"):
        modes.jvp(lambda v: v, np.ones(3), masked)
    with pytest.raises(TypeError, match=r"argument 'u'.*masked"):
        modes.vjp(lambda v: v, np.ones(3), masked)
    assert called == []


# ------------------------------------------------------------------------------- masked arrays


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_a_masked_array_input_is_refused_naming_the_mask(mode, chunk):
    """The mask used to be dropped: sum(x * x) gave 14 where NumPy says 10."""
    x = np.ma.array([1.0, 2.0, 3.0], mask=[0, 0, 1])
    assert np.ma.sum(x * x) == 5.0  # the mask NumPy honours (1 + 4)
    with pytest.raises(TypeError, match=r"argument 'x' is a NumPy masked array") as info:
        modes.value_and_grad(lambda v: ops.sum(v * v), x, mode=mode, chunk=chunk)
    assert "ops.where" in str(info.value)


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_a_masked_array_constant_inside_f_is_refused(mode, chunk):
    m = np.ma.array([1.0, 2.0, 3.0], mask=[0, 0, 1])
    with pytest.raises(TypeError, match=r"masked array"):
        modes.value_and_grad(lambda v: ops.sum(v * m), np.ones(3), mode=mode, chunk=chunk)
    with pytest.raises(TypeError):  # NumPy's masked operators ask for an array first: refused too
        modes.value_and_grad(lambda v: ops.sum(m * v), np.ones(3), mode=mode, chunk=chunk)


# ------------------------------------------------------------------------------------- softmax


def test_softmax_is_accurate_at_large_magnitudes():
    scipy_special = pytest.importorskip("scipy.special")
    for z in (
        np.array([1e16] * 3),
        np.array([1e17] * 3),
        np.array([1e300, 1e300, 0.0]),
        np.array([-1e17, 0.0]),
    ):
        s = ops.softmax(z)
        np.testing.assert_allclose(s, scipy_special.softmax(z), rtol=1e-15, atol=0)
        assert abs(np.sum(s) - 1.0) < 1e-15
    z = np.array([[1e16, 1e16 + 4, 0.0], [3.0, -1e16, 5.0]])
    for axis in (0, 1, -1):
        np.testing.assert_allclose(ops.softmax(z, axis=axis), scipy_special.softmax(z, axis=axis), rtol=1e-14)


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_the_gradient_of_softmax_is_right_at_large_magnitudes(mode, chunk):
    w = np.array([1.0, 2.0])
    value, g = modes.value_and_grad(
        lambda z: ops.sum(ops.softmax(z) * w), np.array([1e16, 1e16]), mode=mode, chunk=chunk
    )
    assert value == 1.5
    np.testing.assert_array_equal(g, [-0.25, 0.25])
    # at ordinary magnitudes the Jacobian is diag(s) - s s^T (analytic)
    z = np.array([0.3, -1.2, 2.0])
    s = ops.softmax(z)
    J = modes.jacobian(ops.softmax, z, mode=mode, chunk=chunk)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-13, atol=1e-16)


# --------------------------------------------------------------------------------- hvp's v


@pytest.mark.parametrize(
    "order", ["forward-over-reverse", "reverse-over-forward", "reverse-over-reverse", "forward-over-forward"]
)
@pytest.mark.parametrize(
    "v",
    [np.ones(1), 1.0, np.ones((3, 1)), np.ones(4), [1.0, 1.0, 1.0]],
    ids=["(1,)", "scalar", "(3,1)", "(4,)", "list"],
)
def test_hvp_validates_v_the_same_way_in_every_order(order, v):
    f = lambda x: ops.sum(x * x * x)
    x = np.array([1.0, 2.0, 3.0])
    if np.shape(v) == (3,):
        np.testing.assert_allclose(modes.hvp(f, x, v, order=order), 6.0 * x)
        return
    with pytest.raises(
        ValueError, match=rf"argument 'v' has shape \({np.shape(v)[0] if np.shape(v) else ''}"
    ):
        modes.hvp(f, x, v, order=order)


# ---------------------------------------------------------------------------------- pow at 0


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_x_to_the_zero_has_derivative_zero_everywhere(mode, chunk):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for x in (0.0, -0.0, 2.0, -3.0, np.inf):
            assert modes.grad(lambda s: s**0.0, x, mode=mode, chunk=chunk) == 0.0
            assert modes.grad(lambda s: s**0, x, mode=mode, chunk=chunk) == 0.0
            assert modes.grad(lambda s: np.power(s, 0), x, mode=mode, chunk=chunk) == 0.0
        g = modes.grad(lambda v: ops.sum(v**0.0), np.array([0.0, 1.0, -2.0]), mode=mode, chunk=chunk)
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])
        g = modes.grad(
            lambda v: ops.sum(v ** np.array([0.0, 2.0])), np.array([0.0, 0.0]), mode=mode, chunk=chunk
        )
        np.testing.assert_array_equal(g, [0.0, 0.0])


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_x_to_a_power_at_zero_takes_the_limits(mode, chunk):
    """d/dx x**c at 0: 0 for c > 1, 1 for c == 1 (c * 0**(c-1)); inf for 0 < c < 1 (IEEE)."""
    for c, want in ((1.0, 1.0), (2.0, 0.0), (3.5, 0.0)):
        assert modes.grad(lambda s, c=c: s**c, 0.0, mode=mode, chunk=chunk) == want
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert modes.grad(lambda s: s**0.5, 0.0, mode=mode, chunk=chunk) == np.inf


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_x_to_the_y_at_zero_zero(mode, chunk):
    """x**y at (0, 0): 0**y is constant in y on each side of 0, and x**0 is 1 for every x: (0, 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        value, g = modes.value_and_grad(lambda v: v[0] ** v[1], [0.0, 0.0], mode=mode, chunk=chunk)
        assert value == 1.0
        np.testing.assert_array_equal(g, [0.0, 0.0])
        g = modes.grad(
            lambda v: ops.sum(v[:2] ** v[2:]), np.array([0.0, 0.0, 0.0, 2.0]), mode=mode, chunk=chunk
        )
        np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 0.0])
    # away from x == 0 nothing changes: d/dy x**y = x**y log x, d/dx = y x**(y-1)
    g = modes.grad(lambda v: v[0] ** v[1], [2.0, 0.0], mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, [0.0, np.log(2.0)], rtol=1e-15)


def test_a_compiled_replay_follows_the_pow_convention():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for at in ([0.0, 0.0], [1.0, 2.0]):  # recorded at the point itself, and replayed there
            c = modes.compile(lambda v: v[0] ** v[1] + v[0] ** 0.0, at)
            np.testing.assert_array_equal(c.grad([0.0, 0.0]), [0.0, 0.0])


@pytest.mark.parametrize(
    "order", ["forward-over-reverse", "reverse-over-forward", "reverse-over-reverse", "forward-over-forward"]
)
def test_second_derivatives_of_pow_near_the_convention_stay_exact(order):
    """The convention touches x == 0 only: the mixed partial of x**y at y = 0 is still 1/x."""
    f = lambda v: v[0] ** v[1]
    H = modes.hessian(f, np.array([2.0, 0.0]), order=order)
    np.testing.assert_allclose(H, [[0.0, 0.5], [0.5, np.log(2.0) ** 2]], rtol=1e-14)
    H = modes.hessian(lambda v: v[0] ** 0.0, np.array([0.0]), order=order)
    np.testing.assert_array_equal(H, [[0.0]])


# -------------------------------------------------------------------------------------- dtype


@pytest.mark.parametrize("mode,chunk", SETTINGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_low_precision_inputs_are_computed_in_float64(dtype, mode, chunk):
    """The documented convention: x is promoted to float64, f sees float64, the gradient is float64."""
    x32 = np.array([0.1, 0.7, -1.3], dtype=dtype)
    seen = []
    f = lambda v: (seen.append(modes.primal(v).dtype), ops.sum(ops.sin(v) * v))[1]
    value, g = modes.value_and_grad(f, x32, mode=mode, chunk=chunk)
    assert set(seen) == {np.dtype(np.float64)}
    assert type(value) is float and g.dtype == np.float64
    value64, g64 = modes.value_and_grad(f, x32.astype(np.float64), mode=mode, chunk=chunk)
    assert value == value64
    np.testing.assert_array_equal(g, g64)
    assert type(modes.grad(lambda s: s * s, dtype(0.5), mode=mode, chunk=chunk)) is float


def test_the_readme_states_the_conventions_of_issue_11():
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the tests (installed copy)")
    text = readme.read_text()
    conventions = text[text.index("Conventions, identical") :]
    conventions = conventions[: conventions.index("\n###")]
    for phrase in ("float64", "float32", "complex", "masked", "x ** 0", "0 ** y", "softmax"):
        assert phrase in conventions, phrase


# ------------------------------------------- item 5: the strong zero is for structural zeros only


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)


def grad_in(setting, f, x):
    mode, chunk = setting
    return quiet(modes.grad, f, x, mode=mode, chunk=chunk)


ALL_SETTINGS = SETTINGS + [("reverse-vector", 2)]


def jacobian_in(setting, f, x):
    mode, chunk = setting
    if mode == "reverse-vector":
        return quiet(modes.jacobian, f, x, mode="reverse", chunk=chunk)
    return quiet(modes.jacobian, f, x, mode=mode, chunk=chunk)


@pytest.mark.parametrize("setting", SETTINGS)
def test_an_overflow_shows_up_as_nan_not_as_a_finite_wrong_gradient(setting):
    """1/inf = 0 is a computed zero: times exp's inf partial it is nan (IEEE), not 0."""
    z = np.array([1000.0, 999.0, 998.0, 997.0, 1001.0])
    f = lambda v: ops.log(ops.sum(ops.exp(v))) - v[2]
    g = grad_in(setting, f, z)
    assert np.all(np.isnan(g)), g  # was [0, 0, -1, 0, 0]: finite and wrong
    # the same function where nothing overflows: softmax minus e_2, the true gradient
    small = z - 1000.0
    expected = np.exp(small) / np.sum(np.exp(small)) - np.eye(5)[2]
    np.testing.assert_allclose(grad_in(setting, f, small), expected, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize(
    "z",
    [[-np.inf, -np.inf], [np.inf, 0.0], [-np.inf, 0.0], [np.inf, np.inf], [1.0, 2.0], [-np.inf, 3.0, 1.0]],
)
def test_the_gradient_of_logsumexp_is_softmax_at_infinite_entries(setting, z):
    z = np.array(z)
    g = grad_in(setting, ops.logsumexp, z)
    softmax = quiet(ops.softmax, z)  # itself checked against SciPy above
    np.testing.assert_array_equal(np.isnan(g), np.isnan(softmax))  # was [0, 0] at [-inf, -inf]
    np.testing.assert_allclose(g[~np.isnan(g)], softmax[~np.isnan(softmax)], rtol=1e-15)


@pytest.mark.parametrize("setting", SETTINGS)
def test_entries_a_slice_does_not_read_are_structural_zeros(setting):
    """x[0] never reaches sum(sqrt(x)[1:]): its nan partial must not leak into the gradient."""
    g = grad_in(setting, lambda x: ops.sum(ops.sqrt(x)[1:]), np.array([-1.0, 4.0, 16.0]))
    np.testing.assert_array_equal(g, [0.0, 0.25, 0.125])


@pytest.mark.parametrize("setting", SETTINGS)
def test_a_zero_that_is_computed_follows_ieee(setting):
    """sqrt(x * 0) at 2: the tangent/adjoint through x * 0 is a computed 0, met by sqrt'(0) = inf."""
    assert np.isnan(grad_in(setting, lambda x: ops.sqrt(x * 0.0), 2.0))
    # and a computed zero partial: 1 / inf = 0 meets an infinite tangent
    assert np.isnan(grad_in(setting, lambda x: ops.log(ops.exp(x)), 1000.0))


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_element_max_does_not_choose_is_a_structural_zero(setting):
    g = grad_in(setting, lambda x: ops.max(ops.stack([ops.sqrt(x[0]), x[1]])), np.array([0.0, 5.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0])
    g = grad_in(setting, lambda x: ops.sum(ops.maximum(ops.sqrt(x), 1.0)), np.array([0.0, 4.0]))
    np.testing.assert_array_equal(g, [0.0, 0.25])
    # floor is flat: its zero partial is structural even against sqrt'(0) = inf above it
    g = grad_in(setting, lambda v: ops.sqrt(ops.floor(v[0])) + v[1], [0.5, 1.0])
    np.testing.assert_array_equal(g, [0.0, 1.0])


@pytest.mark.parametrize("setting", ALL_SETTINGS)
def test_jacobians_keep_structural_zeros_in_every_mode(setting):
    f = lambda x: ops.stack([ops.sqrt(x[0]), ops.log(x[1]), x[0] * x[1]])
    J = jacobian_in(setting, f, np.array([-1.0, -1.0]))
    assert np.isnan(J[0, 0])
    np.testing.assert_array_equal(J[~np.isnan(J)], [0.0, 0.0, -1.0, -1.0, -1.0])


def test_a_repeated_pass_is_counted_once_and_survives_a_broad_except():
    """Resolving a nan repeats a pass internally; counts and the user's try/except never see it."""
    calls = []

    def f(v):
        calls.append(1)
        try:
            return ops.log(v[0]) + ops.sqrt(v[1])
        except Exception:  # a user's broad except must not swallow the engine's internal retry
            return 0.0

    with modes.counting() as c:
        g = quiet(modes.grad, f, [-1.0, -1.0], mode="forward", chunk=1)
    assert g[0] == -1.0 and np.isnan(g[1])
    assert c.passes == 2 and c.ops == 6
    assert len(calls) == 3  # pass 1 ran twice (its nan met a seed's zero), pass 2 once
    with modes.counting() as c:
        quiet(modes.grad, f, [-1.0, -1.0], mode="reverse")
    assert c.sweeps == 1


@pytest.mark.parametrize("setting", ALL_SETTINGS)
def test_a_nan_cut_by_a_structural_zero_after_an_unreached_entry_gives_zero(setting):
    """log(where(x > 0, x, 0))[1:]: entry 0's adjoint is unreached (0) times log'(0) = inf, a nan
    that where's structural zero then cuts. The reverse sweep multiplies by IEEE rules and resolves
    nan only after the sweep, so this checks that a nan cut on the way gives the tracked answer."""

    def f(x):
        return ops.sum(ops.log(ops.where(x > 0.0, x, 0.0))[1:])

    x = np.array([-1.0, 2.0, 4.0])
    J = jacobian_in(setting, lambda v: ops.stack([f(v)]), x)
    np.testing.assert_array_equal(J, [[0.0, 0.5, 0.25]])
    if setting[0] == "reverse":
        rec = modes.record(f, x)
        adjs = quiet(rec.adjoints)
        assert not any(np.any(np.isnan(a)) for a in adjs), adjs  # every node's, not only x's


def test_a_reverse_sweep_repeated_for_a_nan_counts_once_and_keeps_ieee_nans():
    """A sweep that returns a nan is repeated with reach tracking; counts see one sweep."""
    f = lambda v: ops.sum(ops.sqrt(v[1:]) * v[:-1])  # sqrt'(-1) = nan, and a live path: IEEE nan
    x = np.array([1.0, -1.0, 4.0])
    with modes.counting() as c:
        g = quiet(modes.grad, f, x)
    assert c.sweeps == 1
    # f = sqrt(x1) x0 + sqrt(x2) x1: df/dx0 = sqrt(-1), df/dx1 has sqrt'(-1), df/dx2 = x1 / (2 sqrt(x2))
    np.testing.assert_array_equal(np.isnan(g), [True, True, False])
    assert g[2] == -0.25


def test_a_forward_array_pass_repeated_for_a_nan_counts_once():
    """Forward mode multiplies array tangents by IEEE rules and repeats a pass whose output tangent
    holds a nan with reach tracking: x[0]'s unseeded zero times sqrt'(0) = inf is structural."""
    f = lambda x: ops.sum(ops.sqrt(x) * 0.0 + x)  # sqrt'(0) = inf meets computed zeros (0.0 * t)
    x = np.array([0.0, 4.0])
    with modes.counting() as c:
        g = quiet(modes.grad, f, x, mode="forward")
    assert c.passes == 1
    np.testing.assert_array_equal(np.isnan(g), [True, False])  # 0.0 * inf at x[0]: IEEE nan
    assert g[1] == 1.0
    h = quiet(modes.grad, lambda x: ops.sum(ops.sqrt(x)[1:]), x, mode="forward", chunk=1)
    np.testing.assert_array_equal(h, [0.0, 0.25])  # x[0] unread: no nan, no repeat needed
