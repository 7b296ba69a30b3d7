"""ADBench problems written in the expression API: the GMM objective and bundle-adjustment residuals.

The input files and reference values come from ADBench (github.com/microsoft/ADBench, commit
38cb793, MIT licence, Copyright (c) Microsoft Corporation; Srajer, Kukelova, Fitzgibbon 2018,
arXiv:1807.10129) and ship in ``experiments/data/adbench/`` (see the README there).

Both functions take one flat parameter vector, a plain ``ndarray`` or a ``modes`` engine array,
and are written with Python operators and :mod:`modes.ops` only, so that
``modes.grad(..., mode="forward")`` and ``mode="reverse"`` differentiate them as they are::

    data = read_gmm(DATA_DIR / "gmm_1k_d2_K5.txt")
    x = gmm_params(data)
    modes.grad(lambda p: gmm_objective(p, data), x)                   # reverse mode
    modes.grad(lambda p: gmm_objective(p, data), x, mode="forward")   # forward mode
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modes import ops

#: Where the ADBench input files and ``expected.json`` live (inside the installed package).
DATA_DIR: Path = Path(__file__).resolve().parent / "data" / "adbench"

# --------------------------------------------------------------------------------------- GMM


@dataclass
class GMMData:
    """A Gaussian mixture model problem: K components in D dimensions, N data points."""

    alphas: np.ndarray  # (K,) mixture weights (log-space, unnormalised)
    means: np.ndarray  # (K, D)
    icf: np.ndarray  # (K, D*(D+1)//2): D log-diagonal entries q, then D(D-1)/2 entries l
    x: np.ndarray  # (N, D) data points
    gamma: float  # Wishart prior
    m: int  # Wishart prior

    @property
    def D(self) -> int:  # noqa: N802 - the problem's own name
        return int(self.means.shape[1])

    @property
    def K(self) -> int:  # noqa: N802
        return int(self.means.shape[0])

    @property
    def N(self) -> int:  # noqa: N802
        return int(self.x.shape[0])

    @property
    def n_params(self) -> int:
        d = self.D
        return self.K * (1 + d + d * (d + 1) // 2)


def read_gmm(path: str | Path) -> GMMData:
    """Read an ADBench GMM file: ``D K N``, alphas, means, icf, points, then ``gamma m``."""
    tok = Path(path).read_text().split()
    d, k, n = (int(t) for t in tok[:3])
    isz = d * (d + 1) // 2
    sizes = (k, k * d, k * isz, n * d)
    want = 3 + sum(sizes) + 2
    if len(tok) != want:
        raise ValueError(f"{path}: expected {want} numbers for D={d}, K={k}, N={n}, found {len(tok)}")
    vals = np.array(tok[3:-2], dtype=np.float64)
    parts = np.split(vals, np.cumsum(sizes)[:-1])
    return GMMData(
        alphas=parts[0],
        means=parts[1].reshape(k, d),
        icf=parts[2].reshape(k, isz),
        x=parts[3].reshape(n, d),
        gamma=float(tok[-2]),
        m=int(float(tok[-1])),
    )


def synthetic_gmm(D: int, K: int, N: int, seed: int = 0) -> GMMData:  # noqa: N803
    """Random but well-conditioned GMM data of the ADBench structure (``gamma = 1``, ``m = 0``)."""
    rng = np.random.default_rng(seed)
    isz = D * (D + 1) // 2
    return GMMData(
        alphas=rng.normal(size=K),
        means=rng.uniform(-1.0, 1.0, size=(K, D)),
        icf=rng.normal(scale=0.5, size=(K, isz)),
        x=rng.normal(size=(N, D)),
        gamma=1.0,
        m=0,
    )


def gmm_params(data: GMMData) -> np.ndarray:
    """The flat parameter vector in ADBench's order: alphas, means (row-major), icf (row-major)."""
    return np.concatenate([data.alphas.ravel(), data.means.ravel(), data.icf.ravel()]).astype(np.float64)


def _multigammaln(a: float, p: int) -> float:
    return p * (p - 1) / 4 * math.log(math.pi) + sum(math.lgamma(a + (1 - j) / 2) for j in range(1, p + 1))


def _gmm_constant(data: GMMData) -> float:
    """The parameter-free terms of the objective, on plain floats."""
    d, k, n = data.D, data.K, data.N
    nn = d + data.m + 1
    wishart = nn * d * math.log(data.gamma / math.sqrt(2.0)) - _multigammaln(0.5 * nn, d)
    return -n * d * 0.5 * math.log(2.0 * math.pi) - k * wishart


