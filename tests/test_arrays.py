"""Array code: an MLP loss against a hand-derived NumPy gradient, Jacobians, jvp/vjp, softmax."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special

import modes
from modes import ops

SETTINGS = [("reverse", None), ("forward", None), ("forward", 1), ("forward", 7)]
SETTING_IDS = ["reverse", "forward", "forward-c1", "forward-c7"]

# ----------------------------------------------------------------------------------- the MLP

RNG = np.random.default_rng(20240611)
BATCH, D_IN, HIDDEN, D_OUT = 16, 4, 6, 2
X = RNG.normal(size=(BATCH, D_IN))
Y = RNG.normal(size=(BATCH, D_OUT))
SHAPES = [(D_IN, HIDDEN), (HIDDEN,), (HIDDEN, D_OUT), (D_OUT,)]
SIZES = [int(np.prod(s)) for s in SHAPES]
THETA = RNG.normal(size=sum(SIZES)) * 0.5


def unpack(theta):
    """W1, b1, W2, b2 from one flat parameter vector (slicing and reshape work on engine values)."""
    out, start = [], 0
    for shape, size in zip(SHAPES, SIZES):
        out.append(theta[start : start + size].reshape(shape))
        start += size
    return out


def mlp_loss_sum(theta):
    W1, b1, W2, b2 = unpack(theta)
    H = ops.tanh(X @ W1 + b1)  # (BATCH, HIDDEN) + (HIDDEN,): bias broadcasting
    P = H @ W2 + b2
    return ops.sum((P - Y) ** 2)


def mlp_loss_mean_numpy_style(theta):
    """The same network written as plain NumPy code: np.tanh, @, np.mean dispatch to the engine."""
    W1, b1, W2, b2 = unpack(theta)
    H = np.tanh(np.matmul(X, W1) + b1)
    R = H @ W2 + b2 - Y
    return np.mean(R * R)


def mlp_reference(theta, reduce="sum"):
    """Value and hand-derived gradient (backpropagation written out in NumPy)."""
    W1, b1, W2, b2 = (np.asarray(a) for a in unpack(np.asarray(theta)))
    Z = X @ W1 + b1
    H = np.tanh(Z)
    P = H @ W2 + b2
    R = P - Y
    if reduce == "sum":
        value, dP = np.sum(R**2), 2.0 * R
    else:
        value, dP = np.mean(R**2), 2.0 * R / R.size
    dW2 = H.T @ dP
    db2 = dP.sum(axis=0)
    dH = dP @ W2.T
    dZ = dH * (1.0 - H**2)
    dW1 = X.T @ dZ
    db1 = dZ.sum(axis=0)
    return value, np.concatenate([dW1.ravel(), db1, dW2.ravel(), db2])


def test_the_hand_derived_gradient_matches_finite_differences():
    """The oracle itself is checked once, against central differences."""
    _, g = mlp_reference(THETA)
    h = 1e-6
    fd = np.array(
        [
            (mlp_reference(THETA + h * e)[0] - mlp_reference(THETA - h * e)[0]) / (2 * h)
            for e in np.eye(THETA.size)
        ]
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_mlp_loss_gradient(mode, chunk):
    value_ref, g_ref = mlp_reference(THETA, "sum")
    value, g = modes.value_and_grad(mlp_loss_sum, THETA, mode=mode, chunk=chunk)
    assert type(value) is float
    assert g.shape == THETA.shape and g.dtype == np.float64
    assert value == pytest.approx(value_ref, rel=1e-13)
    np.testing.assert_allclose(g, g_ref, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_mlp_mean_loss_written_with_numpy_calls(mode, chunk):
    value_ref, g_ref = mlp_reference(THETA, "mean")
    value, g = modes.value_and_grad(mlp_loss_mean_numpy_style, THETA, mode=mode, chunk=chunk)
    assert value == pytest.approx(value_ref, rel=1e-13)
    np.testing.assert_allclose(g, g_ref, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_mlp_gradient_with_respect_to_a_weight_matrix(mode, chunk):
    """A 2-D input: the gradient comes back shaped like the matrix."""
    W1, b1, W2, b2 = (np.asarray(a) for a in unpack(THETA))

    def loss(w1):
        return ops.mean((ops.tanh(X @ w1 + b1) @ W2 + b2 - Y) ** 2)

    _, g_ref = mlp_reference(THETA, "mean")
    g = modes.grad(loss, W1, mode=mode, chunk=chunk)
    assert g.shape == W1.shape
    np.testing.assert_allclose(g, g_ref[: W1.size].reshape(W1.shape), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_mlp_gradient_with_respect_to_the_data(mode, chunk):
    W1, b1, W2, b2 = (np.asarray(a) for a in unpack(THETA))
    x = X[0]
    y = Y[0]

    def loss(v):
        h = ops.tanh(v @ W1 + b1)  # a 1-D row: vector @ matrix
        return ops.sum((h @ W2 + b2 - y) ** 2)

    h = np.tanh(x @ W1 + b1)
    r = h @ W2 + b2 - y
    expected = W1 @ ((W2 @ (2.0 * r)) * (1.0 - h**2))
    np.testing.assert_allclose(modes.grad(loss, x, mode=mode, chunk=chunk), expected, rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------------- jacobians


def f_vec(x):
    """R^4 -> R^3."""
    return ops.stack([x[0] * x[1], ops.sin(x[2]), x[0] + x[3] ** 2])


def f_vec_jacobian(x):
    return np.array(
        [
            [x[1], x[0], 0.0, 0.0],
            [0.0, 0.0, math.cos(x[2]), 0.0],
            [1.0, 0.0, 0.0, 2.0 * x[3]],
        ]
    )


XV = np.array([0.5, -1.5, 0.8, 2.0])


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3] + [("forward", 3)], ids=[*SETTING_IDS[:3], "forward-c3"])
def test_jacobian_of_a_map_from_r4_to_r3(mode, chunk):
    J = modes.jacobian(f_vec, XV, mode=mode, chunk=chunk)
    assert J.shape == (3, 4)
    np.testing.assert_allclose(J, f_vec_jacobian(XV), rtol=1e-15)
    # the same function on a list input: f receives engine scalars
    J = modes.jacobian(lambda v: f_vec(ops.stack(v)), list(XV), mode=mode, chunk=chunk)
    np.testing.assert_allclose(J, f_vec_jacobian(XV), rtol=1e-15)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_jacobian_of_a_list_returning_function(mode, chunk):
    def f(v):
        a, b, c, d = v
        return [a * b, ops.sin(c), a + d**2]

    J = modes.jacobian(f, list(XV), mode=mode, chunk=chunk)
    assert J.shape == (3, 4)
    np.testing.assert_allclose(J, f_vec_jacobian(XV), rtol=1e-15)
    # a list output from an array input, with a constant entry
    J = modes.jacobian(lambda x: [x[0] * x[1], 3.0, ops.sum(x)], XV, mode=mode, chunk=chunk)
    np.testing.assert_allclose(J, np.stack([f_vec_jacobian(XV)[0], np.zeros(4), np.ones(4)]), rtol=1e-15)


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_jacobian_shapes_are_out_shape_plus_x_shape(mode, chunk):
    A = np.arange(1.0, 7.0).reshape(2, 3)
    Xm = np.array([[0.2, -0.4, 1.0], [0.7, 0.1, -1.3]])
    # (2, 3) -> (3, 3): Xm.T @ (A * Xm)
    J = modes.jacobian(lambda m: m.T @ (A * m), Xm, mode=mode, chunk=chunk)
    assert J.shape == (3, 3, 2, 3)
    expected = np.zeros((3, 3, 2, 3))
    for i in range(3):
        for k in range(3):
            for p in range(2):
                # out[i, k] = sum_p M[p, i] A[p, k] M[p, k]
                expected[i, k, p, i] += A[p, k] * Xm[p, k]
                expected[i, k, p, k] += Xm[p, i] * A[p, k]
    np.testing.assert_allclose(J, expected, rtol=1e-14)
    # (2, 3) -> (): the gradient shape
    J = modes.jacobian(lambda m: ops.sum(m * m), Xm, mode=mode, chunk=chunk)
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J, 2.0 * Xm, rtol=1e-15)
    # (5,) -> (2, 5)
    x = np.linspace(-1.0, 1.0, 5)
    J = modes.jacobian(lambda v: ops.stack([v * v, ops.exp(v)]), x, mode=mode, chunk=chunk)
    assert J.shape == (2, 5, 5)
    np.testing.assert_allclose(J, np.stack([np.diag(2 * x), np.diag(np.exp(x))]), rtol=1e-15)


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3], ids=SETTING_IDS[:3])
def test_jacobian_of_a_scalar_input(mode, chunk):
    t = 0.7
    J = modes.jacobian(lambda s: ops.stack([s, s * s, ops.sin(s)]), t, mode=mode, chunk=chunk)
    assert np.shape(J) == (3,)
    np.testing.assert_allclose(J, [1.0, 2 * t, math.cos(t)], rtol=1e-15)
    J = modes.jacobian(lambda s: [s * 3.0, ops.exp(s)], t, mode=mode, chunk=chunk)
    np.testing.assert_allclose(J, [3.0, math.exp(t)], rtol=1e-15)
    # scalar -> scalar: a 0-d Jacobian, the derivative
    J = modes.jacobian(lambda s: s * s * s, t, mode=mode, chunk=chunk)
    assert np.shape(J) == ()
    assert float(J) == pytest.approx(3 * t * t, rel=1e-15)
    # an output that ignores the input
    J = modes.jacobian(lambda s: np.array([1.0, 2.0]), t, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(J, [0.0, 0.0])


# --------------------------------------------------------------------------------- jvp and vjp


def test_jvp_and_vjp_against_the_jacobian():
    J = f_vec_jacobian(XV)
    value = np.array([XV[0] * XV[1], math.sin(XV[2]), XV[0] + XV[3] ** 2])
    for v in (np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.3, -2.0, 1.5, 0.25])):
        y, t = modes.jvp(f_vec, XV, v)
        np.testing.assert_allclose(y, value, rtol=1e-15)
        np.testing.assert_allclose(t, J @ v, rtol=1e-14)
    for u in (np.array([0.0, 1.0, 0.0]), np.array([-1.0, 0.5, 2.0])):
        y, back = modes.vjp(f_vec, XV, u)
        np.testing.assert_allclose(y, value, rtol=1e-15)
        assert back.shape == XV.shape
        np.testing.assert_allclose(back, u @ J, rtol=1e-14)
    # list inputs: directions are lists, cotangents come back as 1-D arrays
    g = lambda v: f_vec(ops.stack(v))
    v = [0.3, -2.0, 1.5, 0.25]
    np.testing.assert_allclose(modes.jvp(g, list(XV), v)[1], J @ np.array(v), rtol=1e-14)
    np.testing.assert_allclose(
        modes.vjp(g, list(XV), [-1.0, 0.5, 2.0])[1], np.array([-1.0, 0.5, 2.0]) @ J, rtol=1e-14
    )
    # a scalar input and a scalar output
    y, t = modes.jvp(lambda s: ops.sin(s) * s, 0.4, 2.0)
    assert y == pytest.approx(math.sin(0.4) * 0.4, rel=1e-15)
    assert t == pytest.approx(2.0 * (math.cos(0.4) * 0.4 + math.sin(0.4)), rel=1e-15)
    y, back = modes.vjp(lambda s: ops.sin(s) * s, 0.4, 3.0)
    assert back == pytest.approx(3.0 * (math.cos(0.4) * 0.4 + math.sin(0.4)), rel=1e-15)


def test_jvp_and_vjp_on_matrix_shapes():
    A = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
    M = np.array([[0.2, -0.4, 1.0], [0.7, 0.1, -1.3]])  # (2, 3) -> (2, 2): M @ A, linear
    V = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 0.0]])
    U = np.array([[1.0, -1.0], [0.0, 2.0]])
    y, t = modes.jvp(lambda m: m @ A, M, V)
    np.testing.assert_allclose(y, M @ A, rtol=1e-15)
    np.testing.assert_allclose(t, V @ A, rtol=1e-15)
    y, back = modes.vjp(lambda m: m @ A, M, U)
    assert back.shape == M.shape
    np.testing.assert_allclose(back, U @ A.T, rtol=1e-15)
    # both against the full Jacobian of the non-linear map tanh(M @ A)
    for mode in ("reverse", "forward"):
        J = modes.jacobian(lambda m: ops.tanh(m @ A), M, mode=mode)
        _, t = modes.jvp(lambda m: ops.tanh(m @ A), M, V)
        _, back = modes.vjp(lambda m: ops.tanh(m @ A), M, U)
        np.testing.assert_allclose(t, np.tensordot(J, V, axes=2), rtol=1e-14)
        np.testing.assert_allclose(back, np.tensordot(U, J, axes=2), rtol=1e-14)
        D = 1.0 - np.tanh(M @ A) ** 2
        np.testing.assert_allclose(t, D * (V @ A), rtol=1e-14)
        np.testing.assert_allclose(back, (D * U) @ A.T, rtol=1e-14)


# ------------------------------------------------------------------------ logsumexp, softmax


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_logsumexp_gradient_is_softmax(mode, chunk):
    for x in (np.array([0.3, -1.2, 2.0, 0.7, 0.0]), np.array([1000.0, 1001.0, 999.5, -1000.0, 1000.0])):
        value, g = modes.value_and_grad(ops.logsumexp, x, mode=mode, chunk=chunk)
        assert value == pytest.approx(float(scipy.special.logsumexp(x)), rel=1e-15)
        np.testing.assert_allclose(g, scipy.special.softmax(x), rtol=1e-13, atol=1e-300)
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("mode,chunk", SETTINGS, ids=SETTING_IDS)
def test_softmax_closed_forms(mode, chunk):
    x = np.array([0.3, -1.2, 2.0, 0.7, 0.0])
    s = scipy.special.softmax(x)
    np.testing.assert_allclose(ops.softmax(x), s, rtol=1e-15)
    J = modes.jacobian(ops.softmax, x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-13, atol=1e-16)
    # cross-entropy of softmax: gradient softmax(z) - y
    y = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    g = modes.grad(lambda z: -ops.sum(y * ops.log(ops.softmax(z))), x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, s - y, rtol=1e-13, atol=1e-15)
    # row-wise on a batch, with large logits
    Z = np.array([[1000.0, 1001.0, 1002.0], [-3.0, 0.5, 0.25]])
    S = scipy.special.softmax(Z, axis=1)
    W = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    g = modes.grad(lambda z: ops.sum(ops.softmax(z, axis=1) * W), Z, mode=mode, chunk=chunk)
    expected = S * (W - np.sum(S * W, axis=1, keepdims=True))
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)
    g = modes.grad(
        lambda z: ops.sum(ops.logsumexp(z, axis=1) * np.array([2.0, -1.0])), Z, mode=mode, chunk=chunk
    )
    np.testing.assert_allclose(g, S * np.array([[2.0], [-1.0]]), rtol=1e-13, atol=1e-300)
