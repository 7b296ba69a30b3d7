"""What a cell times: for each mode, the zero-argument callable and the units of work it does.

Only the public API of :mod:`modes` is used, so a user's function is timed exactly as ours are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import modes
from experiments.problems import GRADIENT, Instance
from experiments.results import FORWARD, FORWARD_CHUNKED, FORWARD_MODES, FUNCTION, REVERSE


def chunk_for(mode: str, n: int, chunk: int | None, elements: int = 1) -> int | None:
    """Forward directions per pass for ``mode`` at ``n`` (None for reverse and the function).

    ``elements`` is the size of one input value (:func:`input_elements`): the engine's default
    chunk depends on it, and the cell must report the chunk the engine really uses.
    """
    if mode == FORWARD:
        return 1
    if mode == FORWARD_CHUNKED:
        return modes.choose_chunk(n, chunk, elements=elements)
    return None


def input_elements(x: Any) -> int:
    """Entries of one input value: all of an array's (one engine array), 1 for a list of floats."""
    return int(np.size(x)) if isinstance(x, np.ndarray) else 1


def kernel(inst: Instance, mode: str, chunk: int | None) -> Callable[[], Any]:
    """The zero-argument callable timed for ``mode``: f itself, or its gradient/Jacobian."""
    f, x = inst.f, inst.x
    if mode == FUNCTION:
        return lambda: f(x)
    diff = modes.grad if inst.kind == GRADIENT else modes.jacobian
    if mode == REVERSE:
        return lambda: diff(f, x, mode="reverse")
    c = chunk_for(mode, inst.n, chunk, input_elements(x))
    return lambda: diff(f, x, mode="forward", chunk=c)


def work(mode: str, n: int, m: int, kind: str, chunk: int | None) -> int:
    """Units of work a call does: forward passes, reverse sweeps (Jacobians), else 1."""
    if mode in FORWARD_MODES:
        return math.ceil(n / (chunk_for(mode, n, chunk) or 1))
    return m if mode == REVERSE and kind != GRADIENT else 1
