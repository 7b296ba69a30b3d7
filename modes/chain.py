"""How a local partial meets a tangent (forward) or an adjoint (reverse): one product, one convention.

Both engines multiply local partials from the rule table into what flows through the graph with
:func:`scale`. Its one convention is the *strong zero*: ``0 * nan = 0 * inf = 0``. A direction
that does not touch an input (zero tangent) or a node that does not reach the output (zero
adjoint) contributes exactly nothing, even where the local partial is nan or inf. Without it,
``log(x0) + sqrt(x1)`` at ``(-1, -1)`` gives ``(-1, nan)`` in reverse mode but ``(nan, nan)`` in
forward mode (the zero tangent of ``x1`` meets ``sqrt'(-1) = nan``); with it both modes and every
chunk size agree entry by entry (ForwardDiff.jl's "NaN-safe mode" makes the same choice).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modes.core import Traced, primal, shape_of
from modes.rules import reshape, where


def expand_partial(d: Any, cdim: int) -> Any:
    """Give an array-valued partial a trailing axis so it broadcasts over forward mode's chunk."""
    if cdim == 0 or type(d) is float:
        return d
    if isinstance(d, Traced):
        s = d.shape  # type: ignore[attr-defined]
        return reshape(d, shape=s + (1,)) if s else d
    if type(d) is np.ndarray and d.ndim:
        return d[..., None]
    return d


def scale(d: Any, g: Any) -> Any:
    """``d * g`` with the strong-zero convention (see the module docstring)."""
    if type(d) is float:
        if d == 1.0:
            return g
        if type(g) is float:
            r = d * g
            if r != r and (d == 0.0 or g == 0.0):
                return 0.0
            return r
        if d - d == 0.0 and type(g) is np.ndarray:
            # a finite float partial: only d == 0 can meet a nan or inf in g and need the zero
            return d * g if d != 0.0 else np.zeros(g.shape)
    r = d * g
    raw = primal(r)
    if type(raw) is float:
        if raw == raw:
            return r
    elif not np.isnan(np.sum(raw)):
        return r
    pd, pg = primal(d), primal(g)
    zero = np.logical_or(np.equal(pd, 0.0), np.equal(pg, 0.0))
    if not np.any(zero):
        return r
    if shape_of(zero) != shape_of(r):
        zero = np.broadcast_to(zero, shape_of(r))
    return where(zero, 0.0, r)
