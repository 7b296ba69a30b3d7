"""The three-way gradient checker: forward vs reverse, each vs finite differences, and the adjoint identity.

Forward and reverse mode read the same rule table, so agreeing with each other proves the
engines consistent, not the rules right. Central finite differences are the independent witness:
a wrong local partial passes forward-vs-reverse (both engines read it) and fails here. The
adjoint identity ``<u, J v> = <J^T u, v>`` on random directions ties a jvp to a vjp: a structure
op whose transpose rule does not match its tangent rule fails it. All three are run.

Finite differences use the classic central step ``h = eps**(1/3) * max(1, |x_i|)`` (eps of the
input's dtype): it balances truncation error (~h^2) against round-off (~eps/h).
:func:`step_sweep` shows that trade-off as a "V" curve, and shows that AD has neither error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from modes.api import grad, jacobian, jvp, vjp
from modes.core import ModesError, primal
from modes.hessian import ORDERS, hessian
from modes.inputs import Inputs, normalize_output, parse_inputs


class GradientCheckError(ModesError, AssertionError):
    """Raised by ``check_grads(..., raise_on_failure=True)``; its message is the report."""


@dataclass(frozen=True)
class Comparison:
    """One check: the largest absolute and relative differences and whether they pass."""

    name: str
    max_abs: float
    max_rel: float
    rtol: float
    atol: float
    passed: bool


@dataclass
class CheckReport:
    """What :func:`check_grads` found; ``bool(report)`` is whether every comparison passed."""

    order: int
    steps: np.ndarray
    comparisons: list[Comparison] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def __bool__(self) -> bool:
        return self.passed

    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.passed]

    def __str__(self) -> str:
        head = f"{'check':50s} {'max abs':>10s} {'max rel':>10s} {'rtol':>8s}  result"
        rows = [
            f"{c.name:50s} {c.max_abs:10.2e} {c.max_rel:10.2e} {c.rtol:8.0e}  "
            + ("ok" if c.passed else "FAILED")
            for c in self.comparisons
        ]
        verdict = "all checks passed" if self.passed else f"{len(self.failures())} check(s) FAILED"
        return "\n".join([f"gradient check (order {self.order}): {verdict}", head, *rows])

    def _repr_html_(self) -> str:
        """Jupyter: one row per comparison, the verdict in colour (see :mod:`modes.notebook`)."""
        from modes import notebook

        return notebook.check_html(self)


def _scale(*arrays: Any) -> float:
    """What round-off between two AD results is relative to: ``max(1, largest entry)``.

    The floor of 1 covers derivatives that are zero only up to round-off (``sum(softmax(x))``
    has gradient 0, computed from entries of size ~1): a wrong rule is off by far more.
    """
    m = max((float(np.max(np.abs(primal(a)))) if np.size(primal(a)) else 0.0) for a in arrays)
    return max(1.0, m) if np.isfinite(m) else 1.0


def _compare(name: str, a: Any, b: Any, rtol: float, atol: float) -> Comparison:
    a = np.asarray(primal(a), dtype=float)
    b = np.asarray(primal(b), dtype=float)
    diff = np.abs(a - b)
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan | (a == b), 0.0, diff)
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(diff == 0, 0.0, diff / np.where(scale == 0, 1.0, scale))
    max_abs = float(np.max(diff)) if diff.size else 0.0
    max_rel = float(np.max(rel)) if rel.size else 0.0
    ok = bool(np.all(diff <= atol + rtol * scale)) and not np.isnan(max_abs)
    return Comparison(name, max_abs, max_rel, rtol, atol, ok)


def _plain_call(f: Callable[[Any], Any], inputs: Inputs, flat: np.ndarray) -> np.ndarray:
    """Evaluate ``f`` on plain numbers at the flat point ``flat`` (no engine involved)."""
    if inputs.kind == "scalar":
        y = f(float(flat[0]))
    elif inputs.kind == "list":
        y = f([float(v) for v in flat])
    else:
        y = f(flat.reshape(inputs.shape).copy())
    return np.asarray(primal(normalize_output(y)), dtype=float)


def default_steps(x: np.ndarray) -> np.ndarray:
    """Central-difference steps chosen by dtype and scale: ``eps**(1/3) * max(1, |x|)``."""
    eps = np.finfo(np.float64).eps
    return eps ** (1.0 / 3.0) * np.maximum(1.0, np.abs(x))


def finite_difference_jacobian(
    f: Callable[[Any], Any], x: Any, steps: np.ndarray | float | None = None
) -> np.ndarray:
    """Central-difference Jacobian of ``f`` at ``x``, shape ``f(x).shape + x.shape``."""
    inputs = parse_inputs(x)
    flat = np.asarray(primal(inputs.items), dtype=float).reshape(-1)
    h = default_steps(flat) if steps is None else np.broadcast_to(np.asarray(steps, dtype=float), flat.shape)
    out_shape = _plain_call(f, inputs, flat).shape
    cols = []
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h[i]
        down[i] -= h[i]
        cols.append((_plain_call(f, inputs, up) - _plain_call(f, inputs, down)) / (up[i] - down[i]))
    J = np.stack(cols, axis=-1).reshape(out_shape + inputs.shape)
    return J


def check_grads(
    f: Callable[[Any], Any],
    x: Any,
    *,
    modes: Sequence[str] = ("forward", "reverse"),
    order: int = 1,
    rtol: float = 1e-10,
    fd_rtol: float = 1e-5,
    fd_atol: float = 1e-7,
    directions: int = 3,
    seed: int = 0,
    raise_on_failure: bool = False,
) -> CheckReport:
    """Check ``f``'s derivatives at ``x`` three ways and return a :class:`CheckReport`.

    ``order=1`` checks the Jacobian (a gradient for scalar ``f``) of each mode in ``modes``;
    ``order=2`` checks the Hessian of a scalar ``f`` from every nesting order built from
    ``modes``, against each other and against central differences of the gradient, plus its
    symmetry ``<u, H v> = <H u, v>``. With ``raise_on_failure`` a failed check raises
    :class:`GradientCheckError` whose message is the report (for use inside test suites).
    """
    modes = tuple(modes)
    for m in modes:
        if m not in ("forward", "reverse"):
            raise ValueError(f"modes must be 'forward' and/or 'reverse', got {m!r}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    inputs = parse_inputs(x)
    flat = np.asarray(primal(inputs.items), dtype=float).reshape(-1)
    steps = default_steps(flat)
    report = CheckReport(order, steps)
    rng = np.random.default_rng(seed)
    if order == 1:
        results = {m: jacobian(f, x, mode=m) for m in modes}
        fd = finite_difference_jacobian(f, x, steps)
        atol = fd_atol * max(1.0, float(np.max(np.abs(fd))) if fd.size else 1.0)
        names = list(results)
        for a, b in pairwise(names):
            ra, rb = results[a], results[b]
            report.comparisons.append(_compare(f"{a} vs {b}", ra, rb, rtol, rtol * _scale(ra, rb)))
        for m in names:
            report.comparisons.append(_compare(f"{m} vs central differences", results[m], fd, fd_rtol, atol))
        if "forward" in modes and "reverse" in modes:
            out_shape = np.shape(fd)[: len(np.shape(fd)) - len(inputs.shape)]
            for k in range(directions):
                v = rng.standard_normal(inputs.shape) if inputs.shape else float(rng.standard_normal())
                u = rng.standard_normal(out_shape) if out_shape else float(rng.standard_normal())
                jv = jvp(f, x, v)[1]
                jtu = vjp(f, x, u)[1]
                terms_l = np.asarray(u) * np.asarray(jv)
                terms_r = np.asarray(jtu) * np.asarray(v)
                # round-off in a sum is relative to the sum of the magnitudes of its terms
                floor = rtol * max(1.0, float(np.sum(np.abs(terms_l))), float(np.sum(np.abs(terms_r))))
                report.comparisons.append(
                    _compare(
                        f"adjoint identity <u,Jv> = <J^T u,v> #{k + 1}",
                        np.sum(terms_l),
                        np.sum(terms_r),
                        rtol,
                        floor,
                    )
                )
    else:
        orders = [o for o in ORDERS if all(part in modes for part in o.split("-over-"))]
        results = {o: hessian(f, x, order=o) for o in orders}
        inner = "reverse" if "reverse" in modes else "forward"
        fd = finite_difference_jacobian(lambda z: grad(f, z, mode=inner), x, steps)
        atol = fd_atol * max(1.0, float(np.max(np.abs(fd))) if fd.size else 1.0)
        for a, b in pairwise(orders):
            ra, rb = results[a], results[b]
            report.comparisons.append(_compare(f"{a} vs {b}", ra, rb, rtol, rtol * _scale(ra, rb)))
        for o in orders:
            report.comparisons.append(
                _compare(f"{o} vs differences of gradient", results[o], fd, fd_rtol, atol)
            )
        n = inputs.n
        for o in orders[:1]:
            H = np.asarray(results[o]).reshape(n, n)
            for k in range(directions):
                u, v = rng.standard_normal(n), rng.standard_normal(n)
                floor = rtol * max(1.0, float(np.abs(u) @ np.abs(H) @ np.abs(v)))
                report.comparisons.append(
                    _compare(f"symmetry <u,Hv> = <Hu,v> #{k + 1}", u @ H @ v, (H @ u) @ v, rtol, floor)
                )
    if raise_on_failure and not report.passed:
        raise GradientCheckError(str(report))
    return report


@dataclass(frozen=True)
class StepSweep:
    """Finite-difference error against AD as the step shrinks, and forward-vs-reverse for scale."""

    steps: np.ndarray
    fd_error: np.ndarray
    ad_difference: float


def step_sweep(f: Callable[[Any], Any], x: Any, steps: Sequence[float] | None = None) -> StepSweep:
    """Max error of central differences against the reverse-mode gradient, for each step.

    The error falls like h^2 (truncation) until round-off (~eps/h) takes over: a "V" on log axes,
    bottoming out near ``eps**(1/3)``. ``ad_difference`` (forward vs reverse) sits at round-off
    level for every h, because AD has no step.
    """
    hs = np.logspace(-1, -13, 25) if steps is None else np.asarray(steps, dtype=float)
    ref = np.asarray(jacobian(f, x, mode="reverse"), dtype=float)
    fwd = np.asarray(jacobian(f, x, mode="forward"), dtype=float)
    errs = np.array([np.max(np.abs(finite_difference_jacobian(f, x, h) - ref)) for h in hs])
    return StepSweep(hs, errs, float(np.max(np.abs(fwd - ref))) if ref.size else 0.0)
