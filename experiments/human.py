"""Numbers as people read them, shared by the terminal table, the closing sentences, the report
and the figures: durations, sizes, ratios, counts and agreement."""

from __future__ import annotations

import math
from typing import Any


def human_bytes(b: float | None) -> str:
    """``1536`` -> ``1.5 KiB``; None -> ``-``."""
    if b is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024:
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} TiB"


def human_seconds(s: float | None) -> str:
    """A duration in the unit that reads best (``2.3 ms``, ``41 s``, ``3.2 h``); None -> ``-``."""
    if s is None:
        return "-"
    if s < 1e-6:
        return f"{s * 1e9:.3g} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h"


def times(x: float | None) -> str:
    """A ratio for the terminal: ``212x`` / ``3.4x`` / ``0.52x``; None or not finite -> ``-``."""
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.0f}x" if x >= 100 else f"{x:.3g}x"


def times_md(v: float | None) -> str:
    """A ratio for the report: ``1,212×``, ``3.4×``, ``0.52×``; None or not finite -> ``-``."""
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:,.0f}×" if v >= 100 else f"{v:.3g}×"


def count(v: int | None) -> str:
    """``12,345``; None -> ``-``."""
    return "-" if v is None else f"{v:,}"


def plural(k: int | None, one: str, many: str | None = None) -> str:
    """``1 pass``, ``3 passes`` (``many`` defaults to ``one`` + s)."""
    return f"{k} {one if k == 1 else (many or one + 's')}"


def agreement(c: dict[str, Any]) -> str:
    """A cell's agreement with the other modes (``yes 1e-16``, ``NO 3e-02``), else with the
    closed-form reference (``ref 2e-16``), else ``-``."""
    d = c.get("max_rel_diff")
    if d is None:
        r = c.get("ref_rel_diff")
        return "-" if r is None else f"ref {r:.0e}"
    return f"{'yes' if c.get('agrees') else 'NO'} {d:.0e}"
