"""Vector-mode reverse: modes.jacobian(f, x, mode="reverse", chunk=c) sweeps c cotangents at once.

Oracles: the row-by-row Jacobian (chunk=1, one sweep per output entry), forward mode, and the
closed-form Jacobian of ``tall``. Chunk sizes 1, c-1, c, c+1 and c > m exercise the remainders
(as ForwardDiff's tests do for forward chunks); ``counting().sweeps`` is exactly ceil(m / c).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import modes
from experiments.problems import CATALOGUE
from modes import ops

rng = np.random.default_rng(7)
W = rng.normal(size=(5, 4))
B = rng.normal(size=(2, 3))


def structures(x):
    """Every structure primitive, broadcasting and elementwise ops, 10 outputs."""
    y = ops.tanh(W @ x + 0.5)  # tensordot, broadcasting add, tanh: (5,)
    z = ops.reshape(y[1:], (2, 2)).T * x[:2]  # getitem, reshape, transpose, broadcasting mul
    s = ops.sum(z, axis=0) + ops.exp(x[3])  # sum over an axis, scalar broadcast
    c = ops.concatenate([s, ops.stack([x[0] * x[1], ops.sin(x[2])])])  # (4,)
    m = ops.sum(ops.broadcast_to(x[:3], (2, 3)) * B, axis=1)  # broadcast_to, (2,)
    return ops.concatenate([c, m, y[:4] ** 2])[:10]


def scalars(v):
    """A list input and a list output: scalar steps carry adjoints with a chunk axis."""
    a, b, c = v
    return [a * b, b + c / a, ops.sin(a) * c, a**2 - 3.0 * b, ops.exp(c) + 1.0]


CASES = {
    "arrays": (structures, rng.normal(size=4)),
    "scalars": (scalars, [0.7, -1.3, 2.1]),
}


def row_by_row(f, x):
    return modes.jacobian(f, x, mode="reverse", chunk=1)


@pytest.mark.parametrize("name", CASES)
def test_every_chunk_equals_the_rows_one_by_one(name):
    f, x = CASES[name]
    ref = row_by_row(f, x)
    m = ref.shape[0]
    np.testing.assert_allclose(ref, modes.jacobian(f, x, mode="forward"), rtol=1e-12, atol=1e-14)
    c = 4
    for chunk in (1, c - 1, c, c + 1, m, m + 3, None):
        with modes.counting(memory=False) as s:
            J = modes.jacobian(f, x, mode="reverse", chunk=chunk)
        np.testing.assert_allclose(J, ref, rtol=1e-13, atol=1e-15)
        used = 1 if chunk is None else modes.choose_chunk(m, chunk)  # default: a sweep per row
        assert s.sweeps == math.ceil(m / used), chunk
        assert s.passes == 1
        with modes.counting(memory=False) as one:
            row_by_row(f, x)
        assert s.adjoint_updates == one.adjoint_updates  # counted per direction, as forward does


def test_tall_jacobian_against_its_closed_form():
    inst = CATALOGUE["tall"].build(6, seed=3, outputs=13)
    for chunk in (1, 4, 5, 13, 20):
        with modes.counting(memory=False) as s:
            J = modes.jacobian(inst.f, inst.x, mode="reverse", chunk=chunk)
        np.testing.assert_allclose(J, inst.reference, rtol=1e-12, atol=1e-14)
        assert s.sweeps == math.ceil(13 / min(chunk, 13))


def test_a_matrix_output_keeps_its_shape():
    f = lambda x: ops.reshape(ops.sin(x) * x[0], (2, 3))
    x = rng.normal(size=6)
    ref = modes.jacobian(f, x, mode="forward", chunk=1)
    for chunk in (1, 2, 5, 6, 7):
        J = modes.jacobian(f, x, mode="reverse", chunk=chunk)
        assert J.shape == (2, 3, 6)
        np.testing.assert_allclose(J, ref, rtol=1e-13, atol=1e-15)


def test_a_primitive_without_a_chunked_transpose_is_swept_per_direction():
    """A primitive the vector sweep has not been taught: its vjp sees one cotangent at a time."""
    seen = []

    def vjp(ct, x, out):
        seen.append(np.shape(ct))
        return ct[::-1]

    rev = modes.Primitive(
        "reverse_order", lambda x: x[::-1].copy(), ("x",), jvp=lambda ts, xs, out, cdim: None, vjp=(vjp,)
    )
    f = lambda x: rev(x * x)
    x = np.array([1.0, 2.0, 3.0])
    for chunk in (1, 2, 3):
        seen.clear()
        J = modes.jacobian(f, x, mode="reverse", chunk=chunk)
        np.testing.assert_array_equal(J, np.diag(2 * x)[::-1])
        assert set(seen) == {(3,)}


def test_outputs_that_do_not_depend_on_x():
    J = modes.jacobian(lambda x: np.ones(3), np.zeros(2), mode="reverse", chunk=2)
    np.testing.assert_array_equal(J, np.zeros((3, 2)))
    J = modes.jacobian(lambda v: [v[0] * 0.0 + 1.0, 2.0], [1.0, 2.0], mode="reverse", chunk=2)
    np.testing.assert_array_equal(J, [[0.0, 0.0], [0.0, 0.0]])


def test_nested_inside_another_differentiation():
    """d/dx of sum(J(x)) with J from vector-mode reverse, against forward-over-forward."""
    g = lambda x: ops.sin(x) * ops.sum(x * x)
    outer = lambda mode, inner_chunk: modes.grad(
        lambda x: ops.sum(modes.jacobian(g, x, mode="reverse", chunk=inner_chunk)),
        np.array([0.3, -0.8, 1.1]),
        mode=mode,
    )
    ref = modes.grad(
        lambda x: ops.sum(modes.jacobian(g, x, mode="forward")), np.array([0.3, -0.8, 1.1]), mode="forward"
    )
    for mode in ("forward", "reverse"):
        for chunk in (1, 2, 3):
            np.testing.assert_allclose(outer(mode, chunk), ref, rtol=1e-12)


def test_chunk_in_reverse_is_for_jacobians():
    with pytest.raises(ValueError, match="chunk applies to mode='forward'"):
        modes.grad(lambda v: v * v, 1.0, mode="reverse", chunk=2)
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        modes.jacobian(lambda v: v * v, np.ones(2), mode="reverse", chunk=0)
