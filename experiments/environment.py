"""What a measurement ran on: machine, software, thread settings, source revision, command line.

BLAS threads are pinned for the run with ``threadpoolctl`` (:func:`pinned_threads`), which works
whenever NumPy was imported; the environment block records the thread pools as they were in force
during the run and the thread-related environment variables.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import modes

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[list[dict[str, Any]]]:
    """Limit BLAS/OpenMP thread pools to ``threads`` inside the block (``None``: leave them);
    yields the pools as they are in force (empty if threadpoolctl is not installed)."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        yield []
        return
    if threads is None:
        yield threadpool_info()
        return
    with threadpool_limits(limits=threads):
        yield threadpool_info()


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (MemAvailable), or None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _git(*args: str) -> str | None:
    root = Path(modes.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def source_revision() -> dict[str, Any] | None:
    """The git commit the toolkit runs from and whether its tracked files differ from it."""
    commit = _git("rev-parse", "HEAD")
    if not commit:
        return None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages now (None where the OS keeps none): how busy the
    machine was, which a timing on a shared machine must say."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def package_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def collect(argv: list[str], thread_pools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The environment block of ``results.json``."""
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "hostname": platform.node(),  # which machine, when runs from several are merged
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "memory_available_bytes": available_memory(),
        "load_average": load_average(),  # at the start; load_average_after is added at the end
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "modes": modes.__version__,
        "compare_modes": package_version("compare-modes") or modes.__version__,
        "threadpoolctl": package_version("threadpoolctl"),
        "thread_pools": [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version", "architecture")}
            for p in (thread_pools or [])
        ],
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
        "git": source_revision(),
        "executable": sys.executable,
        "command_line": shlex.join(["compare-modes", *argv]),
    }
