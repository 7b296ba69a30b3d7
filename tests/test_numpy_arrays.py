"""Issue 12's array functions: reductions, scans, shapes, joining, selection and products.

Every function is checked with :func:`modes.check_grads` (both modes against central differences,
forward against reverse, and the adjoint identity ``<u, J v> = <J^T u, v>`` that ties each
structure op's tangent rule to its transpose), in several chunk sizes, with Hessians where the
function is not linear; values equal NumPy's. Conventions: max/min ties split the derivative
evenly among the tied entries; clip at a bound splits 0.5 / 0.5; prod's derivative is the product
of the other entries, zeros included; std at a constant input has derivative 0; sort follows the
stable permutation.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy_catalogue import CASES, works  # tests/ is on sys.path (pytest rootdir-relative import)

import modes
from modes import ops
from modes.hessian import ORDERS

R = np.random.default_rng(7)
V = R.normal(size=6)
M = R.normal(size=(3, 4))
T = R.normal(size=(2, 3, 4))
B = R.normal(size=(4, 2))
B5 = R.normal(size=(5, 1, 4, 3))
SETTINGS = [("reverse", None), ("forward", None), ("forward", 1), ("forward", 5)]
IDS = ["reverse", "forward", "forward-c1", "forward-c5"]

# name -> (function of an engine value written with NumPy calls, its input)
ARRAY_FUNCTIONS = {
    "max-axis-keepdims": (lambda x: np.max(x, axis=(0, 2), keepdims=True) * 2.0, T),
    "min-axis": (lambda x: np.min(x, axis=-1), T),
    "method-max": (lambda x: x.max(axis=0), M),
    "prod-all": (lambda x: np.prod(x), M[:2]),
    "prod-axis-keepdims": (lambda x: np.prod(x, axis=(0, 2), keepdims=True), T),
    "prod-odd-length": (lambda x: np.prod(x, axis=1), R.normal(size=(2, 7))),
    "var-ddof-keepdims": (lambda x: np.var(x, axis=0, ddof=1, keepdims=True), M),
    "std-axes": (lambda x: np.std(x, axis=(1, 2)), T),
    "cumsum-none": (lambda x: np.cumsum(x), M),
    "cumsum-axis0": (lambda x: np.cumsum(x, axis=0), T),
    "ravel": (lambda x: np.ravel(x), T),
    "squeeze-axis": (lambda x: np.squeeze(x[:, None, :1], axis=(1, 2)), M),
    "expand_dims-tuple": (lambda x: np.expand_dims(x, (0, 3)), M),
    "atleast_3d-1d": (lambda x: np.atleast_3d(x), V),
    "moveaxis-lists": (lambda x: np.moveaxis(x, [0, 1], [2, 0]), T),
    "swapaxes": (lambda x: np.swapaxes(x, 0, 2), T),
    "rollaxis-start": (lambda x: np.rollaxis(x, 0, 2), T),
    "flip-axes": (lambda x: np.flip(x, (0, 2)), T),
    "rot90-k2": (lambda x: np.rot90(x, 2), M),
    "rot90-axes": (lambda x: np.rot90(x, 1, axes=(1, 2)), T),
    "roll-multi": (lambda x: np.roll(x, (1, -2), axis=(0, 1)), M),
    "roll-flat": (lambda x: np.roll(x, 5), M),
    "repeat-list": (lambda x: np.repeat(x, [1, 0, 3], axis=0), M),
    "repeat-flat": (lambda x: np.repeat(x, 2), M),
    "tile-3d": (lambda x: np.tile(x, (2, 1, 2)), M),
    "diagonal-3d": (lambda x: np.diagonal(x, 1, 1, 2), T),
    "diag-embed": (lambda x: np.diag(x, k=2), V),
    "trace-offset": (lambda x: np.trace(x, -1), M),
    "tril-k": (lambda x: np.tril(x, -1) + np.triu(x, 2), M),
    "dstack": (lambda x: np.dstack([x, x * x]), M),
    "append-axis": (lambda x: np.append(x, x[:1] * 2, axis=0), M),
    "split-indices": (lambda x: np.split(x, [1, 3], axis=1)[1], M),
    "array_split-uneven": (lambda x: np.array_split(x, 3)[2], V[:5]),
    "dsplit": (lambda x: np.dsplit(x, 2)[1], T),
    "pad-constant-value": (lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=1.5), M),
    "pad-edge": (lambda x: np.pad(x, ((0, 2), (1, 1)), mode="edge"), M),
    "pad-symmetric": (lambda x: np.pad(x, 3, mode="symmetric"), V),
    "take-axis": (lambda x: np.take(x, [2, 0, 2], axis=1), M),
    "sort-none": (lambda x: np.sort(x, axis=None), M),
    "partition-axis0": (lambda x: np.partition(x, 1, axis=0), M),
    "diff-prepend": (lambda x: np.diff(x, axis=0, prepend=0.5, append=x[-1:] * 2), M),
    "gradient-2d": (lambda x: np.stack(np.gradient(x, 2.0)), M),
    "clip-engine-bounds": (lambda x: np.clip(x[1:], x[0], x[0] + 1.0), V),
    "clip-one-sided": (lambda x: np.clip(x, None, 0.1), V),
    "select-default": (lambda x: np.select([x > 0.5, x < -0.5], [x, x * x], default=x * 3), V),
    "tensordot-pair-of-ints": (lambda x: np.tensordot(x, T, axes=(1, 2)), M),
    "tensordot-1": (lambda x: np.tensordot(x, B, axes=1), M),
    "matmul-broadcast-batch": (lambda x: x @ B5, T),
    "matmul-1d-right": (lambda x: x @ np.arange(4.0), T),
    "matmul-1d-left": (lambda x: np.arange(3.0) @ x, T),
    "matmul-batched-both": (lambda x: x @ np.swapaxes(x, 1, 2), T),
    "dot-nd-1d": (lambda x: np.dot(x, x[0, 0]), T),
    "inner-2d": (lambda x: np.inner(x, M), M),
    "kron-1d-2d": (lambda x: np.kron(x[:3], M), V),
    "cross-3-2": (lambda x: np.cross(x, np.array([[1.0, 2.0]] * 2)), R.normal(size=(2, 3))),
    "cross-2-2": (lambda x: np.cross(x, x[::-1]), R.normal(size=(3, 2))),
    "cross-axis0": (lambda x: np.cross(x, x[:, ::-1] + 1.0, axis=0), R.normal(size=(3, 2))),
    "einsum-implicit": (lambda x: np.einsum("ij,jk", x, B), M),
    "einsum-outer": (lambda x: np.einsum("i,j->ji", x[:3], x), V),
    "einsum-three": (lambda x: np.einsum("ij,jk,k->i", x, B, np.ones(2)), M),
    "einsum-diag-out": (lambda x: np.einsum("ii->i", x), M[:, :3]),
    "einsum-batch-transpose": (lambda x: np.einsum("bij->jbi", x), T),
    "cumprod": (lambda x: np.cumprod(x), V),
    "cumprod-axis": (lambda x: np.cumprod(x, axis=1), M),
    "cumprod-zeros": (lambda x: np.cumprod(x * np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])), V),
    "average-weights": (lambda x: np.average(x, axis=1, weights=np.arange(1.0, 5.0)), M),
    "average-engine-weights": (lambda x: np.average(x[:3], weights=x[3:] ** 2), V),
    "average-returned": (lambda x: np.average(x, axis=0, returned=True)[0], M),
    "nansum": (lambda x: np.nansum(x * np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0])), V),
    "nanmean-axis": (
        lambda x: np.nanmean(x * np.where(np.arange(12).reshape(3, 4) % 5 == 0, np.nan, 1.0), axis=0),
        M,
    ),
    "nanmax": (lambda x: np.nanmax(x * np.array([1.0, np.nan, 1.0, 1.0, 1.0, 1.0])), V),
    "nanmin-axis": (lambda x: np.nanmin(x, axis=0), M),
    "convolve-full": (lambda x: np.convolve(x, x[:3]), V),
    "convolve-same": (lambda x: np.convolve(x[:2], x, "same"), V),
    "convolve-valid": (lambda x: np.convolve(x, np.arange(3.0), "valid"), V),
    "correlate-full": (lambda x: np.correlate(x, x[:2] + 1, "full"), V),
    "correlate-short-first": (lambda x: np.correlate(x[:2], x, "same"), V),
}


@pytest.mark.parametrize("name", list(ARRAY_FUNCTIONS))
def test_array_function_derivatives_three_ways(name):
    f, x = ARRAY_FUNCTIONS[name]
    report = modes.check_grads(f, x)
    assert report, str(report)
    value = modes.jvp(f, x, np.ones_like(x))[0]
    np.testing.assert_allclose(value, f(x), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", list(ARRAY_FUNCTIONS))
@pytest.mark.parametrize(("mode", "chunk"), SETTINGS[1:], ids=IDS[1:])
def test_array_functions_in_every_chunk_size(name, mode, chunk):
    f, x = ARRAY_FUNCTIONS[name]
    np.testing.assert_allclose(
        modes.jacobian(f, x, mode=mode, chunk=chunk),
        modes.jacobian(f, x, mode="reverse"),
        rtol=1e-12,
        atol=1e-14,
    )


NONLINEAR = [
    "cumprod",
    "average-engine-weights",
    "convolve-full",
    "max-axis-keepdims",
    "prod-all",
    "prod-odd-length",
    "var-ddof-keepdims",
    "std-axes",
    "clip-one-sided",
    "matmul-batched-both",
    "cross-3-2",
    "einsum-outer",
]


#: Engine bug (modes/reverse.py, on main before issue 12): in a reverse sweep over a nested trace,
#: getitem's in-place accumulate is handed a parent adjoint that is already an engine value (another
#: consumer's contribution), and fails with "'Dual' object does not support item assignment".
#: It needs only ops.getitem: ``sum(v[1:] * w) + sum(v**3)`` has no reverse-inner Hessian.
@pytest.mark.parametrize("order", ORDERS)
def test_getitem_adjoints_accumulate_into_engine_value_adjoints_when_nested(order):
    """Regression: reverse mode's in-place getitem accumulation wrote into an engine-value adjoint
    ('Dual' object does not support item assignment) when a slice met another path in a Hessian."""
    H = modes.hessian(lambda v: ops.sum(v[1:] * 2.0) + ops.sum(v**3), V, order=order)
    np.testing.assert_allclose(H, np.diag(6.0 * V), rtol=1e-13, atol=1e-13)
    H2 = modes.hessian(lambda v: ops.sum(v[1:] * v[:-1]) + ops.sum(v[::2] ** 2), V, order=order)
    expected = (
        np.diag(np.where(np.arange(V.size) % 2 == 0, 2.0, 0.0)) + np.eye(V.size, k=1) + np.eye(V.size, k=-1)
    )
    np.testing.assert_allclose(H2, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_max_and_min_split_ties_evenly(mode, chunk):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    J = modes.jacobian(lambda v: np.max(v, axis=1), x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(J[0], [[0, 0.5, 0.5], [0, 0, 0]])
    np.testing.assert_allclose(J[1], [[0, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    g = modes.grad(lambda v: v.min(), x, mode=mode, chunk=chunk)
    np.testing.assert_allclose(g, [[1.0, 0, 0], [0, 0, 0]])
    # two tied entries: the same 0.5 / 0.5 as maximum(a, b) at a tie
    pair = np.array([2.0, 2.0])
    np.testing.assert_array_equal(
        modes.grad(lambda v: np.max(v), pair, mode=mode),
        modes.grad(lambda v: np.maximum(v[0], v[1]), pair, mode=mode),
    )


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_prod_is_exact_at_zeros(mode, chunk):
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    np.testing.assert_array_equal(modes.grad(lambda v: np.prod(v), x, mode=mode, chunk=chunk), np.zeros(5))
    x = np.array([2.0, 0.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(
        modes.grad(lambda v: np.prod(v), x, mode=mode, chunk=chunk), [0, 120, 0, 0, 0]
    )
    assert modes.grad(lambda v: ops.prod(v[:0]) * v[0], x, mode=mode)[0] == 1.0  # empty product is 1


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_std_of_a_constant_has_derivative_zero(mode, chunk):
    np.testing.assert_array_equal(
        modes.grad(lambda v: np.std(v), np.full(4, 1.5), mode=mode, chunk=chunk), np.zeros(4)
    )


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_clip_at_a_bound_splits_like_maximum(mode, chunk):
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    g = modes.grad(lambda v: ops.sum(np.clip(v, 0.0, 1.0)), x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [0.0, 0.5, 1.0, 0.5, 0.0])


@pytest.mark.parametrize(("mode", "chunk"), SETTINGS, ids=IDS)
def test_sort_follows_the_stable_permutation_at_ties(mode, chunk):
    x = np.array([3.0, 1.0, 3.0, 2.0])
    J = modes.jacobian(lambda v: np.sort(v), x, mode=mode, chunk=chunk)
    np.testing.assert_array_equal(J, np.eye(4)[[1, 3, 0, 2]])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_methods_match_their_functions(mode):
    x = M
    f_method = lambda v: (
        v.max(axis=1)
        + v.min(axis=1)
        + v.prod(axis=1)
        + v.var(axis=1)
        + v.std(axis=1, ddof=1)
        + v.cumsum(axis=1)[:, -1]
        + v.clip(-0.5, 0.5).sum(axis=1)
        + v.ravel()[:3]
        + v.flatten()[3:6]
        + v.reshape(1, 3, 4).squeeze()[:, 0]
        + v.transpose(1, 0)[0]
        + v.swapaxes(0, 1)[1]
        + v.repeat(2, axis=1)[:, 1]
        + v.take([0], axis=1)[:, 0]
        + v.astype(float).copy()[:, 2]
        + v.diagonal()
        + v.trace()
    )
    f_fn = lambda v: (
        np.max(v, axis=1)
        + np.min(v, axis=1)
        + np.prod(v, axis=1)
        + np.var(v, axis=1)
        + np.std(v, axis=1, ddof=1)
        + np.cumsum(v, axis=1)[:, -1]
        + np.sum(np.clip(v, -0.5, 0.5), axis=1)
        + np.ravel(v)[:3]
        + np.ravel(v)[3:6]
        + v[:, 0]
        + v[:, 0]
        + v[:, 1]
        + v[:, 0]
        + v[:, 0]
        + v[:, 2]
        + np.diagonal(v)
        + np.trace(v)
    )
    np.testing.assert_allclose(
        modes.jacobian(f_method, x, mode=mode), modes.jacobian(f_fn, x, mode=mode), rtol=1e-13
    )
    assert modes.check_grads(f_method, x)
    with pytest.raises(TypeError, match=r"astype\(int64\) would change"):
        modes.grad(lambda v: v.astype(int).sum(), x, mode=mode)
    assert modes.grad(lambda v: v[v.argmax()] - v[v.argmin()], V, mode=mode).tolist() == [
        1.0 if i == V.argmax() else -1.0 if i == V.argmin() else 0.0 for i in range(6)
    ]


def test_values_equal_numpys_on_plain_arrays():
    """The derived functions applied to plain arrays give NumPy's own results."""
    for name, (f, x) in ARRAY_FUNCTIONS.items():
        out = modes.jvp(f, x, np.zeros_like(x))[0]
        np.testing.assert_allclose(out, f(np.array(x)), rtol=1e-13, atol=1e-14, err_msg=name)
    assert ops.max(M, axis=0).tolist() == np.max(M, axis=0).tolist()
    assert ops.prod(np.arange(1.0, 6.0)) == 120.0
    np.testing.assert_allclose(ops.einsum("ij,jk->ik", M, B), M @ B, rtol=1e-14)
    np.testing.assert_allclose(
        ops.tensordot(M, T, axes=([0, 1], [1, 2])), np.tensordot(M, T, axes=([0, 1], [1, 2]))
    )


