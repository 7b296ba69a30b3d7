"""What every peer adapter provides: timed kernels in our mode names, float64, threads pinned.

A peer's modes use our names so one column compares like with like:

* ``function``: f alone, in the peer's arrays;
* ``reverse``: the peer's reverse mode (a gradient, or a Jacobian by its own reverse routine);
* ``forward``: n JVP passes, one input direction each (what forward mode costs without batching);
* ``forward-chunked``: the peer's one-pass batched form (``jacfwd``: all n directions at once);
* ``-jit``: the same, compiled (JAX); compile time is measured apart (:attr:`Prepared.compile_s`).

A kernel returns the derivative in the peer's own arrays (JAX kernels block until it is ready, so
the time is the computation's, not the dispatch's); :attr:`Prepared.to_numpy` converts it outside
the timed region for the agreement check.
"""

from __future__ import annotations

import gc
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from experiments.environment import package_version
from experiments.peers.forms import Form, Namespace
from experiments.problems import GRADIENT
from experiments.results import FUNCTION, JIT
from experiments.timing import time_limit

#: The pip extra that installs every peer.
EXTRA = "compare-modes[peers]"


class PeerError(Exception):
    """A peer that cannot be used as asked (unknown, not installed, no form for the problem)."""


@dataclass
class Prepared:
    """One timed kernel of a peer: ``fn()`` computes, ``to_numpy(fn())`` is the float64 result
    shaped like ours (gradient: like x; Jacobian: (m, n)); ``compile_s`` is a jit's one-off
    trace-and-compile time (None when nothing is compiled)."""

    fn: Callable[[], Any]
    to_numpy: Callable[[Any], np.ndarray]
    chunk: int | None = None
    passes: int | None = None
    compile_s: float | None = None


def compiled(make: Callable[[], Any], limit: float | None) -> tuple[Any, float]:
    """``make()`` (a trace and compile), and the seconds it took, interrupted at ``limit``."""
    with time_limit(limit):
        start = time.perf_counter()
        out = make()
        return out, time.perf_counter() - start


def settle() -> None:
    """Collect, then move every surviving object out of the cyclic collector's sight (``gc.freeze``).

    Why: JAX and PyTorch hold a few hundred thousand long-lived objects (modules, caches filled by
    the first calls), and ``gc.collect()``, which runs before every timed sample (outside the timed
    region), walked them all: 0.3-0.5 s a sample here, and as slow for every later collection in the
    process. Frozen objects are still freed by reference counting; only cycles among them stay.
    """
    gc.collect()
    gc.freeze()


def stack_columns(columns: list[Any], kind: str) -> np.ndarray:
    """n JVP results (one per input direction) as our gradient (n,) or Jacobian (m, n)."""
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    if kind == GRADIENT:
        return np.array([float(c) for c in cols])
    return np.stack(cols, axis=-1)


class Peer:
    """An AD library timed beside our engines. Subclasses fill in :meth:`setup`, :meth:`namespace`
    and :meth:`prepare`; the library is imported only when the peer is used."""

    name: str = ""
    module: str = ""  # what is imported
    dist: str = ""  # the distribution whose version is reported
    install: str = ""  # the pip requirement that installs it on its own
    modes: tuple[str, ...] = ()

    def installed(self) -> bool:
        """Whether the library can be imported (without importing it)."""
        return importlib.util.find_spec(self.module) is not None

    def version(self) -> str | None:
        return package_version(self.dist)

    def missing_message(self) -> str:
        return (
            f"peer '{self.name}' is not installed: pip install \"{EXTRA}\" installs every peer "
            f"(or pip install {self.install})"
        )

    def setup(self) -> None:
        """Import the library and fix float64 and one thread (idempotent)."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """The precision and thread settings in force, for the environment block."""
        return {}

    def namespace(self) -> Namespace:
        raise NotImplementedError

    def prepare(
        self, form: Form, f: Callable[[Any], Any], x: Any, kind: str, mode: str, limit: float | None = None
    ) -> Prepared:
        """The kernel of ``mode`` for ``f`` (built in :meth:`namespace`) at ``x`` (NumPy data)."""
        raise NotImplementedError

    def all_modes(self) -> tuple[str, ...]:
        """``function`` and the peer's modes, with ``function-jit`` where it compiles."""
        jit = (FUNCTION + JIT,) if any(m.endswith(JIT) for m in self.modes) else ()
        return (FUNCTION, *self.modes, *jit)

    def check_mode(self, mode: str) -> None:
        if mode not in self.all_modes():
            raise PeerError(
                f"peer '{self.name}' has no mode '{mode}' (its modes: {', '.join(self.all_modes())})"
            )
