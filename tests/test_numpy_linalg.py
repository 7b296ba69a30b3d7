"""Issue 12's linear algebra: norm, det, slogdet, inv, solve, pinv, cholesky, eigh, eigvalsh, svd values.

Oracles: closed forms written in NumPy (d det = det A^-T, d log|det| = A^-T, d inv = -A^-1 dA A^-1,
d lambda_i = v_i^T dA v_i, d s_i = u_i^T dA v_i), central differences of NumPy's own functions,
forward vs reverse, the adjoint identity, Hessians from every nesting order. Conventions: cholesky,
eigh and eigvalsh read the lower triangle only (as NumPy does), so the upper triangle's derivative
is 0; the 2-norm's kink at 0 has derivative 0.
"""

from __future__ import annotations

import numpy as np
import pytest

import modes
from modes import ops

R = np.random.default_rng(3)
A = R.normal(size=(3, 3)) + 3 * np.eye(3)  # well conditioned: finite differences stay accurate
SPD = A @ A.T + np.eye(3)
BATCH = R.normal(size=(2, 3, 3)) + 3 * np.eye(3)
TALL = R.normal(size=(5, 3))
WIDE = TALL.T.copy()
SETTINGS = [("reverse", None), ("forward", None), ("forward", 1), ("forward", 4)]
IDS = ["reverse", "forward", "forward-c1", "forward-c4"]

