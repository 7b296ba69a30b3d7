"""The registry: every primitive and derived function is declared once and reachable every way.

A primitive's declaration in the rule table (``public=``, ``numpy=``, ``expression=``) is the only
place that says how users reach it; these tests enumerate the tables so that a declaration that
does not work through ``modes.ops``, NumPy dispatch or the explain parser fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

import modes
from modes import ops, registry
from modes.core import Primitive
from modes.expression import FUNCTIONS, parse

X = np.array([0.3, 0.7, 0.45])
Y = np.array([0.6, 0.2, 0.45])
M = np.arange(6.0).reshape(2, 3) / 7 + 0.1

# One call per NumPy *function* (not ufunc) that dispatches: (numpy call on v, the same with ops).
FUNCTION_CALLS = {
    np.sum: (lambda v: np.sum(v * v, axis=0), lambda v: ops.sum(v * v, axis=0)),
    np.mean: (lambda v: np.mean(v * v), lambda v: ops.mean(v * v)),
    np.reshape: (lambda v: np.reshape(v, (6,)) * 2.0, lambda v: ops.reshape(v, (6,)) * 2.0),
    np.transpose: (lambda v: np.transpose(v) @ np.ones(2), lambda v: ops.transpose(v) @ np.ones(2)),
    np.broadcast_to: (lambda v: np.broadcast_to(v, (3, 2, 3)), lambda v: ops.broadcast_to(v, (3, 2, 3))),
    np.concatenate: (lambda v: np.concatenate([v, v * v]), lambda v: ops.concatenate([v, v * v])),
    np.stack: (lambda v: np.stack([v, v * v]), lambda v: ops.stack([v, v * v])),
    np.where: (lambda v: np.where(M > 0.3, v, -v), lambda v: ops.where(M > 0.3, v, -v)),
    np.tensordot: (lambda v: np.tensordot(v, v, axes=2), lambda v: ops.tensordot(v, v, axes=2)),
    np.dot: (lambda v: np.dot(v, np.ones(3)), lambda v: ops.dot(v, np.ones(3))),
    np.round: (lambda v: np.round(v * 7.0, 1) * v, lambda v: ops.round(v * 7.0, 1) * v),
    np.around: (lambda v: np.around(v * 7.0) * v, lambda v: ops.round(v * 7.0) * v),
    np.sinc: (lambda v: np.sinc(v) * v, lambda v: ops.sinc(v) * v),
    np.fix: (lambda v: np.fix(v * 7.0) * v, lambda v: ops.fix(v * 7.0) * v),
    np.nan_to_num: (lambda v: np.nan_to_num(v / (M - M[0, 0])), lambda v: ops.nan_to_num(v / (M - M[0, 0]))),
}


def _public_primitives() -> list[Primitive]:
    return [p for p in modes.PRIMITIVES.values() if any(e.fn is p for e in registry.PUBLIC.values())]


def test_every_public_name_is_in_ops_and_its_all():
    assert list(ops.__all__) == sorted(registry.PUBLIC)
    for name, entry in registry.PUBLIC.items():
        assert getattr(ops, name) is entry.fn, name


def test_every_primitive_declared_public_is_reachable_from_ops():
    publics = _public_primitives()
    assert len(publics) >= 20
    for p in publics:
        names = [n for n, e in registry.PUBLIC.items() if e.fn is p]
        assert len(names) == 1, (p, names)
        assert getattr(ops, names[0]) is p


def test_primitives_table_is_every_primitive_of_the_rules_module():
    from modes import rules

    declared = {v.name for v in vars(rules).values() if isinstance(v, Primitive)}
    assert declared == set(modes.PRIMITIVES)


@pytest.mark.parametrize("ufunc", list(registry.UFUNCS), ids=lambda u: u.__name__)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_every_declared_ufunc_dispatches_on_engine_values(ufunc, mode):
    """``np.<ufunc>(v)`` on an engine value equals the declared function, value and derivative."""
    fn = registry.UFUNCS[ufunc]
    if ufunc is np.matmul:
        via_numpy = lambda v: ufunc(M, v)
        via_ops = lambda v: fn(M, v)
    elif ufunc.nin == 1:
        via_numpy, via_ops = (lambda v: ufunc(v)), (lambda v: fn(v))
    else:
        via_numpy = lambda v: ufunc(v, Y) + ufunc(Y, v)
        via_ops = lambda v: fn(v, Y) + fn(Y, v)
    expected = modes.jacobian(via_ops, X, mode=mode)
    np.testing.assert_array_equal(modes.jacobian(via_numpy, X, mode=mode), expected)
    np.testing.assert_allclose(
        modes.jacobian(via_ops, X, mode="forward" if mode == "reverse" else "reverse"),
        expected,
        rtol=1e-12,
        atol=1e-14,
    )


def test_every_declared_numpy_function_has_a_dispatch_test():
    assert set(registry.FUNCTIONS) == set(FUNCTION_CALLS), "add a call to FUNCTION_CALLS for each new one"


@pytest.mark.parametrize("func", list(FUNCTION_CALLS), ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_every_declared_numpy_function_dispatches_on_engine_values(func, mode):
    via_numpy, via_ops = FUNCTION_CALLS[func]
    x = M if func not in (np.concatenate, np.stack, np.dot) else X
    np.testing.assert_array_equal(
        modes.jacobian(via_numpy, x, mode=mode), modes.jacobian(via_ops, x, mode=mode)
    )


@pytest.mark.parametrize("name", sorted(n for n, e in registry.PUBLIC.items() if e.expression))
def test_every_expression_function_parses_and_records_its_function(name):
    fn = registry.PUBLIC[name].fn
    assert FUNCTIONS[name] is fn
    e = modes.explain(f"{name}(x) * y", {"x": 0.4, "y": 2.0})
    assert e.value == pytest.approx(2.0 * fn(0.4), rel=1e-15)
    assert e.gradient["x"] == pytest.approx(modes.grad(lambda v: fn(v[0]) * v[1], [0.4, 2.0])[0], rel=1e-15)


def test_only_declared_functions_are_parseable():
    assert set(FUNCTIONS) == {n for n, e in registry.PUBLIC.items() if e.expression}
    with pytest.raises(modes.ExpressionError):
        parse("sech2(x)")


def test_a_new_primitive_is_reachable_everywhere_from_one_declaration():
    """What the README promises: one declaration (plus its kernel) and it works every way."""
    name = "test_cube_registry"
    cube = Primitive(
        name,
        lambda x: x * x * x,
        ("x",),
        partials=(lambda x, out: 3.0 * x * x,),
        public=name,
        expression=True,
    )
    try:
        assert registry.PUBLIC[name].fn is cube
        assert FUNCTIONS[name] is cube
        assert modes.explain(f"{name}(x)", {"x": 2.0}).gradient == {"x": 12.0}
        for mode in ("forward", "reverse"):
            assert modes.grad(lambda v: cube(v), 2.0, mode=mode) == pytest.approx(12.0)
    finally:
        registry.PUBLIC.pop(name)


def test_conflicting_declarations_are_refused():
    with pytest.raises(ValueError, match="declared twice"):
        registry.declare("sin", lambda x: x)
    with pytest.raises(ValueError, match=r"numpy\.sin already dispatches"):
        registry.declare("my_sin_clone", lambda x: x, np.sin)
    assert "my_sin_clone" not in registry.PUBLIC
    with pytest.raises(ValueError, match="need a public name"):
        Primitive("nameless", lambda x: x, ("x",), partials=(1.0,), numpy=np.arcsinh)


def test_unsupported_numpy_functions_are_named_as_users_write_them():
    with pytest.raises(TypeError, match=r"numpy\.linalg\.eigvalsh is not supported"):
        modes.grad(lambda v: np.sum(np.linalg.eigvalsh(v)), np.eye(2))
    with pytest.raises(
        TypeError, match=r"numpy\.cumprod is not supported .*supported NumPy functions: .*sum"
    ):
        modes.grad(lambda v: np.sum(np.cumprod(v)), X)


def test_a_public_name_that_numpy_has_as_a_ufunc_dispatches_from_it():
    """Forgetting ``numpy=np.<name>`` in a declaration would make ``np.<name>(v)`` fail: caught here."""
    for name, e in registry.PUBLIC.items():
        np_fn = getattr(np, name, None)
        if isinstance(np_fn, np.ufunc) or np_fn in FUNCTION_CALLS:
            assert np_fn in e.numpy, f"modes.ops.{name} should declare numpy=np.{name}"
