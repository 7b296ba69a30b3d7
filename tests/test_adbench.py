"""ADBench conformance: the GMM objective and bundle-adjustment residuals in both modes.

Reference values are ADBench's own (``experiments/data/adbench/expected.json``), compared with
ADBench's tolerance ``|x - y| / max(1, |x| + |y|) <= 1e-8``. The larger GMM problems have no
published gradient: there forward and reverse mode must agree, and both must match central finite
differences of the plain-NumPy objective.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import modes
from experiments.adbench import (
    DATA_DIR,
    BAData,
    GMMData,
    ba_jacobian_nonzeros,
    ba_params,
    ba_residuals,
    gmm_objective,
    gmm_params,
    load_expected,
    read_ba,
    read_gmm,
    synthetic_gmm,
)

ADBENCH_TOL = 1e-8

# Byte-for-byte copies of ADBench commit 38cb7931303a830c3700ca36ba9520868327ac87.
SHA256 = {
    "ba_test_n2_m10_p10.txt": "9f2a5cb722f2549b8d95f01b44c5e001a9c0a06cffbeb7aa0490c7a558a01ae6",
    "gmm_10k_d2_K5.txt": "3b867d2bc2248fe8680c3508adc3723ab5ae2fffe3cc770ab20e4af6bccdda9d",
    "gmm_1k_d2_K5.txt": "34bca915002ee7dfad53bbdb3f4875e1e54cc6b562248fb9d3c736c3b1dae29b",
    "gmm_test_d2_K3_n1.txt": "0fabb0c23497359a61c96597ae052d1e073ea5bc547e4c5e5f5e20ed30f9ea27",
    "expected.json": "32d6cca73605248be1374867f17b8feb76d8498c35a6008a8c7b8c118c6ac012",
}

# (mode, chunk) settings for gradients: reverse, forward one direction per pass, a chunk that
# leaves a remainder, and forward mode's default chunk.
GRAD_SETTINGS = [("reverse", None), ("forward", 1), ("forward", 5), ("forward", None)]


def adbench_error(x, y) -> float:
    """ADBench's comparison: the largest ``|x - y| / max(1, |x| + |y|)`` over entries."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    assert x.shape == y.shape, (x.shape, y.shape)
    return float(np.max(np.abs(x - y) / np.maximum(1.0, np.abs(x) + np.abs(y))))


