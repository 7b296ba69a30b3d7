"""The public differentiation API: grad, value_and_grad, jacobian, jvp, vjp.

``mode="forward"`` runs dual numbers (``modes/forward.py``) in ``ceil(n / chunk)`` passes;
``mode="reverse"`` records a tape and sweeps it backwards (``modes/reverse.py``). Both read the
same rule table and give the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from modes import forward, reverse, stats
from modes.chunking import choose_chunk
from modes.inputs import Inputs, parse_direction, parse_inputs, require_scalar

MODES = ("forward", "reverse")


def _check_mode(mode: str, chunk: int | None, rows: bool = False) -> None:
    """Validate ``mode`` and ``chunk``; ``rows``: reverse mode may chunk (a Jacobian's rows)."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'forward' or 'reverse', got {mode!r}")
    if chunk is not None:
        if mode != "forward" and not rows:
            raise ValueError(
                "chunk applies to mode='forward' (directions per pass) and to "
                "modes.jacobian(..., mode='reverse') (cotangents per sweep) only"
            )
        choose_chunk(1, chunk)


def _check_callable(f: Any) -> None:
    if not callable(f):
        raise TypeError(f"argument 'f' must be callable, got {type(f).__name__}")


def _jacobian(f: Callable[[Any], Any], inputs: Inputs, mode: str, chunk: int | None) -> tuple[Any, Any]:
    if mode == "forward":
        return stats.counted(mode, forward.jacobian, f, inputs, chunk)
    return stats.counted(mode, reverse.jacobian, f, inputs, chunk)


def value_and_grad(
    f: Callable[[Any], Any], x: Any, *, mode: str = "reverse", chunk: int | None = None
) -> tuple[Any, Any]:
    """``(f(x), gradient)`` of a scalar-valued ``f``; the gradient is shaped like ``x``."""
    _check_callable(f)
    if mode == "reverse" and chunk is None:  # the default: nothing else to check
        return stats.counted(mode, reverse.value_and_grad, f, parse_inputs(x))
    _check_mode(mode, chunk)
    inputs = parse_inputs(x)
    if mode == "reverse":
        return stats.counted(mode, reverse.value_and_grad, f, inputs)
    value, J = _jacobian(f, inputs, mode, chunk)
    require_scalar(value)
    return value, J


def grad(f: Callable[[Any], Any], x: Any, *, mode: str = "reverse", chunk: int | None = None) -> Any:
    """Gradient of a scalar-valued ``f`` at ``x``, shaped like ``x``.

    ``x`` may be a float (the gradient is a float), a list or tuple of floats (``f`` receives a
    list of engine scalars, the gradient is a 1-D array) or a NumPy array (``f`` receives one
    engine array). ``chunk`` is forward mode's directions per pass (default: :func:`modes.choose_chunk`).
    """
    if mode == "reverse" and chunk is None and callable(f):  # the default: one frame less
        return stats.counted(mode, reverse.value_and_grad, f, parse_inputs(x))[1]
    return value_and_grad(f, x, mode=mode, chunk=chunk)[1]


def jacobian(f: Callable[[Any], Any], x: Any, *, mode: str = "reverse", chunk: int | None = None) -> Any:
    """Jacobian of ``f`` at ``x`` as an array of shape ``f(x).shape + x.shape``.

    Forward mode builds it by columns (``ceil(n / chunk)`` passes), reverse mode by rows: one
    recording and one backward sweep per output entry, or with ``chunk=c`` ``ceil(m / c)`` sweeps
    each carrying ``c`` cotangents (vector mode). Forward's default chunk follows
    :func:`choose_chunk`.
    """
    _check_callable(f)
    _check_mode(mode, chunk, rows=True)
    return _jacobian(f, parse_inputs(x), mode, chunk)[1]


def _direction(v: Any, inputs: Inputs, name: str) -> Any:
    d = parse_direction(v, inputs.shape, name)
    if inputs.kind == "list":
        return list(d) if not isinstance(d, np.ndarray) else [float(e) for e in d]
    return d


def jvp(f: Callable[[Any], Any], x: Any, v: Any) -> tuple[Any, Any]:
    """``(f(x), J v)``: the derivative of ``f`` at ``x`` in direction ``v``, by one forward pass."""
    _check_callable(f)
    inputs = parse_inputs(x)
    direction = _direction(v, inputs, "v")
    return stats.counted("forward", forward.jvp, f, inputs, direction)


def vjp(f: Callable[[Any], Any], x: Any, u: Any) -> tuple[Any, Any]:
    """``(f(x), u^T J)``, shaped like ``x``: one recording and one backward sweep."""
    _check_callable(f)
    inputs = parse_inputs(x)
    if u is None:
        raise TypeError("argument 'u' must be numeric, got NoneType")
    return stats.counted("reverse", reverse.vjp, f, inputs, u)
