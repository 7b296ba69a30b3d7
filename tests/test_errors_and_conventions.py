"""Every error the issue lists, with its message; domain errors; non-differentiable points; dtypes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import modes
from modes import ops

MODES = [("reverse", None), ("forward", None), ("forward", 1)]
MODE_IDS = ["reverse", "forward", "forward-c1"]


def every_setting(n):
    """Reverse mode and forward mode with every chunk size from 1 to n (and the default)."""
    return [("reverse", None), ("forward", None)] + [("forward", c) for c in range(1, n + 1)]


def same_entries(a, b):
    """nan where nan, inf of the same sign where inf, equal numbers (to rounding) elsewhere."""
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.isposinf(a), np.isposinf(b))
    np.testing.assert_array_equal(np.isneginf(a), np.isneginf(b))
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- non-scalar grad


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_grad_of_a_non_scalar_output_points_to_jacobian(mode, chunk):
    with pytest.raises(ValueError, match=r"jacobian") as info:
        modes.grad(lambda v: v * 2.0, np.ones(3), mode=mode, chunk=chunk)
    assert "(3,)" in str(info.value)  # it names the shape it got
    with pytest.raises(ValueError, match=r"modes\.jacobian"):
        modes.grad(lambda v: [v[0], v[1]], [1.0, 2.0], mode=mode, chunk=chunk)
    with pytest.raises(ValueError, match=r"modes\.jacobian"):
        modes.value_and_grad(lambda s: ops.stack([s, s]), 1.0, mode=mode, chunk=chunk)
    with pytest.raises(ValueError, match=r"jacobian"):
        modes.grad(lambda v: np.ones(2), np.ones(2), mode=mode, chunk=chunk)


# ---------------------------------------------------------------------------- wrong inputs

BAD_INPUTS = [
    ("str", "1.0"),
    ("None", None),
    ("object", object()),
    ("ragged", [[1.0, 2.0], [3.0]]),
    ("nested", [[1.0, 2.0], [3.0, 4.0]]),
    ("list-with-str", [1.0, "2"]),
    ("list-with-None", [1.0, None]),
    ("dict", {"a": 1.0}),
    ("complex", 1.0 + 2.0j),
    ("string-array", np.array(["a", "b"])),
    ("complex-array", np.array([1.0 + 1j])),
    ("bool", True),
]


@pytest.mark.parametrize("label,x", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_wrong_input_types_raise_a_type_error_naming_the_argument(label, x, mode, chunk):
    called = []
    f = lambda v: called.append(v) or 0.0
    with pytest.raises(TypeError, match=r"argument 'x"):
        modes.grad(f, x, mode=mode, chunk=chunk)
    with pytest.raises(TypeError, match=r"argument 'x"):
        modes.jacobian(f, x, mode=mode, chunk=chunk)
    assert called == []  # rejected before f runs


@pytest.mark.parametrize("label,x", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_wrong_input_types_in_jvp_vjp_and_record(label, x):
    f = lambda v: v
    for call in (lambda: modes.jvp(f, x, 1.0), lambda: modes.vjp(f, x, 1.0), lambda: modes.record(f, x)):
        with pytest.raises(TypeError, match=r"argument 'x"):
            call()


BAD_DIRECTIONS = [
    ("str", "up"),
    ("None", None),
    ("object", object()),
    ("ragged", [[1.0], [2.0, 3.0]]),
    ("list-with-None", [1.0, None]),
]


@pytest.mark.parametrize("label,v", BAD_DIRECTIONS, ids=[b[0] for b in BAD_DIRECTIONS])
def test_a_wrong_jvp_direction_is_a_type_error_naming_v(label, v):
    for x in (1.5, np.ones(2), [1.5, 2.5]):
        with pytest.raises(TypeError, match=r"argument 'v'"):
            modes.jvp(lambda z: z[0] * 2.0 if isinstance(z, list) else z * 2.0, x, v)


@pytest.mark.parametrize("label,u", BAD_DIRECTIONS, ids=[b[0] for b in BAD_DIRECTIONS])
def test_a_wrong_vjp_cotangent_is_a_type_error_naming_u(label, u):
    for x in (1.5, np.ones(2)):
        with pytest.raises(TypeError, match=r"argument 'u'"):
            modes.vjp(lambda z: z * 2.0, x, u)


def test_wrong_shapes_of_directions_and_wrong_functions_are_named():
    with pytest.raises(ValueError, match=r"argument 'v'.*shape"):
        modes.jvp(lambda v: v, np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match=r"shape"):
        modes.vjp(lambda v: v, np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match=r"argument 'f'"):
        modes.grad("not a function", 1.0)
    with pytest.raises(TypeError, match=r"argument 'f'"):
        modes.jacobian(None, [1.0, 2.0], mode="forward")
    with pytest.raises(TypeError, match=r"argument 'f'"):
        modes.jvp(3.0, 1.0, 1.0)
    with pytest.raises(TypeError, match=r"argument 'f'"):
        modes.vjp(3.0, 1.0, 1.0)


def test_a_ragged_list_message_suggests_an_array():
    with pytest.raises(TypeError, match=r"argument 'x\[1\]'.*NumPy array"):
        modes.grad(lambda v: 0.0, [1.0, [2.0, 3.0]])


# ---------------------------------------------------------------------- mixed recordings


@pytest.mark.parametrize("first", ["reverse", "forward"])
@pytest.mark.parametrize("second", ["reverse", "forward"])
def test_values_from_a_finished_differentiation_cannot_be_mixed_in(first, second):
    kept = []

    def keep(v):
        kept.append(v)
        return v * 2.0

    modes.grad(keep, 1.5, mode=first)
    old = kept[0]
    with pytest.raises(modes.MixedTraceError, match=r"modes\.primal"):
        modes.grad(lambda v: v + old, 2.0, mode=second)
    with pytest.raises(modes.MixedTraceError):
        modes.grad(lambda v: ops.sin(old) * v, 2.0, mode=second)
    # with list and array inputs too
    kept.clear()
    modes.grad(lambda v: keep(ops.sum(v)), np.ones(3), mode=first)
    old = kept[0]
    with pytest.raises(modes.MixedTraceError):
        modes.grad(lambda v: v[0] * old, [1.0, 2.0], mode=second)
    assert issubclass(modes.MixedTraceError, modes.ModesError)


def test_values_from_a_finished_differentiation_cannot_be_used_afterwards():
    kept = []
    modes.grad(lambda v: kept.append(v) or v * v, 3.0)
    with pytest.raises(modes.MixedTraceError):
        kept[0] * 2.0
    with pytest.raises(modes.MixedTraceError):
        np.sin(kept[0])
    # its number is still readable explicitly
    assert modes.primal(kept[0]) == 3.0


# ------------------------------------------------------------------ float() and primal()


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_float_refuses_and_primal_reads_the_value(mode, chunk):
    seen = {}

    def f(v):
        with pytest.raises(TypeError, match=r"modes\.primal"):
            float(v)
        with pytest.raises(TypeError, match=r"modes\.primal"):
            int(v)
        with pytest.raises(TypeError, match=r"derivative"):
            math.sin(v)
        seen["value"] = modes.primal(v)
        seen["sum"] = modes.primal(v * 2.0)
        return v * v

    assert modes.grad(f, 1.25, mode=mode, chunk=chunk) == 2.5
    assert seen["value"] == 1.25 and type(seen["value"]) is float
    assert seen["sum"] == 2.5

    def g(v):
        with pytest.raises(TypeError, match=r"modes\.primal"):
            np.asarray(v)
        seen["array"] = modes.primal(v)
        return ops.sum(v)

    modes.grad(g, np.array([1.0, 2.0]), mode=mode, chunk=chunk)
    assert isinstance(seen["array"], np.ndarray)
    np.testing.assert_array_equal(seen["array"], [1.0, 2.0])
    # primal() of a plain number is the number
    assert modes.primal(2.5) == 2.5


# ------------------------------------------------------------------------- missing rules


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_a_missing_rule_names_the_primitive_and_the_argument(mode, chunk):
    where = modes.PRIMITIVES["where"]
    # the table declares no derivative for where's condition
    assert where.partials[0] is None
    with pytest.raises(modes.MissingRuleError, match=r"'where'.*argument 0 \('condition'\)"):
        modes.grad(lambda v: where(v, 1.0, 2.0), 0.5, mode=mode, chunk=chunk)
    with pytest.raises(modes.MissingRuleError, match=r"'where'.*'condition'"):
        modes.grad(lambda v: ops.sum(where(v, v, 2.0 * v)), np.array([1.0, 0.0]), mode=mode, chunk=chunk)
    assert issubclass(modes.MissingRuleError, modes.ModesError)
    # ops.where reads the condition's primal value, so an engine condition is fine there
    assert modes.grad(lambda v: ops.where(v, v * 3.0, 2.0), 0.5, mode=mode, chunk=chunk) == 3.0


# ------------------------------------------------------------------------ bad mode, bad chunk


@pytest.mark.parametrize("mode", ["backward", "Forward", "", None, 1])
def test_a_bad_mode_is_a_value_error(mode):
    for fn in (modes.grad, modes.value_and_grad, modes.jacobian):
        with pytest.raises(ValueError, match=r"mode must be 'forward' or 'reverse'"):
            fn(lambda v: v * v, 1.0, mode=mode)


@pytest.mark.parametrize("chunk", [0, -1, 1.5, 2.0, True, "2", np.float64(3.0)])
def test_a_bad_chunk_is_a_value_error(chunk):
    for fn in (modes.grad, modes.value_and_grad, modes.jacobian):
        with pytest.raises(ValueError, match=r"chunk must be a positive integer"):
            fn(lambda v: ops.sum(v * v), np.ones(3), mode="forward", chunk=chunk)
    with pytest.raises(ValueError, match=r"chunk"):
        modes.choose_chunk(5, chunk)


def test_chunk_is_for_forward_mode_only():
    with pytest.raises(ValueError, match=r"chunk applies to mode='forward'"):
        modes.grad(lambda v: v * v, 1.0, mode="reverse", chunk=2)
    # numpy integers are fine chunks
    np.testing.assert_array_equal(
        modes.grad(lambda v: ops.sum(v * v), np.ones(3), mode="forward", chunk=np.int64(2)), [2.0] * 3
    )


# --------------------------------------------------------------------------- domain errors


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_domain_errors_follow_numpy_with_a_runtime_warning(mode, chunk):
    with pytest.warns(RuntimeWarning, match="invalid value"):
        value, g = modes.value_and_grad(ops.log, -1.0, mode=mode, chunk=chunk)
    assert math.isnan(value) and g == -1.0  # NumPy's 1/x at -1
    with pytest.warns(RuntimeWarning, match="invalid value"):
        value, g = modes.value_and_grad(ops.sqrt, -1.0, mode=mode, chunk=chunk)
    assert math.isnan(value) and math.isnan(g)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        value, g = modes.value_and_grad(lambda v: 1.0 / v, 0.0, mode=mode, chunk=chunk)
    assert value == math.inf and g == -math.inf  # d(1/x) = -1/x^2
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        value, g = modes.value_and_grad(ops.log, 0.0, mode=mode, chunk=chunk)
    assert value == -math.inf and g == math.inf
    # arrays: the same values NumPy gives, entry by entry
    x = np.array([-1.0, 0.0, 4.0])
    with pytest.warns(RuntimeWarning):
        g = modes.grad(lambda v: ops.sum(ops.sqrt(v)), x, mode=mode, chunk=chunk)
    with np.errstate(all="ignore"):
        expected = 0.5 / np.sqrt(x)
    np.testing.assert_array_equal(g, expected)


def _nan_pattern_settings():
    return every_setting(2)


@pytest.mark.parametrize("mode,chunk", _nan_pattern_settings())
def test_the_nan_times_zero_trap(mode, chunk):
    """grad of log(x0) + sqrt(x1) at (-1, -1) is (-1, nan) in every mode and chunk size."""
    f = lambda v: ops.log(v[0]) + ops.sqrt(v[1])
    with pytest.warns(RuntimeWarning):
        value, g = modes.value_and_grad(f, [-1.0, -1.0], mode=mode, chunk=chunk)
    assert math.isnan(value)
    assert g[0] == -1.0
    assert math.isnan(g[1])
    # the same with an array input
    with pytest.warns(RuntimeWarning):
        g = modes.grad(
            lambda x: ops.log(x[0]) + ops.sqrt(x[1]), np.array([-1.0, -1.0]), mode=mode, chunk=chunk
        )
    assert g[0] == -1.0 and math.isnan(g[1])


@pytest.mark.parametrize("mode,chunk", every_setting(4))
def test_domain_errors_give_the_same_gradient_in_every_mode(mode, chunk):
    x = [-1.0, 0.0, 2.0, -3.0]

    def f(v):
        a, b, c, d = v
        return ops.log(a) + ops.sqrt(b) * c + 1.0 / b + ops.log(c) * d + ops.sqrt(c + d)

    g = quietly(modes.grad, f, x, mode=mode, chunk=chunk)
    # the partials as NumPy's own float64 arithmetic gives them (nan where inf meets -inf or a
    # square root of a negative number is differentiated)
    a, b, c, d = (np.float64(v) for v in x)
    with np.errstate(all="ignore"):
        expected = [
            1.0 / a,
            c * 0.5 / np.sqrt(b) - 1.0 / b**2,
            np.sqrt(b) + d / c + 0.5 / np.sqrt(c + d),
            np.log(c) + 0.5 / np.sqrt(c + d),
        ]
    same_entries(g, expected)
    assert g[0] == -1.0 and np.isnan(g[3])
    # and the elementwise array version, against the same NumPy arithmetic
    xa = np.array([-1.0, 0.0, 2.0, 0.5])
    h = lambda v: ops.sum(ops.log(v) * v + ops.sqrt(v))
    ga = quietly(modes.grad, h, xa, mode=mode, chunk=chunk)
    with np.errstate(all="ignore"):
        expected = np.log(xa) + 1.0 + 0.5 / np.sqrt(xa)
    same_entries(ga, expected)


# ----------------------------------------------------------------- non-differentiable points


@pytest.mark.parametrize("mode,chunk", every_setting(3))
def test_abs_and_relu_at_zero_have_derivative_zero(mode, chunk):
    assert modes.grad(ops.abs, 0.0, mode=mode, chunk=chunk) == 0.0
    assert modes.grad(abs, 0.0, mode=mode, chunk=chunk) == 0.0
    assert modes.grad(np.abs, -0.0, mode=mode, chunk=chunk) == 0.0
    assert modes.grad(ops.relu, 0.0, mode=mode, chunk=chunk) == 0.0
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(
        modes.grad(lambda v: ops.sum(ops.abs(v)), x, mode=mode, chunk=chunk), [-1.0, 0.0, 1.0]
    )
    np.testing.assert_array_equal(
        modes.grad(lambda v: ops.sum(ops.relu(v)), x, mode=mode, chunk=chunk), [0.0, 0.0, 1.0]
    )
    g = modes.grad(
        lambda v: ops.abs(v[0] - v[1]) + ops.relu(v[1] - v[2]), [1.0, 1.0, 1.0], mode=mode, chunk=chunk
    )
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0])


@pytest.mark.parametrize("mode,chunk", every_setting(3))
def test_maximum_and_minimum_ties_split_half_and_half(mode, chunk):
    g = modes.grad(
        lambda v: ops.maximum(v[0], v[1]) * 2.0 + ops.minimum(v[1], v[2]),
        [1.0, 1.0, 1.0],
        mode=mode,
        chunk=chunk,
    )
    np.testing.assert_array_equal(g, [1.0, 1.5, 0.5])
    # a tie of a value with itself: 0.5 + 0.5, the derivative of x
    assert modes.grad(lambda s: ops.maximum(s, s), 2.0, mode=mode, chunk=chunk) == 1.0
    assert modes.grad(lambda s: ops.minimum(s, s), 2.0, mode=mode, chunk=chunk) == 1.0
    # a tie with a constant: half the derivative
    assert modes.grad(lambda s: ops.maximum(s, 2.0), 2.0, mode=mode, chunk=chunk) == 0.5
    assert modes.grad(lambda s: np.minimum(3.0, s * 1.5), 2.0, mode=mode, chunk=chunk) == 0.75
    # elementwise, with broadcasting
    x = np.array([0.0, 1.0, 2.0])
    g = modes.grad(lambda v: ops.sum(ops.maximum(v, 1.0)), x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [0.0, 0.5, 1.0])
    g = modes.grad(lambda v: ops.sum(ops.minimum(v, v[::-1])), x, mode=mode, chunk=chunk)
    # min(x, reversed x) = [0, 1, 0]: x0 wins at entry 0, x1 ties itself, x0 again at entry 2
    np.testing.assert_array_equal(g, [2.0, 1.0, 0.0])


@pytest.mark.parametrize("mode,chunk", every_setting(3))
def test_where_passes_the_derivative_of_the_selected_branch(mode, chunk):
    f = lambda s: ops.where(s > 0, s * s, 3.0 * s)
    assert modes.grad(f, 2.0, mode=mode, chunk=chunk) == 4.0
    assert modes.grad(f, -1.0, mode=mode, chunk=chunk) == 3.0
    assert modes.grad(f, 0.0, mode=mode, chunk=chunk) == 3.0  # 0 > 0 is false: the second branch
    g = modes.grad(
        lambda v: ops.sum(ops.where(v >= 1.0, v * v, -v)), np.array([0.0, 1.0, 2.0]), mode=mode, chunk=chunk
    )
    np.testing.assert_array_equal(g, [-1.0, 2.0, 4.0])
    # the unselected branch's nan/inf derivative does not leak (the "where trap" of JAX)
    g = quietly(modes.grad, lambda s: ops.where(s > 0, ops.sqrt(s), 0.0), -1.0, mode=mode, chunk=chunk)
    assert g == 0.0
    g = quietly(
        modes.grad,
        lambda v: ops.sum(ops.where(v > 0, ops.log(v), v)),
        np.array([-1.0, 0.0, 2.0]),
        mode=mode,
        chunk=chunk,
    )
    np.testing.assert_array_equal(g, [1.0, 1.0, 0.5])
    g = quietly(
        modes.grad,
        lambda v: ops.where(v[0] > 0, ops.log(v[0]), v[1] * v[2]),
        [-1.0, 2.0, 3.0],
        mode=mode,
        chunk=chunk,
    )
    np.testing.assert_array_equal(g, [0.0, 3.0, 2.0])


@pytest.mark.parametrize("mode,chunk", every_setting(2))
def test_zero_to_a_power(mode, chunk):
    """d/dy x**y = 0 where x**y == 0 (the documented convention); d/dx as usual."""
    g = quietly(modes.grad, lambda v: v[0] ** v[1], [0.0, 2.0], mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [0.0, 0.0])
    g = quietly(modes.grad, lambda v: v[0] ** v[1], [0.0, 1.0], mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [1.0, 0.0])
    assert modes.grad(lambda s: s**2, 0.0, mode=mode, chunk=chunk) == 0.0
    g = quietly(
        modes.grad, lambda x: ops.sum(x[:2] ** x[2:]), np.array([0.0, 2.0, 3.0, 1.0]), mode=mode, chunk=chunk
    )
    np.testing.assert_allclose(g, [0.0, 1.0, 0.0, 2.0 * math.log(2.0)], rtol=1e-15)


@pytest.mark.parametrize("mode,chunk", every_setting(2))
def test_zero_to_a_power_raises_no_warning(mode, chunk):
    """NumPy evaluates 0.0 ** 2.0 silently; its gradient (0, 0 by the convention) should be silent too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert np.float64(0.0) ** np.float64(2.0) == 0.0
        g = modes.grad(lambda v: v[0] ** v[1], [0.0, 2.0], mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [0.0, 0.0])


