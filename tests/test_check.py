"""The three-way gradient checker: it passes on right derivatives and fails on wrong ones.

A checker that never fails proves nothing, so most tests here feed it a deliberately wrong rule:
a local partial off by 1% (forward and reverse agree, finite differences catch it), a right first
derivative with a wrong second one (only ``order=2`` catches it) and a structure primitive whose
transpose does not match its tangent map (the adjoint identity and forward-vs-reverse catch it).
Control cases with the right rule pass, so the failures come from the planted error alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import modes
from modes import ops, rules
from modes.hessian import ORDERS

EPS = np.finfo(np.float64).eps

# ----------------------------------------------------------------------- deliberately wrong rules

#: sin whose derivative rule is 1% too large.
bad_sin = modes.Primitive(
    "bad_sin", modes.numeric.sin, ("x",), partials=(lambda x, out: modes.rules.cos(x) * 1.01,)
)

#: cos whose derivative is 1% too large; used as the (right-valued) first derivative of sin_2.
bad_cos = modes.Primitive(
    "bad_cos", modes.numeric.cos, ("x",), partials=(lambda x, out: -rules.sin(x) * 1.01,)
)

#: sin with a right first derivative (its values are cos x) but a wrong second derivative.
sin_bad_second = modes.Primitive(
    "sin_bad_second", modes.numeric.sin, ("x",), partials=(lambda x, out: bad_cos(x),)
)


def _flip_impl(x):
    return np.ascontiguousarray(x[::-1])


def _flip_jvp(ts, xs, out, cdim):
    # reverse the leading axis; a forward chunk axis (trailing) is left alone
    return rules.getitem(ts[0], idx=slice(None, None, -1))


#: Reverse a 1-D array, with the right transpose (a flip is its own transpose).
good_flip = modes.Primitive(
    "good_flip",
    _flip_impl,
    ("x",),
    jvp=_flip_jvp,
    vjp=(lambda ct, x, out: rules.getitem(ct, idx=slice(None, None, -1)),),
)

#: The same tangent map with a wrong transpose: the identity instead of the flip.
bad_flip = modes.Primitive("bad_flip", _flip_impl, ("x",), jvp=_flip_jvp, vjp=(lambda ct, x, out: ct,))

W3 = np.array([1.0, 2.0, 3.0])
X3 = np.array([0.3, -1.2, 2.0])

ORDER1_NAMES = [
    "forward vs reverse",
    "forward vs central differences",
    "reverse vs central differences",
    "adjoint identity <u,Jv> = <J^T u,v> #1",
    "adjoint identity <u,Jv> = <J^T u,v> #2",
    "adjoint identity <u,Jv> = <J^T u,v> #3",
]
ORDER2_NAMES = [
    "forward-over-reverse vs reverse-over-forward",
    "reverse-over-forward vs reverse-over-reverse",
    "reverse-over-reverse vs forward-over-forward",
    *[f"{o} vs differences of gradient" for o in ORDERS],
    "symmetry <u,Hv> = <Hu,v> #1",
    "symmetry <u,Hv> = <Hu,v> #2",
    "symmetry <u,Hv> = <Hu,v> #3",
]


def names(report):
    return [c.name for c in report.comparisons]


def failed(report):
    return [c.name for c in report.failures()]


def by_name(report, name):
    (c,) = [c for c in report.comparisons if c.name == name]
    return c


# ------------------------------------------------------------------------ good functions pass

GOOD = {
    "scalar": (lambda x: ops.exp(ops.sin(x)) * x**3 / (1 + x**2), 0.8),
    "list": (lambda v: v[0] * ops.exp(v[1]) / ops.sqrt(v[2]) + ops.tanh(v[1] * v[2]), [0.7, -0.3, 1.9]),
    "tuple": (lambda v: v[0] ** 2 * ops.log(v[1]), (1.5, 2.5)),
    "array": (lambda x: ops.sum(ops.tanh(x) * ops.exp(0.3 * x)) + ops.dot(x, x) ** 1.5, X3),
    "array-2d": (
        lambda x: ops.sum(ops.log(1 + x**2) * W3) + ops.sum(x[0] * x[1]) + ops.sum(ops.sqrt(x * x + 1.0)),
        np.array([[0.3, -0.5, 0.8], [1.1, 0.2, -0.7]]),
    ),
    "array-large-scale": (
        lambda x: ops.sum(ops.log(x) * x) + ops.sum(x) ** 2 * 1e-12,
        np.array([1e6, 3e5, 2e7]),
    ),
}


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", list(GOOD))
def test_check_grads_passes_on_good_functions(name, order):
    f, x = GOOD[name]
    report = modes.check_grads(f, x, order=order)
    assert isinstance(report, modes.CheckReport)
    assert report.order == order
    assert names(report) == (ORDER1_NAMES if order == 1 else ORDER2_NAMES)
    assert report.passed and bool(report), str(report)
    assert report.failures() == []
    for c in report.comparisons:
        assert c.passed and c.max_abs >= 0 and c.max_rel >= 0
    # AD against AD is at round-off; gradients against differences at the FD error, well below 1e-5
    assert by_name(report, names(report)[0]).max_rel < 1e-12
    if order == 1:
        fd = [c for c in report.comparisons if "differences" in c.name]
        assert fd and all(c.max_rel < 1e-6 for c in fd), str(report)
    # raise_on_failure=True is silent when everything passes
    assert modes.check_grads(f, x, order=order, raise_on_failure=True).passed


VECTOR_VALUED = {
    "array": (lambda x: ops.stack([x[0] * ops.sin(x[1]) + x[2] ** 2, ops.exp(x[0] * x[2])]), X3),
    "list-returns-list": (lambda v: [v[0] * v[1], ops.sin(v[0]) + v[1], v[1] ** 3], [0.4, 1.7]),
    "array-2d-out": (lambda x: ops.tanh(x.T @ x), np.array([[0.3, -0.5], [1.1, 0.2], [0.4, 0.9]])),
}


@pytest.mark.parametrize("name", list(VECTOR_VALUED))
def test_check_grads_passes_on_vector_valued_functions(name):
    f, x = VECTOR_VALUED[name]
    report = modes.check_grads(f, x)
    assert names(report) == ORDER1_NAMES
    assert report.passed, str(report)


def test_check_grads_with_one_mode_runs_only_that_modes_checks():
    f, x = GOOD["array"]
    r = modes.check_grads(f, x, modes=("reverse",))
    assert names(r) == ["reverse vs central differences"] and r.passed
    r = modes.check_grads(f, x, modes=("forward",), order=2)
    assert names(r) == [
        "forward-over-forward vs differences of gradient",
        "symmetry <u,Hv> = <Hu,v> #1",
        "symmetry <u,Hv> = <Hu,v> #2",
        "symmetry <u,Hv> = <Hu,v> #3",
    ]
    assert r.passed, str(r)
    r = modes.check_grads(f, x, modes=("reverse",), order=2, directions=1)
    assert names(r) == ["reverse-over-reverse vs differences of gradient", "symmetry <u,Hv> = <Hu,v> #1"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"modes": ("forward", "backward")}, "backward"), ({"order": 3}, "order"), ({"order": 0}, "order")],
)
def test_check_grads_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        modes.check_grads(GOOD["array"][0], X3, **kwargs)


@pytest.mark.parametrize(
    ("f", "x", "order"),
    [
        # sum(softmax(x)) == 1: its gradient is zero, computed as round-off noise by both modes
        (lambda x: ops.sum(ops.softmax(x)), np.array([1.0, 2.0]), 1),
        (lambda x: ops.sum(ops.softmax(x)), np.array([0.5, -1.0, 2.0]), 1),
        (lambda x: ops.sum(ops.softmax(x)), np.array([1.0, 2.0]), 2),
        # d/dv0 [(v0 + v1)^2 - v0^2 - 2 v0 v1] = 0 exactly; forward gives 1.7e-16, reverse 0
        (lambda v: (v[0] + v[1]) * (v[0] + v[1]) - v[0] * v[0] - 2.0 * v[0] * v[1], [1.0, 0.1], 1),
    ],
    ids=["sum-softmax-2", "sum-softmax-3", "sum-softmax-2-order2", "cancelling-polynomial"],
)
def test_check_grads_does_not_fail_right_derivatives_that_are_round_off_zeros(f, x, order):
    """Right derivatives must pass: a zero computed as ~1e-16 in one mode and 0 in the other is
    round-off, not a disagreement (comparisons need an absolute floor scaled to the problem)."""
    report = modes.check_grads(f, x, order=order)
    assert report.passed, str(report)


# ------------------------------------------------------------------- a wrong partial is caught


# Each case is written for a given sine, so the same expression runs with bad_sin and with the
# table's sin (the control).
SIN_CASES = {
    "scalar": (lambda sin, x: sin(x) + x * x, 0.7),
    "list": (lambda sin, v: sin(v[0]) * v[1] + sin(v[1]), [0.4, -1.3]),
    "array": (lambda sin, x: ops.sum(sin(x) * W3), X3),
    "array-vector-valued": (lambda sin, x: sin(x) * W3, X3),
}


def sin_case(name, sin):
    f, x = SIN_CASES[name]
    return (lambda z: f(sin, z)), x


@pytest.mark.parametrize("name", list(SIN_CASES))
def test_check_grads_catches_a_wrong_partial(name):
    f, x = sin_case(name, bad_sin)
    report = modes.check_grads(f, x)
    assert not report.passed and not bool(report)
    # both engines read the same (wrong) rule: they agree with each other and with the adjoint
    assert by_name(report, "forward vs reverse").passed
    assert all(c.passed for c in report.comparisons if c.name.startswith("adjoint identity"))
    # only the independent witness sees it
    assert failed(report) == ["forward vs central differences", "reverse vs central differences"]
    # the error is the planted 1% (relative to the wrong value, 0.01 / 1.01 where cos dominates)
    assert by_name(report, "reverse vs central differences").max_rel > 1e-3


def test_bad_sin_error_size_is_the_planted_factor():
    report = modes.check_grads(lambda x: ops.sum(bad_sin(x)), X3)
    c = by_name(report, "forward vs central differences")
    assert c.max_rel == pytest.approx(0.01 / 1.01, rel=1e-5)
    assert c.max_abs == pytest.approx(0.01 * np.max(np.abs(np.cos(X3))), rel=1e-5)


@pytest.mark.parametrize("name", list(SIN_CASES))
def test_right_sin_passes_where_bad_sin_fails(name):
    """Control: the same expression with the table's sin passes, so the failure is the rule's."""
    report = modes.check_grads(*sin_case(name, ops.sin))
    assert report.passed, str(report)


def test_order_two_catches_a_wrong_second_derivative_that_order_one_misses():
    f = lambda x: ops.sum(sin_bad_second(x) * W3)
    first = modes.check_grads(f, X3, order=1)
    assert first.passed, str(first)
    second = modes.check_grads(f, X3, order=2)
    assert not second.passed
    # the four orders read the same wrong rule: they agree with each other, and H is symmetric
    assert failed(second) == [f"{o} vs differences of gradient" for o in ORDERS]
    control = modes.check_grads(lambda x: ops.sum(ops.sin(x) * W3), X3, order=2)
    assert control.passed, str(control)


def test_raise_on_failure_raises_gradient_check_error_with_the_report():
    f, x = sin_case("array", bad_sin)
    report = modes.check_grads(f, x)
    with pytest.raises(modes.GradientCheckError) as info:
        modes.check_grads(f, x, raise_on_failure=True)
    err = info.value
    assert isinstance(err, AssertionError) and isinstance(err, modes.ModesError)
    message = str(err)
    assert str(report) in message
    assert "FAILED" in message and "central differences" in message


# ------------------------------------------------------------------ a wrong transpose is caught


@pytest.mark.parametrize("vector_valued", [False, True], ids=["scalar-out", "vector-out"])
def test_check_grads_catches_a_transpose_that_does_not_match_the_tangent_map(vector_valued):
    f = (lambda x: bad_flip(x) * W3) if vector_valued else (lambda x: ops.sum(W3 * bad_flip(x)))
    report = modes.check_grads(f, X3)
    assert not report.passed
    assert by_name(report, "forward vs central differences").passed  # the jvp is right
    assert not by_name(report, "reverse vs central differences").passed
    assert not by_name(report, "forward vs reverse").passed
    adjoint = [c for c in report.comparisons if c.name.startswith("adjoint identity")]
    assert len(adjoint) == 3 and not any(c.passed for c in adjoint)
    # control: the right transpose passes every check
    g = (lambda x: good_flip(x) * W3) if vector_valued else (lambda x: ops.sum(W3 * good_flip(x)))
    assert modes.check_grads(g, X3).passed


def test_wrong_transpose_is_visible_in_the_jacobians():
    """What the checker saw: forward gives the flip matrix, reverse the identity."""
    f = lambda x: bad_flip(x) * 1.0
    np.testing.assert_array_equal(modes.jacobian(f, X3, mode="forward"), np.eye(3)[::-1])
    np.testing.assert_array_equal(modes.jacobian(f, X3, mode="reverse"), np.eye(3))


def test_wrong_transpose_fails_the_order_two_check():
    report = modes.check_grads(lambda x: ops.sum(bad_flip(x) ** 2 * W3), X3, order=2)
    assert not report.passed
    assert not by_name(report, "forward-over-reverse vs reverse-over-forward").passed


# ------------------------------------------------------------------------ the readable report


def test_report_str_is_a_readable_table():
    f, x = GOOD["array"]
    report = modes.check_grads(f, x)
    lines = str(report).splitlines()
    assert lines[0] == "gradient check (order 1): all checks passed"
    assert lines[1].split() == ["check", "max", "abs", "max", "rel", "rtol", "result"]
    assert len(lines) == 2 + len(report.comparisons)
    result_col = lines[1].index("result")
    for line, c in zip(lines[2:], report.comparisons):
        assert line.startswith(c.name)
        assert line[result_col:] == "ok"
        max_abs, max_rel, rtol, result = line[len(c.name) :].split()
        assert result == "ok"
        assert float(max_abs) == pytest.approx(c.max_abs, rel=1e-2, abs=1e-300)
        assert float(max_rel) == pytest.approx(c.max_rel, rel=1e-2, abs=1e-300)
        assert float(rtol) == pytest.approx(c.rtol)


def test_failed_report_str_names_the_failures():
    report = modes.check_grads(*sin_case("array", bad_sin))
    lines = str(report).splitlines()
    assert lines[0] == "gradient check (order 1): 2 check(s) FAILED"
    failed_rows = [line for line in lines[2:] if line.endswith("FAILED")]
    assert [r.split("  ")[0].strip() for r in failed_rows] == failed(report)
    assert sum(line.endswith(" ok") for line in lines[2:]) == len(report.comparisons) - 2


# -------------------------------------------------------------- finite differences and the V


def test_finite_difference_jacobian_shape_and_truncation_error():
    """Central differences of x^3 are 3x^2 + h^2 exactly: the step used is the step asked for."""
    J = modes.finite_difference_jacobian(lambda x: x**3, np.array([2.0, -1.0]), steps=1e-2)
    np.testing.assert_allclose(J, np.diag([12.0 + 1e-4, 3.0 + 1e-4]), rtol=0, atol=1e-10)
    f, x = VECTOR_VALUED["array-2d-out"]
    J = modes.finite_difference_jacobian(f, x)
    assert J.shape == (2, 2, 3, 2)
    np.testing.assert_allclose(J, modes.jacobian(f, x), rtol=1e-8, atol=1e-9)
    assert modes.finite_difference_jacobian(lambda v: v[0] * v[1], [2.0, 5.0]).shape == (2,)


def _sweep_function():
    syms = sp.symbols("x0:3", real=True)
    expr = sum(sp.exp(sp.sin(s)) * s for s in syms)
    grad_sym = np.array([float(sp.diff(expr, s).evalf(30, subs=dict(zip(syms, X3)))) for s in syms])
    return (lambda x: ops.sum(ops.exp(ops.sin(x)) * x)), grad_sym


def test_step_sweep_is_a_v_and_ad_has_no_step_error():
    f, grad_sym = _sweep_function()
    sweep = modes.step_sweep(f, X3)
    hs, err = sweep.steps, sweep.fd_error
    assert hs.shape == err.shape and hs[0] > hs[-1]
    best = int(np.argmin(np.abs(np.log(hs) - np.log(EPS ** (1 / 3)))))
    # both ends of the V are orders of magnitude above the bottom near eps^(1/3)
    assert err[0] > 1e4 * err[best]
    assert err[-1] > 1e4 * err[best]
    assert np.argmin(err) in range(best - 2, best + 3)
    # truncation side: central differences lose two decades of error per decade of step (h^2)
    i_1e3 = int(np.argmin(np.abs(hs - 1e-3)))
    assert np.log10(err[0] / err[i_1e3]) == pytest.approx(4.0, abs=0.3)
    # AD sits at round-off, below the best finite difference, and matches SymPy
    assert sweep.ad_difference <= 4 * EPS * np.max(np.abs(grad_sym))
    assert sweep.ad_difference < err.min()
    np.testing.assert_allclose(modes.grad(f, X3), grad_sym, rtol=1e-14)


def test_step_sweep_with_given_steps():
    f, _ = _sweep_function()
    steps = [1e-1, EPS ** (1 / 3), 1e-13]
    sweep = modes.step_sweep(f, X3, steps=steps)
    np.testing.assert_array_equal(sweep.steps, steps)
    big, mid, small = sweep.fd_error
    assert big > 1e3 * mid and small > 1e3 * mid
    assert mid < 1e-8
