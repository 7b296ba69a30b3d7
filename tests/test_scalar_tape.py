"""The scalar tape's fast paths (issue 14): operators that record inline, the scalar-only sweep.

Both are laid out for speed, so each is checked here against the general path it short-cuts:
the same numbers, the same counts, and the strong-zero conventions of ``modes/chain.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import modes
from modes import ops
from modes.reverse import ElementwiseStep, Tape

CONSTANTS = [2, 2.0, -1.5, 0.5]
OPERATORS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "mod": lambda a, b: a % b,
}


@pytest.mark.parametrize("name", OPERATORS)
@pytest.mark.parametrize("c", CONSTANTS)
def test_operators_with_constants_record_scalar_steps_and_agree_with_forward_mode(name, c):
    if name == "pow" and c < 0:
        c = -c  # a negative base to a fractional power is nan: not what this test is about
    op = OPERATORS[name]
    f = lambda v: op(v[0], c) + op(c, v[1]) + op(v[0], v[1])
    x = [1.3, 0.7]
    rec = modes.record(f, x)
    assert all(type(e) is tuple for e in rec.tape.entries[2:])  # recorded inline, as scalar steps
    assert rec.tape.scalar_only
    g = rec.backward()
    np.testing.assert_allclose(g, modes.grad(f, x, mode="forward"), rtol=1e-14)
    h = 1e-6
    fd = [
        (f([x[0] + h, x[1]]) - f([x[0] - h, x[1]])) / (2 * h),
        (f([x[0], x[1] + h]) - f([x[0], x[1] - h])) / (2 * h),
    ]
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def test_a_structural_primitive_on_floats_is_not_a_scalar_step():
    """maximum's zero partial is structural: its step keeps product() (no plain IEEE multiply)."""
    rec = modes.record(lambda v: ops.maximum(v[0], v[1]) * 2.0, [1.0, 3.0])
    kinds = [type(e) for e in rec.tape.entries[2:]]
    assert kinds == [ElementwiseStep, tuple]
    assert not rec.tape.scalar_only
    np.testing.assert_array_equal(rec.backward(), [0.0, 2.0])


def dead_code(v):
    """v0 * v1, beside a value f computes and never uses: sqrt at 0 has an infinite partial."""
    unused = ops.sqrt(v[0] - v[0])  # noqa: F841 - the point of the test
    return v[0] * v[1]


def test_code_whose_value_is_unused_changes_neither_gradient_nor_counts():
    """The scalar sweep sends every step's adjoint on, unused ones too (0 * inf = nan there);
    the nan is resolved after the sweep, and counts include only steps a path reaches."""
    with np.errstate(all="ignore"):
        with modes.counting() as c:
            g = modes.grad(dead_code, [2.0, 3.0])
    np.testing.assert_array_equal(g, [3.0, 2.0])
    assert c.sweeps == 1 and c.ops == 3
    assert c.adjoint_updates == 2  # only mul's two: sub and sqrt are not on a path to f


def test_the_scalar_sweep_counts_what_the_general_sweep_counts():
    def f(v):
        y = v[0]
        for t in v[1:]:
            y = y * t + math.pi / t
        return y

    x = list(np.linspace(0.5, 1.5, 40))
    rec = modes.record(f, x)
    assert rec.tape.scalar_only
    g = rec.backward()
    rec.counts()
    fast = rec.tape.updates
    general = Tape._sweep(rec.tape, rec.out.index, 1.0, rec.input_nodes, 0, None)
    np.testing.assert_allclose(g, general, rtol=1e-15)
    assert fast == rec.tape.updates - fast  # the general sweep counted the same number again
    assert fast == 5 * 39  # per step: y * t (2 parents), pi / t (1), their sum (2)