# ------------------------------------------------------------------------- dtypes and kinds


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_integer_inputs_are_promoted_to_float64(mode, chunk):
    seen = []

    def f(v):
        seen.append(modes.primal(v))
        return v / 2 if not isinstance(v, list) else v[0] / 2 + v[1] / 4

    g = modes.grad(f, 3, mode=mode, chunk=chunk)
    assert type(g) is float and g == 0.5
    assert type(seen[-1]) is float and seen[-1] == 3.0
    value, g = modes.value_and_grad(lambda v: v * v, np.int64(3), mode=mode, chunk=chunk)
    assert value == 9.0 and type(g) is float and g == 6.0
    # a list of ints: engine scalars of float value, a float64 gradient
    seen.clear()
    g = modes.grad(
        lambda v: (seen.append([modes.primal(e) for e in v]), v[0] / 2 + v[1] / 4)[1],
        [1, 2],
        mode=mode,
        chunk=chunk,
    )
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [0.5, 0.25])
    assert all(type(e) is float for e in seen[0])
    # an int array: a float64 array inside f, a float64 gradient
    seen.clear()
    x = np.array([1, 2, 3])
    g = modes.grad(lambda v: (seen.append(modes.primal(v)), ops.sum(v / 2))[1], x, mode=mode, chunk=chunk)
    assert seen[0].dtype == np.float64
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [0.5, 0.5, 0.5])
    J = modes.jacobian(lambda v: v * v, np.array([1, 2]), mode=mode, chunk=chunk)
    assert J.dtype == np.float64
    np.testing.assert_array_equal(J, [[2.0, 0.0], [0.0, 4.0]])