def _q_embedding(d: int) -> tuple[np.ndarray, np.ndarray]:
    """Constant 0/1 tensors mapping exp(q) (d,) and l (d(d-1)/2,) to the d x d matrix Q.

    Q[r, r] = exp(q_r); the strictly lower part is filled column by column from l.
    """
    diag = np.zeros((d, d, d))
    diag[np.arange(d), np.arange(d), np.arange(d)] = 1.0
    rows, cols = [], []
    for c in range(d):
        for r in range(c + 1, d):
            rows.append(r)
            cols.append(c)
    low = np.zeros((len(rows), d, d))
    low[np.arange(len(rows)), rows, cols] = 1.0
    return diag, low


def gmm_objective(params: Any, data: GMMData) -> Any:
    """ADBench's GMM objective at the flat ``params`` (see ``gmm_params``), vectorised over points.

    f = -N D/2 log(2 pi) + sum_i logsumexp_k(alpha_k + sum(q_k) - 0.5 ||Q_k (x_i - mu_k)||^2)
        - N logsumexp(alpha) + sum_k [0.5 gamma^2 (||exp(q_k)||^2 + ||l_k||^2) - m sum(q_k)]
        - K (nn D log(gamma / sqrt 2) - multigammaln(nn / 2, D)),  nn = D + m + 1
    """
    d, k, n = data.D, data.K, data.N
    isz = d * (d + 1) // 2
    if _shape(params) != (data.n_params,):
        raise ValueError(f"params has shape {_shape(params)}, expected ({data.n_params},)")
    alphas = params[0:k]
    means = ops.reshape(params[k : k + k * d], (k, d))
    icf = ops.reshape(params[k + k * d :], (k, isz))
    q = icf[:, :d]
    qdiag = ops.exp(q)  # (k, d)
    sum_qs = ops.sum(q, axis=1)  # (k,)
    e_diag, e_low = _q_embedding(d)
    qmat = ops.tensordot(qdiag, e_diag, axes=1)  # (k, d, d)
    if isz > d:
        lpar = icf[:, d:]
        qmat = qmat + ops.tensordot(lpar, e_low, axes=1)
        l_sq = ops.sum(lpar * lpar)
    else:
        l_sq = 0.0
    xc = np.reshape(data.x, (n, 1, d)) - means  # (n, k, d)
    qxc = ops.sum(qmat * ops.reshape(xc, (n, k, 1, d)), axis=3)  # (n, k, d): Q_k (x_i - mu_k)
    sq = ops.sum(qxc * qxc, axis=2)  # (n, k)
    inner = alphas + sum_qs - 0.5 * sq  # (n, k)
    slse = ops.sum(ops.logsumexp(inner, axis=1))
    prior = 0.5 * data.gamma**2 * (ops.sum(qdiag * qdiag) + l_sq) - data.m * ops.sum(sum_qs)
    return _gmm_constant(data) + slse - n * ops.logsumexp(alphas) + prior


def _shape(params: Any) -> tuple[int, ...]:
    return tuple(np.shape(params))  # engine values answer np.shape: no value is read


# --------------------------------------------------------------------------- bundle adjustment

#: Camera layout: Rodrigues rotation (3), centre (3), focal length, principal point (2), distortion (2).
ROT, CENTRE, FOCAL, X0, RAD = slice(0, 3), slice(3, 6), slice(6, 7), slice(7, 9), slice(9, 11)


@dataclass
class BAData:
    """A bundle-adjustment problem: n cameras, m points, p observations (camera, point) pairs."""

    cams: np.ndarray  # (n, 11)
    X: np.ndarray  # (m, 3)
    w: np.ndarray  # (p,) observation weights
    feats: np.ndarray  # (p, 2) observed 2-D features
    obs: np.ndarray  # (p, 2) int: camera index, point index

    @property
    def n(self) -> int:
        return int(self.cams.shape[0])

    @property
    def m(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.w.shape[0])

    @property
    def n_params(self) -> int:
        return 11 * self.n + 3 * self.m + self.p

    @property
    def n_residuals(self) -> int:
        return 3 * self.p


def read_ba(path: str | Path) -> BAData:
    """Read an ADBench BA file (replicated form): ``n m p``, one camera, point, weight, feature.

    Observation i uses camera ``i % n`` and point ``i % m``.
    """
    tok = Path(path).read_text().split()
    n, m, p = (int(t) for t in tok[:3])
    vals = np.array(tok[3:], dtype=np.float64)
    if vals.size != 11 + 3 + 1 + 2:
        raise ValueError(f"{path}: expected 17 numbers after 'n m p', found {vals.size}")
    cam, pt, w, feat = vals[:11], vals[11:14], vals[14], vals[15:17]
    i = np.arange(p)
    return BAData(
        cams=np.tile(cam, (n, 1)),
        X=np.tile(pt, (m, 1)),
        w=np.full(p, w),
        feats=np.tile(feat, (p, 1)),
        obs=np.stack([i % n, i % m], axis=1),
    )


