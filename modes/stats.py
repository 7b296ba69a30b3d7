"""Operation and memory accounting for gradient and Jacobian computations.

Wrap any computation in ``with modes.counting() as stats:`` and read what each mode did: passes,
primitive evaluations, tangent or adjoint updates, tape length and tape bytes. Counting never
changes a result, and costs nothing per operation. Peak bytes are measured only when asked for,
``counting(memory=True)``, with ``tracemalloc``, which slows the computation several-fold and
unevenly (the mode that allocates more is slowed more): counts are for counting; time a
computation outside the block, as the experiment runner does (its memory run is separate).

A counting block sees the differentiations of its own thread (and asyncio task) only: the open
blocks live in a ``contextvars.ContextVar``, so two threads counting at once each see their own
calls. A gradient pays one lookup of that variable, never anything per operation. ``tracemalloc``
is process-wide: it stays on while any block that asked for memory is open (in any thread), and
a block's ``peak_bytes`` then includes what other threads allocated meanwhile.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

#: The open counting blocks of the current thread / asyncio task, innermost last.
_active: ContextVar[tuple[Stats, ...]] = ContextVar("modes_counting", default=())
#: Blocks (in any thread) that need tracemalloc, and whether one of them started it.
_memory_lock = threading.Lock()
_memory_users = 0
_memory_started = False


@dataclass
class Stats:
    """What the differentiations inside one ``counting()`` block did, summed.

    * ``passes``: forward passes through f (forward mode: ``ceil(n / chunk)``; reverse: 1);
    * ``ops``: primitive evaluations in those passes (the forward sweeps);
    * ``tangent_updates``: local-partial x tangent products, counted per direction;
    * ``adjoint_updates``: local-partial x adjoint products in the backward sweeps;
    * ``sweeps``: backward sweeps (one per Jacobian row in reverse mode);
    * ``tape_length``: entries on the tape (inputs included), ``tape_bytes`` their estimated size;
    * ``peak_bytes``: peak memory allocated during the computation (tracemalloc; only with
      ``counting(memory=True)``, else 0);
    * ``step_evaluations``: steps of ``modes.loop`` and calls of ``modes.checkpoint`` functions
      evaluated, the first forward pass included; ``recomputed_steps``: those evaluated again
      during backward sweeps (revolve's count); ``recomputed_ops``: primitive evaluations recorded
      while recomputing (``modes/checkpoint.py``).
    Counts are per graph node, not per array element.
    """

    calls: int = 0
    passes: int = 0
    ops: int = 0
    tangent_updates: int = 0
    adjoint_updates: int = 0
    sweeps: int = 0
    tape_length: int = 0
    tape_bytes: int = 0
    peak_bytes: int = 0
    modes: list[str] = field(default_factory=list)
    step_evaluations: int = 0
    recomputed_steps: int = 0
    recomputed_ops: int = 0
    memory: bool = False  # peak_bytes was traced (counting(memory=True)); else it is 0, not measured

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _repr_html_(self) -> str:
        """Jupyter: the counts as a table (see :mod:`modes.notebook`)."""
        from modes import notebook

        return notebook.stats_html(self)


@contextmanager
def counting(memory: bool = False) -> Iterator[Stats]:
    """Count what every gradient/Jacobian computation inside the block does; with ``memory=True``
    also trace allocations for ``peak_bytes`` (tracemalloc: do not time inside such a block)."""
    global _memory_users, _memory_started
    stats = Stats(memory=memory)
    if memory:
        with _memory_lock:
            if _memory_users == 0 and not tracemalloc.is_tracing():
                tracemalloc.start()
                _memory_started = True
            _memory_users += 1
    token = _active.set((*_active.get(), stats))
    try:
        yield stats
    finally:
        _active.reset(token)
        if memory:
            with _memory_lock:
                _memory_users -= 1
                if _memory_users == 0 and _memory_started:
                    tracemalloc.stop()
                    _memory_started = False


def active() -> Stats | None:
    """The innermost counting block of this thread / task, if any (engines' drivers report into it)."""
    blocks = _active.get()
    return blocks[-1] if blocks else None


def begin() -> int:
    """Reset the allocation peak before a counted computation; returns the baseline."""
    if not tracemalloc.is_tracing():
        return -1
    tracemalloc.reset_peak()
    return tracemalloc.get_traced_memory()[0]


def end(stats: Stats, baseline: int, mode: str, counts: dict[str, int], tape: Any = None) -> None:
    """Add one computation's counts (and its peak bytes above ``baseline``) to ``stats``."""
    if baseline >= 0:
        stats.peak_bytes = max(stats.peak_bytes, tracemalloc.get_traced_memory()[1] - baseline)
    stats.calls += 1
    stats.passes += counts.get("passes", 0)
    stats.ops += counts.get("ops", 0)
    if mode == "forward":
        stats.tangent_updates += counts.get("updates", 0)
    else:
        stats.adjoint_updates += counts.get("updates", 0)
        stats.sweeps += counts.get("sweeps", 0)
        stats.tape_length = max(stats.tape_length, counts.get("tape_length", 0))
        if tape is not None:
            stats.tape_bytes = max(stats.tape_bytes, tape.nbytes())
    stats.modes.append(mode)


def counted(mode: str, driver: Callable[..., tuple], *args: Any) -> tuple[Any, Any]:
    """Run an engine driver ``(value, result, counts[, tape])``; inside a counting block add what
    it did to that block. Returns ``(value, result)``. Outside ``counting()`` this costs one lookup.

    ``counts`` is a dict, or a function returning one (called only here, so nothing is counted
    when nobody asks)."""
    blocks = _active.get()
    if not blocks:
        return driver(*args)[:2]
    collector = blocks[-1]
    baseline = begin()
    value, result, counts, *tape = driver(*args)
    end(collector, baseline, mode, counts() if callable(counts) else counts, tape[0] if tape else None)
    return value, result