@pytest.mark.parametrize("mode,chunk", MODES, ids=MODE_IDS)
def test_gradient_kinds_follow_the_input(mode, chunk):
    # a float input gives a float gradient (also when f ignores its input)
    g = modes.grad(lambda s: s * 3.0, 2.0, mode=mode, chunk=chunk)
    assert type(g) is float and g == 3.0
    g = modes.grad(lambda s: 7.0, 2.0, mode=mode, chunk=chunk)
    assert type(g) is float and g == 0.0
    g = modes.grad(lambda s: s * 3.0, np.float64(2.0), mode=mode, chunk=chunk)
    assert type(g) is float
    # a 0-d array input behaves like a float
    g = modes.grad(lambda s: s * 3.0, np.array(2.0), mode=mode, chunk=chunk)
    assert np.shape(g) == () and float(g) == 3.0
    # a tuple gives a 1-D float64 array
    g = modes.grad(lambda v: v[0] * v[1], (2.0, 5.0), mode=mode, chunk=chunk)
    assert isinstance(g, np.ndarray) and g.shape == (2,) and g.dtype == np.float64
    # an array gives an array shaped like it, also when f ignores it
    g = modes.grad(lambda v: 1.0, np.ones((2, 3)), mode=mode, chunk=chunk)
    assert g.shape == (2, 3) and g.dtype == np.float64
    np.testing.assert_array_equal(g, np.zeros((2, 3)))
    g = modes.grad(lambda v: v[0] * 0.0 + 1.0, [1.0, 2.0], mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [0.0, 0.0])
    # the value is a float for a scalar output
    value, _ = modes.value_and_grad(lambda v: ops.sum(v), np.ones(3), mode=mode, chunk=chunk)
    assert type(value) is float and value == 3.0
