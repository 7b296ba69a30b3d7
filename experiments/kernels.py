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
from experiments.results import (
    FORWARD,
    FORWARD_CHUNKED,
    FORWARD_MODES,
    FUNCTION,
    REVERSE,
    REVERSE_CHUNKED,
    REVERSE_REPLAY,
)

#: reverse-replay records f at x moved by this much (relative, plus the same absolute), so every
#: timed gradient is a replay at a point other than the recorded one
REPLAY_SHIFT = 1e-3


def chunk_for(mode: str, n: int, chunk: int | None, elements: int = 1, m: int = 1) -> int | None:
    """Forward directions per pass for ``mode`` at ``n``, or reverse-chunked's cotangent
    directions per sweep with ``m`` outputs (None for plain reverse and the function).

    ``elements`` is the size of one input value (:func:`input_elements`): the engine's default
    chunk depends on it, and the cell must report the chunk the engine really uses. Reverse mode
    groups a Jacobian's m rows by the same rule (:func:`modes.choose_chunk`) as forward mode its
    n columns; a chunk given for the run applies to both chunked modes (clamped to m or n).
    """
    if mode == FORWARD:
        return 1
    if mode == FORWARD_CHUNKED:
        return modes.choose_chunk(n, chunk, elements=elements)
    if mode == REVERSE_CHUNKED:
        return modes.choose_chunk(m, chunk, elements=elements)
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
    if mode == REVERSE_REPLAY:
        return Replay(inst)
    if mode == REVERSE_CHUNKED:
        if inst.kind == GRADIENT:  # one output: a single sweep, as in plain reverse mode
            return lambda: diff(f, x, mode="reverse")
        rows = chunk_for(mode, inst.n, chunk, input_elements(x), inst.m)
        return lambda: diff(f, x, mode="reverse", chunk=rows)
    c = chunk_for(mode, inst.n, chunk, input_elements(x))
    return lambda: diff(f, x, mode="forward", chunk=c)


class Replay:
    """reverse-replay's callable: ``f`` compiled once at a point near ``x`` (``modes.compile``), then
    each call replays that recording at ``x`` for the gradient (Jacobian: one sweep per output).

    ``compile_seconds`` is the one-off cost, reported apart from the per-call time. A compile that
    fails, or a replay refused because a branch of ``f`` differs at ``x`` (``BranchChangedError``),
    raises when called, so the runner marks the cell failed with the message.
    """

    def __init__(self, inst: Instance) -> None:
        self.x = inst.x
        self.compile_seconds: float | None = None
        self.error: Exception | None = None
        try:
            self.compiled = modes.compile(inst.f, recording_point(inst.x))
            self.compile_seconds = self.compiled.compile_seconds
        except Exception as e:  # reported by the first call, like any failure of a mode
            self.error = e
        self.jacobian = inst.kind != GRADIENT

    def __call__(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.compiled.jacobian(self.x) if self.jacobian else self.compiled.grad(self.x)


def recording_point(x: Any) -> Any:
    """``x`` moved by :data:`REPLAY_SHIFT` (relative and absolute), of the same type and shape."""
    if isinstance(x, list):
        return [v + REPLAY_SHIFT * (1.0 + abs(v)) for v in x]
    if isinstance(x, np.ndarray):
        return x + REPLAY_SHIFT * (1.0 + np.abs(x))
    return float(x) + REPLAY_SHIFT * (1.0 + abs(float(x)))


def work(mode: str, n: int, m: int, kind: str, chunk: int | None, elements: int = 1) -> int:
    """Units of work a call does: forward passes, reverse sweeps (Jacobians), else 1."""
    if mode in FORWARD_MODES:
        return math.ceil(n / (chunk_for(mode, n, chunk, elements) or 1))
    if kind == GRADIENT:
        return 1
    if mode == REVERSE_CHUNKED:
        return math.ceil(m / (chunk_for(mode, n, chunk, elements, m) or 1))
    return m if mode in (REVERSE, REVERSE_REPLAY) else 1