def test_lists_of_engine_values_say_what_to_use():
    """NumPy does not look inside lists: np.array([...]) and np.mean([...]) of engine values fail clearly."""

    def f_array(v):
        return np.sum(np.array([v[0], v[1]]))

    def f_mean(v):
        return np.mean([v[0], v[1]])

    for mode in ("forward", "reverse"):
        for f in (f_array, f_mean):
            with pytest.raises(TypeError, match=r"modes\.ops\.stack"):
                modes.grad(f, [1.0, 2.0], mode=mode)
        # what works instead: np.stack dispatches on its elements, ops take lists
        assert list(modes.grad(lambda v: np.sum(np.stack([v[0], v[1] * 2])), [1.0, 2.0], mode=mode)) == [
            1.0,
            2.0,
        ]
        assert list(modes.grad(lambda v: ops.mean([v[0], v[1]]), [1.0, 2.0], mode=mode)) == [0.5, 0.5]
        assert list(modes.grad(lambda v: ops.max([v[0], v[1]]), [1.0, 2.0], mode=mode)) == [0.0, 1.0]


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="tensordot: axes must be"):
        modes.grad(lambda v: np.sum(np.tensordot(v, v, axes="x")), M)
    with pytest.raises(ValueError, match="tensordot: shape-mismatch"):
        modes.grad(lambda v: np.sum(np.tensordot(v, v, axes=([0], [1]))), M)
    with pytest.raises(TypeError, match="max: out= is not supported"):
        modes.grad(lambda v: np.max(v, out=np.empty(())), V)
    with pytest.raises(ValueError, match="pad: mode 'linear_ramp' is not supported"):
        modes.grad(lambda v: np.sum(np.pad(v, 1, mode="linear_ramp")), V)
    with pytest.raises(NotImplementedError, match="einsum: only subscripts without"):
        modes.grad(lambda v: np.einsum("...i->...", v), V)
    with pytest.raises(ValueError, match="array split does not result in an equal division"):
        modes.grad(lambda v: np.sum(np.split(v, 4)[0]), V)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_numpy_catalogue(case):
    """Issue 12's coverage figure: every case of tests/numpy_catalogue.py differentiates correctly."""
    _name, f, x = case
    ok, why = works(f, x)
    assert ok, why