FUNCTIONS = {
    "det": (lambda x: np.linalg.det(x), A),
    "det-batched": (lambda x: np.linalg.det(x), BATCH),
    "slogdet": (lambda x: np.linalg.slogdet(x)[1], A),
    "slogdet-negative": (lambda x: np.linalg.slogdet(x)[1], A[::-1]),
    "inv": (lambda x: np.linalg.inv(x), A),
    "inv-batched": (lambda x: np.linalg.inv(x), BATCH),
    "solve-vector": (lambda x: np.linalg.solve(x, np.arange(3.0)), A),
    "solve-rhs": (lambda x: np.linalg.solve(SPD, x), TALL[:3]),
    "solve-both": (lambda x: np.linalg.solve(x, x[:, :2] ** 2), A),
    "solve-batched-broadcast": (lambda x: np.linalg.solve(x, np.ones((3, 2))), BATCH),
    "pinv-tall": (lambda x: np.linalg.pinv(x), TALL),
    "pinv-wide": (lambda x: np.linalg.pinv(x), WIDE),
    "cholesky": (lambda x: np.linalg.cholesky(x), SPD),
    "cholesky-batched": (lambda x: np.linalg.cholesky(x @ np.swapaxes(x, 1, 2)), BATCH),
    "eigh-values": (lambda x: np.linalg.eigh(x)[0], SPD),
    "eigh-vectors-signfree": (lambda x: np.linalg.eigh(x)[1] ** 2, SPD),
    "eigh-batched": (lambda x: np.linalg.eigh(x + np.swapaxes(x, 1, 2)).eigenvalues, BATCH),
    "eigvalsh": (lambda x: np.linalg.eigvalsh(x), SPD),
    "svd-values-tall": (lambda x: np.linalg.svd(x, compute_uv=False), TALL),
    "svd-values-wide": (lambda x: np.linalg.svd(x, compute_uv=False), WIDE),
    "svd-values-batched": (lambda x: np.linalg.svd(x, compute_uv=False), BATCH),
    "norm": (lambda x: np.linalg.norm(x), TALL),
    "norm-keepdims": (lambda x: np.linalg.norm(x, keepdims=True), TALL),
    "norm-vec-ord3": (lambda x: np.linalg.norm(x, ord=3, axis=0), TALL),
    "norm-vec-ord1-keepdims": (lambda x: np.linalg.norm(x, ord=1, axis=1, keepdims=True), TALL),
    "norm-vec-inf": (lambda x: np.linalg.norm(x[0], ord=np.inf), TALL),
    "norm-vec-neginf": (lambda x: np.linalg.norm(x[0], ord=-np.inf), TALL),
    "norm-vec-half": (lambda x: np.linalg.norm(x[0] + 5, ord=0.5), TALL),
    "norm-fro-axes": (lambda x: np.linalg.norm(x, "fro", axis=(2, 1)), BATCH),
    "norm-mat-1": (lambda x: np.linalg.norm(x, 1), TALL),
    "norm-mat-neg1": (lambda x: np.linalg.norm(x, -1), TALL),
    "norm-mat-inf": (lambda x: np.linalg.norm(x, np.inf), TALL),
    "norm-mat-neginf": (lambda x: np.linalg.norm(x, -np.inf), TALL),
    "norm-mat-2": (lambda x: np.linalg.norm(x, 2), TALL),
    "norm-mat-neg2": (lambda x: np.linalg.norm(x, -2), WIDE),
    "norm-nuc-batched-keepdims": (lambda x: np.linalg.norm(x, "nuc", axis=(1, 2), keepdims=True), BATCH),
    "matrix_power": (lambda x: np.linalg.matrix_power(x, 5), A),
    "matrix_power-negative": (lambda x: np.linalg.matrix_power(x, -2), A),
    "matrix_power-zero": (lambda x: np.linalg.matrix_power(x, 0) * x, A),
    "multi_dot": (lambda x: np.linalg.multi_dot([x[0], TALL.T, x]), TALL),
    "vector_norm": (lambda x: np.linalg.vector_norm(x, axis=1, ord=3), TALL),
    "matrix_norm-nuc": (lambda x: np.linalg.matrix_norm(x, ord="nuc"), BATCH),
}


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_linalg_derivatives_three_ways_and_values(name):
    f, x = FUNCTIONS[name]
    report = modes.check_grads(f, x)
    assert report, str(report)
    np.testing.assert_allclose(modes.jvp(f, x, np.zeros_like(x))[0], f(x), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize(("mode", "chunk"), SETTINGS[1:], ids=IDS[1:])
def test_linalg_in_every_chunk_size(name, mode, chunk):
    f, x = FUNCTIONS[name]
    np.testing.assert_allclose(
        modes.jacobian(f, x, mode=mode, chunk=chunk),
        modes.jacobian(f, x, mode="reverse"),
        rtol=1e-10,
        atol=1e-12,
    )


SECOND_ORDER = ["det", "slogdet", "inv", "solve-both", "pinv-tall", "cholesky", "eigh-values"]
SECOND_ORDER += [
    "eigh-vectors-signfree",
    "eigvalsh",
    "svd-values-tall",
    "svd-values-wide",
    "norm",
    "norm-vec-ord3",
]
SECOND_ORDER += ["norm-nuc-batched-keepdims", "matrix_power", "matrix_power-negative"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_linalg_second_derivatives_nest(name):
    f, x = FUNCTIONS[name]
    w = R.normal(size=np.shape(f(x)))
    report = modes.check_grads(lambda v: ops.sum(f(v) * w), x, order=2, fd_rtol=1e-4)
    assert report, str(report)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_closed_forms(mode, chunk):
    Ai = np.linalg.inv(A)
    g = modes.grad(lambda v: np.linalg.det(v), A, mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, np.linalg.det(A) * Ai.T, rtol=1e-12)
    g = modes.grad(lambda v: np.linalg.slogdet(v)[1], A, mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, Ai.T, rtol=1e-12)
    dA = R.normal(size=(3, 3))
    np.testing.assert_allclose(modes.jvp(np.linalg.inv, A, dA)[1], -Ai @ dA @ Ai, rtol=1e-12, atol=1e-15)
    V = np.linalg.eigh(SPD)[1]
    J = modes.jacobian(lambda v: np.linalg.eigvalsh(v), SPD, mode=mode, chunk=chunk)
    lower = np.tril(np.ones((3, 3))) + np.tril(np.ones((3, 3)), -1)  # off-diagonal lower entries count twice
    for i in range(3):
        np.testing.assert_allclose(J[i], np.tril(np.outer(V[:, i], V[:, i])) * lower, rtol=1e-10, atol=1e-14)
    U, _, Vt = np.linalg.svd(TALL, full_matrices=False)
    J = modes.jacobian(lambda v: np.linalg.svd(v, compute_uv=False), TALL, mode=mode, chunk=chunk)
    for i in range(3):
        np.testing.assert_allclose(J[i], np.outer(U[:, i], Vt[i]), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_cholesky_and_eigh_read_the_lower_triangle_only(mode, chunk):
    for f in (lambda v: np.linalg.cholesky(v), lambda v: np.linalg.eigh(v)[1] ** 2, np.linalg.eigvalsh):
        J = modes.jacobian(f, SPD, mode=mode, chunk=chunk)
        np.testing.assert_array_equal(J[..., np.triu_indices(3, 1)[0], np.triu_indices(3, 1)[1]], 0.0)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_eigenvalues_are_differentiable_at_repeated_eigenvalues(mode, chunk):
    """sum(eigvalsh(A)) = trace(A): gradient I even at A = I, where every eigenvalue repeats."""
    g = modes.grad(lambda v: ops.sum(np.linalg.eigvalsh(v)), np.eye(3), mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, np.eye(3), atol=1e-15)
    g = modes.grad(lambda v: ops.sum(np.linalg.eigh(v)[0]), np.eye(3), mode="reverse")
    np.testing.assert_allclose(g, np.eye(3), atol=1e-15)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_the_norm_kink_at_zero_has_derivative_zero(mode, chunk):
    for f in (
        np.linalg.norm,
        lambda v: np.linalg.norm(v, "fro"),
        lambda v: ops.sum(np.linalg.norm(v, axis=1)),
    ):
        np.testing.assert_array_equal(
            modes.grad(f, np.zeros((2, 3)), mode=mode, chunk=chunk), np.zeros((2, 3))
        )
    assert (
        modes.grad(lambda v: np.linalg.norm(v, ord=0) * v[0], np.array([2.0, 0.0, 1.0]), mode=mode)[0] == 2.0
    )


def test_slogdet_sign_is_a_constant_and_values_match_numpy():
    sign, logdet = modes.jvp(lambda v: ops.stack(list(np.linalg.slogdet(v))), A[::-1], np.ones((3, 3)))[0]
    assert (sign, logdet) == pytest.approx(tuple(np.linalg.slogdet(A[::-1])))
    np.testing.assert_allclose(ops.pinv(TALL), np.linalg.pinv(TALL), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ops.norm(TALL, 2), np.linalg.norm(TALL, 2), rtol=1e-14)
    np.testing.assert_allclose(
        ops.svd(BATCH, compute_uv=False), np.linalg.svd(BATCH, compute_uv=False), rtol=1e-14
    )


def test_what_is_left_out_says_so():
    with pytest.raises(TypeError, match=r"svd with compute_uv=True is not supported .*compute_uv=False"):
        modes.grad(lambda v: np.sum(np.linalg.svd(v)[1]), TALL)
    with pytest.raises(NotImplementedError, match="pinv: only matrices of full rank"):
        modes.grad(lambda v: np.sum(np.linalg.pinv(v)), np.ones((3, 2)))
    with pytest.raises(np.linalg.LinAlgError, match="must be square"):
        modes.grad(lambda v: np.linalg.det(v), TALL)
    with pytest.raises(TypeError, match=r"numpy\.linalg\.qr is not supported"):
        modes.grad(lambda v: np.sum(np.linalg.qr(v)[1]), TALL)