def ba_params(data: BAData) -> np.ndarray:
    """The flat parameter vector: cameras (n*11), points (m*3), weights (p)."""
    return np.concatenate([data.cams.ravel(), data.X.ravel(), data.w.ravel()]).astype(np.float64)


def _cross(a: Any, b: Any) -> Any:
    """Row-wise cross product of two (p, 3) arrays."""
    a0, a1, a2 = a[:, 0], a[:, 1], a[:, 2]
    b0, b1, b2 = b[:, 0], b[:, 1], b[:, 2]
    return ops.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=1)


def _rodrigues(rot: Any, x: Any) -> Any:
    """Rotate each row of ``x`` (p, 3) by the Rodrigues vector in the same row of ``rot``.

    ``x cos t + (v x x) sin t + v (v.x)(1 - cos t)`` with ``t = |r|``, ``v = r / t``; rows with
    ``t == 0`` (decided by a comparison, which a compiled replay re-checks) take ``x + r x x``.
    """
    p = _shape(x)[0]
    sqtheta = ops.sum(rot * rot, axis=1)  # (p,)
    zero = np.asarray(sqtheta == 0.0)  # a comparison, so a compiled replay re-checks it
    small = x + _cross(rot, x)
    if zero.all():
        return small
    if zero.any():  # keep the unused branch finite: no 1/0 anywhere
        sqtheta = ops.where(zero, 1.0, sqtheta)
    theta = ops.reshape(ops.sqrt(sqtheta), (p, 1))
    cos_t, sin_t = ops.cos(theta), ops.sin(theta)
    v = rot / theta
    vx = ops.sum(v * x, axis=1, keepdims=True)
    general = x * cos_t + _cross(v, x) * sin_t + v * (vx * (1.0 - cos_t))
    if zero.any():
        return ops.where(np.broadcast_to(zero[:, None], (p, 3)), small, general)
    return general


def ba_residuals(params: Any, data: BAData) -> Any:
    """All 2p reprojection residuals ``w_i (project(cam, X) - feature_i)``, then p ``1 - w_i^2``."""
    n, m, p = data.n, data.m, data.p
    if _shape(params) != (data.n_params,):
        raise ValueError(f"params has shape {_shape(params)}, expected ({data.n_params},)")
    cams = ops.reshape(params[0 : 11 * n], (n, 11))
    pts = ops.reshape(params[11 * n : 11 * n + 3 * m], (m, 3))
    w = params[11 * n + 3 * m :]
    cam = cams[data.obs[:, 0]]  # (p, 11)
    pt = pts[data.obs[:, 1]]  # (p, 3)
    xcam = _rodrigues(cam[:, ROT], pt - cam[:, CENTRE])
    u = xcam[:, 0:2] / xcam[:, 2:3]
    rsq = ops.sum(u * u, axis=1, keepdims=True)
    kappa = cam[:, RAD]
    u = u * (1.0 + kappa[:, 0:1] * rsq + kappa[:, 1:2] * rsq * rsq)
    proj = u * cam[:, FOCAL] + cam[:, X0]
    reproj = ops.reshape(ops.reshape(w, (p, 1)) * (proj - data.feats), (2 * p,))
    return ops.concatenate([reproj, 1.0 - w * w])


def ba_jacobian_nonzeros(J: np.ndarray, data: BAData) -> np.ndarray:  # noqa: N803 - the Jacobian
    """The non-zeros of a dense (3p, 11n + 3m + p) Jacobian in ADBench's CSR order.

    Rows 2i and 2i+1 (observation i) each list camera i % n's 11 columns, point i % m's 3
    columns, then weight i's column; then the p weight rows, one non-zero each.
    """
    n, m, p = data.n, data.m, data.p
    jac = np.asarray(J, dtype=float)
    if jac.shape != (3 * p, data.n_params):
        raise ValueError(f"J has shape {jac.shape}, expected {(3 * p, data.n_params)}")
    out = []
    for i in range(p):
        c, k = int(data.obs[i, 0]), int(data.obs[i, 1])
        cols = np.r_[11 * c : 11 * c + 11, 11 * n + 3 * k : 11 * n + 3 * k + 3, 11 * n + 3 * m + i]
        out.append(jac[2 * i, cols])
        out.append(jac[2 * i + 1, cols])
    out.append(jac[2 * p + np.arange(p), 11 * n + 3 * m + np.arange(p)])
    return np.concatenate(out)


# ------------------------------------------------------------------------------- references


def load_expected() -> dict:
    """ADBench's reference values (``expected.json``), keyed ``'<problem>:<test>'``."""
    with open(DATA_DIR / "expected.json", encoding="utf-8") as fh:
        return json.load(fh)
