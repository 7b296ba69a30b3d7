"""A catalogue of ordinary NumPy gradient cases: plain NumPy code a user would write.

Modelled on the cases HIPS autograd (``tests/test_numpy.py``, ``test_systematic.py``,
``test_linalg.py``) and JAX (``lax_numpy_test``) check themselves on: each entry is a function
written with ``np.*`` calls, methods and operators only (no ``modes.ops``) and a point away from
kinks. ``tests/test_numpy_catalogue.py`` checks every entry with :func:`modes.check_grads` (both
modes against central differences, forward against reverse, the adjoint identity);
``python -m tests.numpy_catalogue`` prints how many of them work (issue 12's coverage figure).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

R = np.random.default_rng(12)
V = R.normal(size=5)  # a vector without ties
VP = np.abs(V) + 0.5  # positive entries
VU = R.uniform(-0.8, 0.8, size=5)  # inside (-1, 1)
M = R.normal(size=(3, 4))
MP = np.abs(M) + 0.5
SQ = R.normal(size=(3, 3))
SPD = SQ @ SQ.T + 3 * np.eye(3)
T3 = R.normal(size=(2, 3, 4))
A34 = R.normal(size=(3, 4))
B45 = R.normal(size=(4, 5))
C = R.normal(size=(3, 3))

Case = tuple[str, Callable[[Any], Any], Any]

CASES: list[Case] = [
    # ---------------------------------------------------------------- elementwise
    ("sin", lambda x: np.sum(np.sin(x)), V),
    ("exp*log", lambda x: np.sum(np.exp(x) * np.log(x)), VP),
    ("tanh", lambda x: np.sum(np.tanh(x)), V),
    ("sqrt", lambda x: np.sum(np.sqrt(x)), VP),
    ("abs", lambda x: np.sum(np.abs(x)), V),
    ("power", lambda x: np.sum(x**3 - 2.0**x), V),
    ("square", lambda x: np.sum(np.square(x)), V),
    ("sign", lambda x: np.sum(np.sign(x) * x), V),
    ("floor", lambda x: np.sum(np.floor(x) * x), V),
    ("ceil", lambda x: np.sum(np.ceil(x) + x), V),
    ("round", lambda x: np.sum(np.round(x * 3.3) * x), V),
    ("rint", lambda x: np.sum(np.rint(x * 3.3) + x), V),
    ("fabs", lambda x: np.sum(np.fabs(x)), V),
    ("arcsin", lambda x: np.sum(np.arcsin(x)), VU),
    ("arccos", lambda x: np.sum(np.arccos(x)), VU),
    ("arctan", lambda x: np.sum(np.arctan(x)), V),
    ("arcsinh", lambda x: np.sum(np.arcsinh(x)), V),
    ("arccosh", lambda x: np.sum(np.arccosh(x + 1.0)), VP),
    ("arctanh", lambda x: np.sum(np.arctanh(x)), VU),
    ("expm1", lambda x: np.sum(np.expm1(x)), V),
    ("exp2", lambda x: np.sum(np.exp2(x)), V),
    ("log2", lambda x: np.sum(np.log2(x)), VP),
    ("log10", lambda x: np.sum(np.log10(x)), VP),
    ("hypot", lambda x: np.sum(np.hypot(x, x[::-1] + 0.3)), V),
    ("logaddexp", lambda x: np.sum(np.logaddexp(x, 2 * x[::-1])), V),
    ("logaddexp2", lambda x: np.sum(np.logaddexp2(x, 2 * x[::-1])), V),
    ("arctan2", lambda x: np.sum(np.arctan2(x, x[::-1] + 0.1)), V),
    ("reciprocal", lambda x: np.sum(np.reciprocal(x)), VP),
    ("cbrt", lambda x: np.sum(np.cbrt(x)), VP),
    ("sinc", lambda x: np.sum(np.sinc(x)), V),
    ("deg2rad", lambda x: np.sum(np.sin(np.deg2rad(x * 50))), V),
    ("rad2deg", lambda x: np.sum(np.rad2deg(x)), V),
    ("remainder", lambda x: np.sum(np.remainder(x * 3, 0.7)), V),
    ("mod-operator", lambda x: np.sum((x * 3) % 0.7 + 5.0 % (x + 9)), V),
    ("fmax", lambda x: np.sum(np.fmax(x, 0.1 * x[::-1])), V),
    ("fmin", lambda x: np.sum(np.fmin(x, 0.1 * x[::-1])), V),
    ("nan_to_num", lambda x: np.sum(np.nan_to_num(x * 2)), V),
    ("maximum", lambda x: np.sum(np.maximum(x, 0.0)), V),
    ("true_divide", lambda x: np.sum(np.true_divide(x, 3.0)), V),
    ("float_power", lambda x: np.sum(np.float_power(x, 2.5)), VP),
    ("negative-positive", lambda x: np.sum(np.negative(x) + np.positive(x) * 2), V),
    ("where-engine-cond", lambda x: np.sum(np.where(x > 0, x**2, -x)), V),
    # ---------------------------------------------------------------- reductions
    ("sum-axis", lambda x: np.sum(np.sum(x, axis=0) ** 2), M),
    ("sum-keepdims", lambda x: np.sum(x / np.sum(x, axis=1, keepdims=True)), MP),
    ("method-sum-mean", lambda x: x.sum(axis=1).mean() + x.mean(axis=0).sum(), M),
    ("max", lambda x: np.max(x), V),
    ("min", lambda x: np.min(x), V),
    ("amax-axis", lambda x: np.sum(np.amax(x, axis=1) ** 2), M),
    ("amin-keepdims", lambda x: np.sum(x - np.amin(x, axis=0, keepdims=True)), M),
    ("method-max-min", lambda x: x.max() * x.min(axis=1).sum(), M),
    ("prod", lambda x: np.prod(x), V),
    ("prod-axis", lambda x: np.sum(np.prod(x, axis=0)), M),
    ("method-prod", lambda x: x.prod(axis=1).sum(), M),
    ("var", lambda x: np.var(x), V),
    ("var-axis-ddof", lambda x: np.sum(np.var(x, axis=1, ddof=1)), M),
    ("std", lambda x: np.std(x), V),
    ("std-keepdims", lambda x: np.sum(np.std(x, axis=0, keepdims=True) * x), M),
    ("method-var-std", lambda x: x.var() + x.std(axis=1).sum(), M),
    ("mean-axis-tuple", lambda x: np.sum(np.mean(x, axis=(0, 2)) ** 2), T3),
    ("logsumexp-stable", lambda x: np.max(x) + np.log(np.sum(np.exp(x - np.max(x)))), V),
    # ---------------------------------------------------------------- cumulative and selection
    ("cumsum", lambda x: np.sum(np.cumsum(x) ** 2), V),
    ("cumsum-axis", lambda x: np.sum(np.cumsum(x, axis=1) ** 2), M),
    ("method-cumsum", lambda x: np.sum(x.cumsum() ** 2), M),
    ("diff", lambda x: np.sum(np.diff(x) ** 2), V),
    ("diff-n2-axis0", lambda x: np.sum(np.diff(x, n=2, axis=1) ** 2), M),
    ("gradient", lambda x: np.sum(np.gradient(x) ** 2), V),
    ("sort", lambda x: np.sum(np.sort(x) * np.arange(5.0)), V),
    ("sort-axis", lambda x: np.sum(np.sort(x, axis=0) * np.arange(12.0).reshape(3, 4)), M),
    ("partition", lambda x: np.sum(np.partition(x, 2)[:3] ** 2), V),
    ("clip", lambda x: np.sum(np.clip(x, -0.5, 0.5) ** 2), V),
    ("method-clip", lambda x: np.sum(x.clip(-0.5, 0.5) * x), V),
    ("select", lambda x: np.sum(np.select([x < -0.5, x > 0.5], [x**2, x**3], default=x)), V),
    ("boolean-mask", lambda x: np.sum(x[x > 0] ** 2), V),
    ("reverse-slice", lambda x: np.sum(x[::-1] * np.arange(5.0)), V),
    ("fancy-index", lambda x: np.sum(x[[0, 2, 2, 4]] ** 2), V),
    ("take", lambda x: np.sum(np.take(x, [1, 3]) ** 2), V),
    # ---------------------------------------------------------------- shape and joining
    ("reshape-T", lambda x: np.sum(x.reshape(4, 3).T @ np.ones(4)), M),
    ("ravel", lambda x: np.sum(np.ravel(x) * np.arange(12.0)), M),
    ("method-ravel-flatten", lambda x: np.sum(x.ravel() * x.flatten()), M),
    ("repeat", lambda x: np.sum(np.repeat(x, 2, axis=1) ** 2), M),
    ("tile", lambda x: np.sum(np.tile(x, (2, 1)) ** 3), M),
    ("moveaxis", lambda x: np.sum(np.moveaxis(x, 0, -1) * np.arange(24.0).reshape(3, 4, 2)), T3),
    ("swapaxes", lambda x: np.sum(np.swapaxes(x, 0, 1) * np.arange(12.0).reshape(4, 3)), M),
    ("rollaxis", lambda x: np.sum(np.rollaxis(x, 2) * np.arange(24.0).reshape(4, 2, 3)), T3),
    ("squeeze-expand_dims", lambda x: np.sum(np.squeeze(np.expand_dims(x, 0)) ** 2), M),
    ("method-squeeze", lambda x: np.sum(x.reshape(1, 12).squeeze() ** 2), M),
    ("flip", lambda x: np.sum(np.flip(x) * np.arange(12.0).reshape(3, 4)), M),
    ("flipud-fliplr", lambda x: np.sum((np.flipud(x) + np.fliplr(x)) ** 2), M),
    ("rot90", lambda x: np.sum(np.rot90(x) * np.arange(12.0).reshape(4, 3)), M),
    ("roll", lambda x: np.sum(np.roll(x, 2) * np.arange(5.0)), V),
    ("trace", lambda x: np.trace(x) ** 2, SQ),
    ("diag", lambda x: np.sum(np.diag(x) ** 2) + np.sum(np.diag(np.diag(x))), SQ),
    ("diagonal", lambda x: np.sum(np.diagonal(x, offset=1) ** 2), M),
    ("tril-triu", lambda x: np.sum(np.tril(x) ** 2 + np.triu(x, 1) ** 3), SQ),
    ("atleast", lambda x: np.sum(np.atleast_2d(x) ** 2 + np.atleast_3d(x[0]) + np.atleast_1d(x[1])), V),
    ("vstack-hstack", lambda x: np.sum(np.vstack([x, x**2]) ** 2) + np.sum(np.hstack([x, x]) ** 3), V),
    ("column_stack", lambda x: np.sum(np.column_stack([x, x**2]) @ np.ones(2)), V),
    ("append", lambda x: np.sum(np.append(x, x[:2] ** 2) ** 2), V),
    ("pad", lambda x: np.sum(np.pad(x, (1, 2)) * np.arange(8.0)), V),
    ("pad-reflect", lambda x: np.sum(np.pad(x, 2, mode="reflect") ** 2), V),
    ("split", lambda x: sum(np.sum(p**2) * i for i, p in enumerate(np.split(x, 2, axis=1))), M),
    ("array_split", lambda x: sum(np.sum(p) * (i + 1) for i, p in enumerate(np.array_split(x, 3))), V),
    ("hsplit-vsplit", lambda x: np.sum(np.hsplit(x, 2)[1] ** 2) + np.sum(np.vsplit(x, 3)[0]), M),
    ("stack-scalars", lambda x: np.sum(np.stack([x[0] * x[1], x[2]]) ** 2), V),
    ("concatenate", lambda x: np.sum(np.concatenate([x, x**2, [1.0]]) ** 2), V),
    # ---------------------------------------------------------------- products
    ("dot", lambda x: np.dot(x, x), V),
    ("matmul-2d", lambda x: np.sum(x @ B45), A34),
    ("outer", lambda x: np.sum(np.outer(x, x[:3]) ** 2), V),
    ("inner", lambda x: np.inner(x, x[::-1]), V),
    ("kron", lambda x: np.sum(np.kron(x, np.arange(4.0).reshape(2, 2)) ** 2), SQ),
    ("cross", lambda x: np.sum(np.cross(x[:3], x[2:]) ** 2), V),
    ("einsum-matmul", lambda x: np.sum(np.einsum("ij,jk->ik", x, B45) ** 2), A34),
    ("einsum-trace", lambda x: np.einsum("ii->", x) + np.einsum("ij,ij->", x, x), SQ),
    ("einsum-batched", lambda x: np.sum(np.einsum("bij,jk->bik", x, B45) ** 2), T3),
    ("tensordot-int", lambda x: np.tensordot(x, x, axes=2), M),
    ("tensordot-lists", lambda x: np.sum(np.tensordot(x, M, axes=([1], [1])) ** 2), M),
    ("tensordot-pair", lambda x: np.sum(np.tensordot(x, T3, axes=([0, 1], [1, 2])) ** 2), M),
    ("matmul-batched", lambda x: np.sum((x @ B45) ** 2), T3),
    ("dot-3d", lambda x: np.sum(np.dot(x, B45) ** 2), T3),
    ("vdot", lambda x: np.vdot(x, M), M),
    # ---------------------------------------------------------------- linear algebra
    ("norm", lambda x: np.linalg.norm(x), V),
    ("norm-ord1", lambda x: np.linalg.norm(x, ord=1), V),
    ("norm-inf", lambda x: np.linalg.norm(x, ord=np.inf), V),
    ("norm-axis", lambda x: np.sum(np.linalg.norm(x, axis=1)), M),
    ("norm-fro", lambda x: np.linalg.norm(x, "fro"), M),
    ("norm-matrix-2", lambda x: np.linalg.norm(x, 2), M),
    ("norm-nuc", lambda x: np.linalg.norm(x, "nuc"), M),
    ("det", lambda x: np.linalg.det(x), SQ),
    ("slogdet", lambda x: np.linalg.slogdet(x)[1], SQ),
    ("inv", lambda x: np.sum(np.linalg.inv(x + 3 * np.eye(3)) ** 2), SQ),  # SQ: cond 1e3, too much for FD
    ("pinv", lambda x: np.sum(np.linalg.pinv(x) ** 2), M),
    ("solve", lambda x: np.sum(np.linalg.solve(x, np.arange(3.0))), SQ),
    ("solve-matrix", lambda x: np.sum(np.linalg.solve(SPD, x) ** 2), M),
    ("cholesky", lambda x: np.sum(np.linalg.cholesky(x @ x.T + 3 * np.eye(3))), SQ),
    ("eigh-values", lambda x: np.sum(np.linalg.eigh(x + x.T)[0] ** 3), SQ),
    ("eigh-vectors", lambda x: np.sum(np.abs(np.linalg.eigh(x + x.T)[1])), SQ),
    ("eigvalsh", lambda x: np.sum(np.linalg.eigvalsh(x + x.T) * np.arange(3.0)), SQ),
    ("svd-values", lambda x: np.sum(np.linalg.svd(x, compute_uv=False) ** 2 * np.arange(1.0, 4.0)), M),
    # ---------------------------------------------------------------- also common
    ("cumprod", lambda x: np.sum(np.cumprod(x)), V),
    ("average-weights", lambda x: np.average(x, weights=np.arange(1.0, 6.0)), V),
    ("nansum-nanmean", lambda x: np.nansum(x * [1, np.nan, 1, 1, 1]) + np.nanmean(x[:2]), V),
    ("nanmax", lambda x: np.nanmax(x), V),
    ("convolve", lambda x: np.sum(np.convolve(x, [1.0, -2.0, 1.0]) ** 2), V),
    ("correlate", lambda x: np.sum(np.correlate(x, x[:3], "full") ** 2), V),
    ("matrix_power", lambda x: np.sum(np.linalg.matrix_power(x, 3)), SQ),
    ("multi_dot", lambda x: np.linalg.multi_dot([x, A34, A34.T]).sum(), C),
    ("take_along_axis", lambda x: np.sum(np.take_along_axis(x, np.argsort(x, axis=1), axis=1)[:, -1]), M),
    ("dstack", lambda x: np.sum(np.dstack([x, x]) ** 2), M),
    # ---------------------------------------------------------------- models people write
    ("softmax-cross-entropy", lambda x: -np.log(np.exp(x[2] - np.max(x)) / np.sum(np.exp(x - np.max(x)))), V),
    ("logistic-loss", lambda x: np.sum(np.log1p(np.exp(-(M @ np.ones(4)) * x[:3]))), V),
    ("gaussian-loglik", lambda x: np.sum(-0.5 * ((M - x[0]) / np.exp(x[1])) ** 2 - x[1]), V),
    ("rbf-kernel", lambda x: np.sum(np.exp(-np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))), M),
]


def works(f: Callable[[Any], Any], x: Any) -> tuple[bool, str]:
    """Whether ``check_grads`` passes on ``f`` at ``x``, and why not when it does not."""
    import modes

    try:
        report = modes.check_grads(f, x)
    except Exception as e:  # the coverage count records every failure kind
        return False, f"{type(e).__name__}: {str(e).splitlines()[0][:110]}"
    return bool(report), "" if report else "wrong derivative: " + "; ".join(c.name for c in report.failures())


def main() -> int:
    ok = 0
    for name, f, x in CASES:
        good, why = works(f, x)
        ok += good
        if not good:
            print(f"  {name:24s} {why}")
    print(f"{ok} of {len(CASES)} NumPy gradient cases work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