# ------------------------------------------------- compiled tapes (modes.compile) at a new point

X0 = np.array([0.3, -1.2, 2.0, 0.7, -0.1])
X1 = np.array([-0.5, 1.1, 0.2, 2.4, -3.0])  # a different order, a different max, other signs
W5 = np.arange(1.0, 6.0)

REPLAYED = {
    "sort": lambda v: ops.sum(np.sort(v) * W5),
    "partition": lambda v: ops.sum(np.partition(v, 2)[:3] * W5[:3]),
    "max-min": lambda v: np.max(v) * 2.0 - np.min(v * v),
    "clip": lambda v: ops.sum(np.clip(v, -1.0, 1.0) * W5),
    "nan_to_num": lambda v: ops.sum(np.nan_to_num(np.log(v)) * W5),
    "nansum-nanmean": lambda v: np.nansum(np.sqrt(v)) + np.nanmean(np.sqrt(v) * W5),
    "norm-ord0": lambda v: np.linalg.norm(np.maximum(v, 0.0), ord=0) * ops.sum(v),
    "slogdet-sign": lambda v: np.linalg.slogdet(np.diag(v))[0] * ops.sum(v * v),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # log and sqrt of negative entries: nan, on purpose
@pytest.mark.parametrize("name", list(REPLAYED))
def test_a_compiled_tape_recomputes_every_choice_at_the_new_point(name):
    """Permutations, max/min choices and nan masks are recomputed by a replay, never frozen."""
    f = REPLAYED[name]
    c = modes.compile(f, X0)
    for x in (X0, X1):
        np.testing.assert_array_equal(c.grad(x), modes.grad(f, x))
        np.testing.assert_array_equal(c.jvp(x, W5)[1], modes.jvp(f, x, W5)[1])


def test_index_reads_are_guarded_in_a_compiled_tape():
    """np.argsort / argmax on engine values read primal values: a replay elsewhere refuses."""
    f = lambda v: v[np.argmax(v)] * 2.0 + ops.sum(v[np.argsort(v)[:2]])
    np.testing.assert_array_equal(modes.grad(f, X0), [0, 0, 2, 0, 0] + np.array([0, 1, 0, 0, 1.0]))
    c = modes.compile(f, X0)
    np.testing.assert_array_equal(c.grad(X0), modes.grad(f, X0))
    with pytest.raises(modes.BranchChangedError):
        c.grad(X1)
