"""Catalogue problems written once against an array namespace ``xp``, so one source runs on every
library: our engines (``modes.ops`` on NumPy arrays), ``jax.numpy``, ``torch`` and ``autograd.numpy``.

A form's ``build(xp, n, seed)`` returns ``(f, x)``: ``x`` is the catalogue problem's own input at
that ``n`` and seed (a NumPy array, or a list of floats for a scalar-loop problem) and ``f`` takes
``x`` converted to the library's arrays (:meth:`Namespace.asarray`, or a list of its scalars). The
problem's data (matrices, targets) are made here with the catalogue's random draws, converted once.

Scalar-loop problems (``rosenbrock``, ``article``) run on peers exactly as written in the catalogue:
that is what a user would do. The tests check that every form, run on our engines, gives the
catalogue's value and gradient, so a form cannot drift from the problem it stands for.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments import problems as cat

#: A form's builder: (namespace, n, seed) -> (f, x).
FormBuilder = Callable[["Namespace", int, int], tuple[Callable[[Any], Any], Any]]


@dataclass(frozen=True)
class Namespace:
    """The few array functions the forms use, from one library (NumPy's names and meanings).

    ``asarray`` turns NumPy data into the library's float64 arrays; ``logsumexp`` is the
    library's own stable one where it has it.
    """

    name: str
    asarray: Callable[[Any], Any]
    sum: Callable[[Any], Any]
    mean: Callable[[Any], Any]
    tanh: Callable[[Any], Any]
    reshape: Callable[[Any, tuple[int, ...]], Any]
    logsumexp: Callable[[Any], Any]


def ours() -> Namespace:
    """Our engines' namespace: ``modes.ops`` over NumPy data."""
    from modes import ops

    return Namespace(
        "modes", lambda a: np.asarray(a, dtype=float), ops.sum, ops.mean, ops.tanh, ops.reshape, ops.logsumexp
    )


@dataclass(frozen=True)
class Form:
    """A catalogue problem's peer form: its ``build`` and whether ``x`` is a list of scalars."""

    problem: str
    build: FormBuilder
    scalar_list: bool = False


# ------------------------------------------------------------------------------ the forms


def _article(xp: Namespace, n: int, seed: int) -> tuple[Callable[[Any], Any], Any]:
    return cat.article, [-1.0, 3.0, 4.0]


def _rosenbrock(xp: Namespace, n: int, seed: int) -> tuple[Callable[[Any], Any], Any]:
    return cat.rosenbrock, [float(v) for v in cat._rosenbrock_point(n, seed)]


def rosenbrock_array(xp: Namespace) -> Callable[[Any], Any]:
    """Rosenbrock's function with array operations, in ``xp``."""

    def f(x: Any) -> Any:
        a, b = x[:-1], x[1:]
        return xp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)

    return f


def _rosenbrock_array(xp: Namespace, n: int, seed: int) -> tuple[Callable[[Any], Any], Any]:
    return rosenbrock_array(xp), cat._rosenbrock_point(n, seed)


def _mlp(xp: Namespace, n: int, seed: int) -> tuple[Callable[[Any], Any], Any]:
    # the catalogue's draws, in the catalogue's order (tests compare the two at several n)
    d, batch = cat.MLP_FEATURES, cat.MLP_BATCH
    h = cat.mlp_hidden(n, d)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, d))
    y = np.sin(X.sum(axis=1))
    params = np.concatenate(
        [
            rng.normal(size=h * d) / math.sqrt(d),
            rng.normal(size=h) * 0.1,
            rng.normal(size=h) / math.sqrt(h),
            rng.normal(size=1) * 0.1,
        ]
    )
    Xa, ya = xp.asarray(X), xp.asarray(y)

    def loss(p: Any) -> Any:
        """Mean squared error of a one-hidden-layer tanh network on a fixed batch."""
        W1 = xp.reshape(p[0 : d * h], (d, h))
        b1, w2, b2 = p[d * h : d * h + h], p[d * h + h : d * h + 2 * h], p[-1]
        r = xp.tanh(Xa @ W1 + b1) @ w2 + b2 - ya
        return xp.sum(r * r) / batch

    return loss, params


def _logsumexp(xp: Namespace, n: int, seed: int) -> tuple[Callable[[Any], Any], Any]:
    x = np.random.default_rng(seed).normal(size=n)
    return (lambda v: xp.logsumexp(v)), x


def _tall(xp: Namespace, n: int, seed: int) -> tuple[Callable[[Any], Any], Any]:
    m = cat.TALL_RATIO * n
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n)) / math.sqrt(n)
    b = rng.normal(size=m)
    x = rng.normal(size=n)
    Aa, ba = xp.asarray(A), xp.asarray(b)
    return (lambda v: xp.tanh(Aa @ v + ba)), x


FORMS: dict[str, Form] = {
    f.problem: f
    for f in (
        Form("article", _article, scalar_list=True),
        Form("rosenbrock", _rosenbrock, scalar_list=True),
        Form("rosenbrock-array", _rosenbrock_array),
        Form("mlp", _mlp),
        Form("logsumexp", _logsumexp),
        Form("tall", _tall),
    )
}
#: Why a catalogue problem has no peer form.
NO_FORM: dict[str, str] = {
    "gmm": "ADBench's GMM objective is written against modes.ops in experiments/adbench.py only",
}


def form_for(problem: str) -> Form | None:
    """The peer form of a catalogue problem, or None (see :data:`NO_FORM` for why)."""
    return FORMS.get(problem)


def no_form_reason(problem: str) -> str:
    """Why ``problem`` has no peer form (user problems: we only know them through modes.ops)."""
    if problem in NO_FORM:
        return NO_FORM[problem]
    return "it is not in the catalogue (a user problem is written against modes.ops only)"
