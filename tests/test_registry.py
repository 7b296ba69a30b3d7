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
NAN_MASK = np.where(M > 0.3, 1.0, np.nan)

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
    # issue 12: reductions, scans, shapes, joining, selection, products (on M, 2 x 3)
    np.max: (lambda v: np.max(v, axis=1), lambda v: ops.max(v, axis=1)),
    np.amax: (lambda v: np.amax(v), lambda v: ops.max(v)),
    np.min: (lambda v: np.min(v, axis=0, keepdims=True), lambda v: ops.min(v, axis=0, keepdims=True)),
    np.amin: (lambda v: np.amin(v), lambda v: ops.min(v)),
    np.prod: (lambda v: np.prod(v, axis=1), lambda v: ops.prod(v, axis=1)),
    np.var: (lambda v: np.var(v, axis=1, ddof=1), lambda v: ops.var(v, axis=1, ddof=1)),
    np.std: (lambda v: np.std(v), lambda v: ops.std(v)),
    np.cumsum: (lambda v: np.cumsum(v, axis=1), lambda v: ops.cumsum(v, axis=1)),
    np.ravel: (lambda v: np.ravel(v), lambda v: ops.ravel(v)),
    np.squeeze: (lambda v: np.squeeze(v[None]), lambda v: ops.squeeze(v[None])),
    np.expand_dims: (lambda v: np.expand_dims(v, 1), lambda v: ops.expand_dims(v, 1)),
    np.atleast_1d: (lambda v: np.atleast_1d(v[0, 0]), lambda v: ops.atleast_1d(v[0, 0])),
    np.atleast_2d: (lambda v: np.atleast_2d(v[0]), lambda v: ops.atleast_2d(v[0])),
    np.atleast_3d: (lambda v: np.atleast_3d(v), lambda v: ops.atleast_3d(v)),
    np.moveaxis: (lambda v: np.moveaxis(v, 0, 1), lambda v: ops.moveaxis(v, 0, 1)),
    np.swapaxes: (lambda v: np.swapaxes(v, 0, 1), lambda v: ops.swapaxes(v, 0, 1)),
    np.rollaxis: (lambda v: np.rollaxis(v, 1), lambda v: ops.rollaxis(v, 1)),
    np.flip: (lambda v: np.flip(v, 1), lambda v: ops.flip(v, 1)),
    np.flipud: (lambda v: np.flipud(v), lambda v: ops.flipud(v)),
    np.fliplr: (lambda v: np.fliplr(v), lambda v: ops.fliplr(v)),
    np.rot90: (lambda v: np.rot90(v, 3), lambda v: ops.rot90(v, 3)),
    np.roll: (lambda v: np.roll(v, 1, axis=1), lambda v: ops.roll(v, 1, axis=1)),
    np.repeat: (lambda v: np.repeat(v, 2, axis=0), lambda v: ops.repeat(v, 2, axis=0)),
    np.tile: (lambda v: np.tile(v, 2), lambda v: ops.tile(v, 2)),
    np.diagonal: (lambda v: np.diagonal(v, 1), lambda v: ops.diagonal(v, 1)),
    np.diag: (lambda v: np.diag(v, -1), lambda v: ops.diag(v, -1)),
    np.trace: (lambda v: np.trace(v), lambda v: ops.trace(v)),
    np.tril: (lambda v: np.tril(v), lambda v: ops.tril(v)),
    np.triu: (lambda v: np.triu(v, 1), lambda v: ops.triu(v, 1)),
    np.vstack: (lambda v: np.vstack([v, v[0]]), lambda v: ops.vstack([v, v[0]])),
    np.hstack: (lambda v: np.hstack([v, v * v]), lambda v: ops.hstack([v, v * v])),
    np.dstack: (lambda v: np.dstack([v, v]), lambda v: ops.dstack([v, v])),
    np.column_stack: (lambda v: np.column_stack([v[0], v[1]]), lambda v: ops.column_stack([v[0], v[1]])),
    np.append: (lambda v: np.append(v, v[0]), lambda v: ops.append(v, v[0])),
    np.split: (lambda v: np.split(v, 3, axis=1)[2], lambda v: ops.split(v, 3, axis=1)[2]),
    np.array_split: (lambda v: np.array_split(v, 2, axis=1)[0], lambda v: ops.array_split(v, 2, axis=1)[0]),
    np.vsplit: (lambda v: np.vsplit(v, 2)[1], lambda v: ops.vsplit(v, 2)[1]),
    np.hsplit: (lambda v: np.hsplit(v, [1])[1], lambda v: ops.hsplit(v, [1])[1]),
    np.dsplit: (lambda v: np.dsplit(v[..., None], 1)[0], lambda v: ops.dsplit(v[..., None], 1)[0]),
    np.pad: (lambda v: np.pad(v, 1, mode="wrap"), lambda v: ops.pad(v, 1, mode="wrap")),
    np.take: (lambda v: np.take(v, [4, 0, 4]), lambda v: ops.take(v, [4, 0, 4])),
    np.take_along_axis: (
        lambda v: np.take_along_axis(v, np.array([[2, 0, 1]]), axis=1),
        lambda v: ops.take_along_axis(v, np.array([[2, 0, 1]]), axis=1),
    ),
    np.sort: (lambda v: np.sort(v * v[::-1]), lambda v: ops.sort(v * v[::-1])),
    np.partition: (lambda v: np.partition(v * v[::-1], 1), lambda v: ops.partition(v * v[::-1], 1)),
    np.diff: (lambda v: np.diff(v, axis=0), lambda v: ops.diff(v, axis=0)),
    np.gradient: (lambda v: np.gradient(v, 0.5, axis=1), lambda v: ops.gradient(v, 0.5, axis=1)),
    np.clip: (lambda v: np.clip(v, 0.2, 0.6), lambda v: ops.clip(v, 0.2, 0.6)),
    np.select: (lambda v: np.select([M > 0.4], [v * v], v), lambda v: ops.select([M > 0.4], [v * v], v)),
    np.vdot: (lambda v: np.vdot(v, M), lambda v: ops.vdot(v, M)),
    np.inner: (lambda v: np.inner(v, M), lambda v: ops.inner(v, M)),
    np.outer: (lambda v: np.outer(v, v[0]), lambda v: ops.outer(v, v[0])),
    np.kron: (lambda v: np.kron(v, M), lambda v: ops.kron(v, M)),
    np.cross: (lambda v: np.cross(v, M[::-1]), lambda v: ops.cross(v, M[::-1])),
    np.einsum: (lambda v: np.einsum("ij,kj->ik", v, M), lambda v: ops.einsum("ij,kj->ik", v, M)),
    np.linalg.inv: (lambda v: np.linalg.inv(v @ v.T + 1.0), lambda v: ops.inv(v @ v.T + 1.0)),
    np.linalg.solve: (lambda v: np.linalg.solve(v @ v.T + 1.0, v), lambda v: ops.solve(v @ v.T + 1.0, v)),
    np.linalg.det: (lambda v: np.linalg.det(v @ v.T), lambda v: ops.det(v @ v.T)),
    np.linalg.slogdet: (lambda v: np.linalg.slogdet(v @ v.T)[1], lambda v: ops.slogdet(v @ v.T)[1]),
    np.linalg.cholesky: (lambda v: np.linalg.cholesky(v @ v.T), lambda v: ops.cholesky(v @ v.T)),
    np.linalg.eigh: (lambda v: np.linalg.eigh(v @ v.T)[1], lambda v: ops.eigh(v @ v.T)[1]),
    np.linalg.eigvalsh: (lambda v: np.linalg.eigvalsh(v @ v.T), lambda v: ops.eigvalsh(v @ v.T)),
    np.linalg.svd: (lambda v: np.linalg.svd(v, compute_uv=False), lambda v: ops.svd(v, compute_uv=False)),
    np.linalg.pinv: (lambda v: np.linalg.pinv(v), lambda v: ops.pinv(v)),
    np.linalg.norm: (lambda v: np.linalg.norm(v, axis=1), lambda v: ops.norm(v, axis=1)),
    np.cumprod: (lambda v: np.cumprod(v, axis=1), lambda v: ops.cumprod(v, axis=1)),
    np.average: (
        lambda v: np.average(v, axis=0, weights=[1.0, 3.0]),
        lambda v: ops.average(v, 0, [1.0, 3.0]),
    ),
    np.nansum: (lambda v: np.nansum(v * NAN_MASK), lambda v: ops.nansum(v * NAN_MASK)),
    np.nanmean: (
        lambda v: np.nanmean(v * np.nan ** (M > 0.3)),
        lambda v: ops.nanmean(v * np.nan ** (M > 0.3)),
    ),
    np.nanmax: (lambda v: np.nanmax(v, axis=0), lambda v: ops.nanmax(v, axis=0)),
    np.nanmin: (lambda v: np.nanmin(v, axis=1), lambda v: ops.nanmin(v, axis=1)),
    np.convolve: (lambda v: np.convolve(v[0], v[1]), lambda v: ops.convolve(v[0], v[1])),
    np.correlate: (lambda v: np.correlate(v[0], v[1], "same"), lambda v: ops.correlate(v[0], v[1], "same")),
    np.linalg.matrix_power: (
        lambda v: np.linalg.matrix_power(v @ v.T, 3),
        lambda v: ops.matrix_power(v @ v.T, 3),
    ),
    np.linalg.multi_dot: (lambda v: np.linalg.multi_dot([v, v.T, v]), lambda v: ops.multi_dot([v, v.T, v])),
    np.linalg.vector_norm: (lambda v: np.linalg.vector_norm(v, axis=0), lambda v: ops.vector_norm(v, axis=0)),
    np.linalg.matrix_norm: (lambda v: np.linalg.matrix_norm(v, ord=1), lambda v: ops.matrix_norm(v, ord=1)),
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
    with pytest.raises(TypeError, match=r"numpy\.linalg\.eig is not supported"):
        modes.grad(lambda v: np.sum(np.linalg.eig(v)[0]), np.eye(2))
    with pytest.raises(TypeError, match=r"numpy\.interp is not supported .*supported NumPy functions: .*sum"):
        modes.grad(lambda v: np.sum(np.interp(v, X, Y)), X)


def test_a_public_name_that_numpy_has_as_a_ufunc_dispatches_from_it():
    """Forgetting ``numpy=np.<name>`` in a declaration would make ``np.<name>(v)`` fail: caught here."""
    for name, e in registry.PUBLIC.items():
        np_fn = getattr(np, name, None)
        if isinstance(np_fn, np.ufunc) or np_fn in FUNCTION_CALLS:
            assert np_fn in e.numpy, f"modes.ops.{name} should declare numpy=np.{name}"


def test_no_name_of_the_rule_table_is_defined_twice():
    """A rule written twice (e.g. a merge that kept both copies) would silently keep the last one."""
    import ast
    from collections import Counter
    from pathlib import Path

    from modes import rules

    tree = ast.parse(Path(rules.__file__).read_text())
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    assert twice == [], f"defined more than once in modes/rules.py: {twice}"