def central_differences(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar ``f``, one input at a time."""
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h * max(1.0, abs(x[i]))
        g[i] = (f(x + e) - f(x - e)) / (2 * e[i])
    return g


@pytest.fixture(scope="module")
def expected() -> dict:
    return load_expected()


# ------------------------------------------------------------------------------ the data files


def test_data_files_ship_with_the_package_unchanged():
    for name, digest in SHA256.items():
        path = DATA_DIR / name
        assert path.is_file(), path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name
    assert (DATA_DIR / "README.md").is_file()


def test_expected_values_have_the_documented_shapes(expected):
    assert len(expected["gmm:jacobian_calculation_correctness"]["expected_gradient"]) == 18
    checks = expected["ba:jacobian_calculation_correctness"]["expected_shape_checks"]
    assert checks["output.J.nrows"] == 30 and checks["output.J.ncols"] == 62
    assert len(expected["ba:jacobian_calculation_correctness"]["expected_J_values"]) == 310


def test_read_gmm_shapes():
    d = read_gmm(DATA_DIR / "gmm_test_d2_K3_n1.txt")
    assert isinstance(d, GMMData)
    assert (d.D, d.K, d.N, d.n_params) == (2, 3, 1, 18)
    assert d.alphas.shape == (3,) and d.means.shape == (3, 2) and d.icf.shape == (3, 3)
    assert d.x.shape == (1, 2) and d.gamma == 1.0 and d.m == 0
    assert gmm_params(d).shape == (18,) and gmm_params(d).dtype == np.float64
    np.testing.assert_array_equal(gmm_params(d)[:3], d.alphas)
    np.testing.assert_array_equal(gmm_params(d)[3:9], d.means.ravel())
    for name, n in (("gmm_1k_d2_K5.txt", 1000), ("gmm_10k_d2_K5.txt", 10000)):
        d = read_gmm(DATA_DIR / name)
        assert (d.D, d.K, d.N, d.n_params) == (2, 5, n, 30)


def test_read_ba_replicates():
    d = read_ba(DATA_DIR / "ba_test_n2_m10_p10.txt")
    assert isinstance(d, BAData)
    assert (d.n, d.m, d.p, d.n_params) == (2, 10, 10, 62)
    assert d.cams.shape == (2, 11) and d.X.shape == (10, 3) and d.feats.shape == (10, 2)
    np.testing.assert_array_equal(d.obs[:, 0], np.arange(10) % 2)
    np.testing.assert_array_equal(d.obs[:, 1], np.arange(10) % 10)
    assert ba_params(d).shape == (62,)


# ----------------------------------------------------------------------------- GMM test file


@pytest.fixture(scope="module")
def gmm_test():
    return read_gmm(DATA_DIR / "gmm_test_d2_K3_n1.txt")


def test_gmm_objective_matches_adbench(gmm_test, expected):
    want = expected["gmm:objective_calculation_correctness"]["expected_objective"]
    assert want == pytest.approx(8.07380408004975791, abs=1e-15)
    got = gmm_objective(gmm_params(gmm_test), gmm_test)
    assert adbench_error(got, want) <= ADBENCH_TOL


@pytest.mark.parametrize(("mode", "chunk"), GRAD_SETTINGS)
def test_gmm_gradient_matches_adbench(gmm_test, expected, mode, chunk):
    want = expected["gmm:jacobian_calculation_correctness"]["expected_gradient"]
    f = lambda p: gmm_objective(p, gmm_test)
    value, g = modes.value_and_grad(f, gmm_params(gmm_test), mode=mode, chunk=chunk)
    assert g.shape == (18,)
    assert adbench_error(value, 8.07380408004975791) <= ADBENCH_TOL
    assert adbench_error(g, want) <= ADBENCH_TOL


# --------------------------------------------------------------------------- GMM 1k and 10k


@pytest.mark.parametrize("name", ["gmm_1k_d2_K5.txt", "gmm_10k_d2_K5.txt"])
def test_gmm_large_modes_agree_and_match_finite_differences(name):
    d = read_gmm(DATA_DIR / name)
    x = gmm_params(d)
    f = lambda p: gmm_objective(p, d)
    f0 = f(x)
    grads = {}
    for mode, chunk in GRAD_SETTINGS:
        value, grads[mode, chunk] = modes.value_and_grad(f, x, mode=mode, chunk=chunk)
        assert value == pytest.approx(f0, rel=1e-13)
    ref = grads["reverse", None]
    scale = max(1.0, float(np.max(np.abs(ref))))
    for key, g in grads.items():
        assert np.max(np.abs(g - ref)) <= 1e-10 * scale, key
    fd = central_differences(f, x)
    # round-off of the differences is about eps * |f| / h; the gradient entries reach ~5e3
    assert np.max(np.abs(fd - ref)) <= 1e-7 * scale


def test_gmm_synthetic_data_differentiates():
    d = synthetic_gmm(D=3, K=4, N=50, seed=1)
    assert (d.D, d.K, d.N, d.n_params) == (3, 4, 50, 40)
    assert d.icf.shape == (4, 6)
    x = gmm_params(d)
    f = lambda p: gmm_objective(p, d)
    assert np.isfinite(f(x))
    gr = modes.grad(f, x)
    gf = modes.grad(f, x, mode="forward")
    np.testing.assert_allclose(gf, gr, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(central_differences(f, x), gr, rtol=1e-6, atol=1e-6)
    d1 = synthetic_gmm(D=1, K=2, N=5)  # no off-diagonal entries at all
    x1 = gmm_params(d1)
    f1 = lambda p: gmm_objective(p, d1)
    np.testing.assert_allclose(modes.grad(f1, x1, mode="forward"), modes.grad(f1, x1), rtol=1e-12)


def test_gmm_synthetic_is_reproducible():
    a, b = synthetic_gmm(2, 3, 10, seed=7), synthetic_gmm(2, 3, 10, seed=7)
    np.testing.assert_array_equal(gmm_params(a), gmm_params(b))
    np.testing.assert_array_equal(a.x, b.x)


def test_gmm_rejects_wrong_parameter_count(gmm_test):
    with pytest.raises(ValueError, match="expected"):
        gmm_objective(np.zeros(17), gmm_test)


# ------------------------------------------------------------------------------ BA test file


@pytest.fixture(scope="module")
def ba_test():
    return read_ba(DATA_DIR / "ba_test_n2_m10_p10.txt")


def test_ba_residuals_match_adbench(ba_test, expected):
    want = expected["ba:objective_calculation_correctness"]
    r = ba_residuals(ba_params(ba_test), ba_test)
    assert r.shape == (30,)
    assert adbench_error(r[:20], want["expected_reproj_err"]) <= ADBENCH_TOL
    assert adbench_error(r[20:], want["expected_weight_err"]) <= ADBENCH_TOL


def _ba_pattern(data: BAData) -> np.ndarray:
    """Boolean mask of the Jacobian entries ADBench stores (its CSR structure)."""
    mask = np.zeros((3 * data.p, data.n_params), dtype=bool)
    marker = np.arange(mask.size, dtype=float).reshape(mask.shape) + 1.0
    picked = ba_jacobian_nonzeros(marker, data).astype(int) - 1
    mask.flat[picked] = True
    return mask


@pytest.mark.parametrize(
    ("mode", "chunk"), [("forward", None), ("forward", 1), ("forward", 10), ("reverse", None)]
)
def test_ba_jacobian_matches_adbench(ba_test, expected, mode, chunk):
    want = expected["ba:jacobian_calculation_correctness"]
    checks = want["expected_shape_checks"]
    x = ba_params(ba_test)
    J = modes.jacobian(lambda p: ba_residuals(p, ba_test), x, mode=mode, chunk=chunk)
    assert J.shape == (checks["output.J.nrows"], checks["output.J.ncols"])
    vals = ba_jacobian_nonzeros(J, ba_test)
    assert vals.shape == (checks["len(output.J.vals)"],)
    assert adbench_error(vals, want["expected_J_values"]) <= ADBENCH_TOL
    # and nothing outside ADBench's sparsity pattern
    mask = _ba_pattern(ba_test)
    assert mask.sum() == 310
    assert not np.any(J[~mask])


def test_ba_jacobian_nonzeros_order(ba_test):
    n, m = ba_test.n, ba_test.m
    marker = np.arange(30 * 62, dtype=float).reshape(30, 62)
    vals = ba_jacobian_nonzeros(marker, ba_test)
    # observation 1 uses camera 1 and point 1: row 2 starts at camera 1's first column
    assert vals[30] == marker[2, 11]
    assert vals[30 + 11] == marker[2, 11 * n + 3]
    assert vals[30 + 14] == marker[2, 11 * n + 3 * m + 1]
    assert vals[300] == marker[20, 11 * n + 3 * m]
    assert vals[309] == marker[29, 11 * n + 3 * m + 9]


def _ba_with_rotations(data: BAData, rots: np.ndarray) -> BAData:
    cams = data.cams.copy()
    cams[:, :3] = rots
    return BAData(cams=cams, X=data.X, w=data.w, feats=data.feats, obs=data.obs)


def _ba_fd_jacobian(data: BAData, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h * max(1.0, abs(x[i]))
        cols.append((ba_residuals(x + e, data) - ba_residuals(x - e, data)) / (2 * e[i]))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("which", ["all", "mixed"])
def test_ba_zero_rotation_branch(ba_test, which):
    """Cameras with r == 0 take ``x + r x x``: its derivative is the Rodrigues derivative at 0."""
    rots = np.zeros((ba_test.n, 3))
    if which == "mixed":
        rots[1] = [0.1, -0.2, 0.05]
    data = _ba_with_rotations(ba_test, rots)
    x = ba_params(data)
    f = lambda p: ba_residuals(p, data)
    r = f(x)
    assert np.all(np.isfinite(r))
    Jf = modes.jacobian(f, x, mode="forward")
    Jr = modes.jacobian(f, x, mode="reverse")
    assert np.all(np.isfinite(Jf)) and np.all(np.isfinite(Jr))
    np.testing.assert_allclose(Jf, Jr, rtol=1e-12, atol=1e-12)
    fd = _ba_fd_jacobian(data, x)
    scale = np.maximum(1.0, np.abs(Jr))
    assert np.max(np.abs(fd - Jr) / scale) <= 1e-6


def test_adbench_objectives_replay_and_the_zero_rotation_branch_is_guarded(gmm_test, ba_test):
    """Compiled at one point, replayed at another: equal to a fresh recording; no value is read
    behind the guard's back (shape queries, the zero-rotation test is a comparison)."""
    rng = np.random.default_rng(3)
    x = gmm_params(gmm_test)
    g = lambda p: gmm_objective(p, gmm_test)
    c = modes.compile(g, x)
    y = x + 0.01 * rng.normal(size=x.size)
    np.testing.assert_array_equal(c.grad(y), modes.grad(g, y))
    data = _ba_with_rotations(ba_test, np.zeros((ba_test.n, 3)))
    f = lambda p: ba_residuals(p, data)
    x0 = ba_params(data)
    cb = modes.compile(f, x0)
    moved = x0 + 0.01 * (np.arange(x0.size) % 7 >= 3)  # moves points and focal lengths, not rotations
    moved[: 11 * data.n].reshape(data.n, 11)[:, :3] = 0.0
    np.testing.assert_array_equal(cb.jacobian(moved), modes.jacobian(f, moved))
    rotated = x0.copy()
    rotated[0] = 0.1  # camera 0 leaves the r == 0 branch
    with pytest.raises(modes.BranchChangedError, match=r"comparison `%\d+ == 0` .* differs at this x in"):
        cb.jacobian(rotated)
