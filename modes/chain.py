"""How a local partial meets a tangent (forward) or an adjoint (reverse): one product, one convention.

Both engines multiply local partials from the rule table into what flows through the graph with
:func:`product`. The product follows IEEE arithmetic (``0 * inf = nan``, so an overflow shows up
as nan rather than as a plausible number) except at *structural* zeros, where it is exactly zero
(the *strong zero*):

* a tangent entry that no seeded direction reaches, and an adjoint entry that no path from the
  output sends (an input forward mode did not seed, the entries ``x[1:]`` does not read, a
  direction of a chunk or of vector-mode reverse that does not reach this value);
* a local partial of a primitive declared ``structural_zeros`` in the rule table, where a zero
  means the argument was not chosen (``where``'s other branch, ``relu`` below zero, the loser of
  ``maximum``) or has no influence at all (``floor``, ``sign``).

Zeros that are computed (``1 / inf``, ``x * 0`` with a value that happens to be zero, an adjoint
that a path sends as ``0.0``) follow IEEE. So ``log(x0) + sqrt(x1)`` at ``(-1, -1)`` gives
``(-1, nan)`` in both modes and every chunk size, ``where(x > 0, sqrt(x), 0)`` at ``x = -1`` has
derivative 0 (the branch not taken does not leak its nan), and ``log(sum(exp(z)))`` at
``z ~ 1000`` gives nan, not a finite wrong gradient.

Which zeros are structural is known exactly only by tracking it, which costs time on every
operation. The engines therefore track it only when it matters: a pass or sweep runs without
tracking (``reach=None``), and runs again with tracking on, each value then carrying a *reach*
mask (``True`` where a seeded direction or an output path arrives), when

* on floats, a nan meets a zero whose kind it cannot tell: :func:`product` raises
  :class:`Unresolved` at once (the test is one comparison);
* on arrays, its results hold a nan (:func:`has_nan`): array products follow IEEE during the pass
  or sweep (testing every product for nan cost as much as the product), except a structural
  primitive's. A nan made at a zero of unknown kind either reaches the results, or is cut by a
  structural zero or dropped by an operation that does not read it, which gives the tracked
  answer either way.

Results are the same either way; only passes that produce nan pay for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modes.core import Traced, primal, shape_of
from modes.rules import reshape, where


class Unresolved(BaseException):
    """Internal: a nan met a zero this pass does not know to be structural or computed.

    A ``BaseException`` so that a user function's ``except Exception`` cannot swallow it on its
    way to the engine, which then repeats the pass with reach tracking on. ``owner`` is the
    trace or tape whose product it was: only that one repeats its pass (in nested
    differentiation an outer pass's nan may surface while an inner one runs).
    """

    def __init__(self, owner: Any = None) -> None:
        super().__init__()
        self.owner = owner


def expand_partial(d: Any, cdim: int) -> Any:
    """Give an array-valued partial a trailing axis so it broadcasts over a chunk of directions."""
    if cdim == 0 or type(d) is float:
        return d
    if isinstance(d, Traced):
        s = d.shape  # type: ignore[attr-defined]
        return reshape(d, shape=s + (1,)) if s else d
    if type(d) is np.ndarray and d.ndim:
        return d[..., None]
    return d


def product(d: Any, g: Any, structural: bool = False, reach: Any = None, owner: Any = None) -> Any:
    """``d * g``, a local partial times a tangent or an adjoint, with the strong zero (module doc).

    ``structural``: the primitive declares its zero partials structural. ``reach``: where ``g``
    is reached: ``True`` (everywhere, e.g. a scalar adjoint that a path sent), a boolean array
    (tracked), or ``None`` (not known: a nan at a zero of ``g`` raises :class:`Unresolved` for
    ``owner``, the trace or tape computing the product).
    """
    r = d * g
    raw = primal(r)
    if type(raw) is float:
        if raw == raw:
            return r
    elif not np.isnan(np.add.reduce(raw, axis=None)):  # np.sum's own call, without its wrappers
        return r
    pd, pg = primal(d), primal(g)
    zero: Any = False
    if structural:
        zero = np.equal(pd, 0.0)
    if reach is None:
        if np.any(np.isnan(primal(raw)) & np.equal(pg, 0.0) & np.logical_not(zero)):
            raise Unresolved(owner)
    elif reach is not True:
        zero = np.logical_or(zero, np.logical_not(reach))
    if not np.any(zero):
        return r
    if type(raw) is float:
        return 0.0 if isinstance(zero, (bool, np.bool_)) or np.all(zero) else r
    if shape_of(zero) != shape_of(r):
        zero = np.broadcast_to(zero, shape_of(r))
    return where(zero, 0.0, r)


def has_nan(x: Any) -> bool:
    """Whether a tangent or adjoint (float, array or engine value) holds a nan.

    The engines multiply arrays by IEEE rules during a pass or sweep and ask this of its results
    only: a nan that a zero of unknown kind produced either reaches them, or is cut by a
    structural zero (0 either way) or dropped by an operation that does not read it. An inf
    beside a -inf may answer True too (their sum): a harmless repeat with tracking.
    """
    if type(x) is not float and type(x) is not np.ndarray:
        x = primal(x)
    if type(x) is float:
        return x != x
    return bool(np.isnan(np.add.reduce(x, axis=None)))


def reach_through(d: Any, reach: Any, structural: bool) -> Any:
    """Where ``d * g`` is reached, given where ``g`` is: a structural zero of ``d`` stops it."""
    if not structural:
        return reach
    nz = np.not_equal(primal(d), 0.0)
    return np.logical_and(reach, nz) if reach is not True else nz


def any_reached(reach: Any) -> bool:
    """Whether a reach mask reaches anything."""
    return reach is True or bool(np.any(reach))


def merge_reach(a: Any, b: Any) -> Any:
    """Reached by either (``None``: not reached at all)."""
    if a is None:
        return b
    if b is None or a is True:
        return a
    if b is True:
        return b
    return np.logical_or(a, b)


def reduce_reach(reach: Any, shape: tuple[int, ...]) -> Any:
    """A reach mask summed down to ``shape`` (the transpose of broadcasting): reached if any is."""
    if reach is True or type(reach) is bool:
        return reach
    s = shape_of(reach)
    if s == shape:
        return reach
    lead = len(s) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, (a, b) in enumerate(zip(s[lead:], shape)) if b == 1 and a != 1
    )
    return np.any(reach, axis=axes, keepdims=False).reshape(shape) if axes else reach


def full_reach(reach: Any, shape: tuple[int, ...]) -> Any:
    """A reach mask as an array of ``shape`` (a broadcast view where it can be)."""
    if reach is True:
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(reach, shape)
