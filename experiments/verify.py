"""Checking what a run computed: forward against reverse mode, each against the closed-form
reference, a peer's derivatives against our reverse mode (:func:`check_peers`), and an exception
described at the line of the user's code that raised it."""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import modes
from experiments.results import (
    FORWARD,
    FORWARD_CHUNKED,
    FUNCTION,
    REVERSE,
    REVERSE_CHUNKED,
    REVERSE_REPLAY,
    Cell,
)

_MODES_DIR = str(Path(modes.__file__).resolve().parent)
_SELF_DIR = str(Path(__file__).resolve().parent)
#: The order in which results are compared: the first present is the base the others must match.
_CHECK_ORDER = (REVERSE, REVERSE_CHUNKED, REVERSE_REPLAY, FORWARD_CHUNKED, FORWARD)


def rel_diff(a: Any, b: Any) -> float:
    """max |a - b| / max |b| over finite entries; inf if shapes or NaN positions differ."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or (np.isnan(a) != np.isnan(b)).any():
        return math.inf
    mask = ~np.isnan(a)
    if not mask.any():
        return 0.0
    with np.errstate(invalid="ignore"):
        d = np.where(a == b, 0.0, np.abs(a - b))[mask]
    diff = float(d.max())
    scale = float(np.abs(b[mask & np.isfinite(b)]).max()) if (mask & np.isfinite(b)).any() else 0.0
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 and math.isfinite(diff) else math.inf


def describe_error(e: BaseException) -> str:
    """``Type: message (file:line)``, pointing at the innermost frame outside this toolkit's engines."""
    frames = [
        f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith((_MODES_DIR, _SELF_DIR))
    ]
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(e).__name__}: {e}{where}"


def check(
    cells: dict[str, Cell],
    results: dict[str, Any],
    reference: Any,
    tolerance: float,
    narrate: Callable[[str], None],
) -> None:
    """Forward against reverse (or the other forward), and each against the reference: fill each
    cell's ``max_rel_diff``/``agrees``/``ref_rel_diff``; a cell that disagrees becomes an error."""
    ad = [k for k in _CHECK_ORDER if k in results and cells[k].status == "ok"]
    if len(ad) >= 2:
        base = ad[0]
        diffs = {k: rel_diff(results[k], results[base]) for k in ad[1:]}
        for k, d in diffs.items():
            cells[k].max_rel_diff, cells[k].agrees = d, d <= tolerance
        worst = max(diffs.values())
        cells[base].max_rel_diff, cells[base].agrees = worst, worst <= tolerance
        for k, d in diffs.items():
            if d > tolerance:
                why = f"{k} and {base} disagree: max relative difference {d:.3g} > tolerance {tolerance:g}"
                cells[k].fail(why)
                cells[base].add_note(f"disagrees with {k}")
                narrate(f"n = {cells[k].n}: error: {why}")
    if reference is not None:
        for k in ad:
            d = rel_diff(results[k], reference)
            cells[k].ref_rel_diff = d
            if d > tolerance and cells[k].status == "ok":
                cells[k].fail(
                    f"differs from the closed-form reference by {d:.3g} (relative) > tolerance {tolerance:g}"
                )


def check_peers(
    cells: dict[str, Cell],
    results: dict[str, Any],
    ours: dict[str, Cell],
    our_results: dict[str, Any],
    reference: Any,
    tolerance: float,
    narrate: Callable[[str], None],
) -> None:
    """Each peer cell's result against ours (run :func:`check` on ours first): a derivative against
    our reverse mode, or the closed-form reference where our reverse mode has no trusted result; a
    ``function`` value against our f. Fills ``max_rel_diff``/``agrees``; a peer that disagrees
    becomes an error, and one with nothing to be checked against is skipped (its time would be
    unverified), saying so."""

    def trusted(mode: str) -> Any:
        c = ours.get(mode)
        return our_results.get(mode) if c is not None and c.status == "ok" else None

    derivative, value = trusted(REVERSE), trusted(FUNCTION)
    what = "our reverse mode"
    if derivative is None and reference is not None:
        derivative, what = reference, "the closed-form reference (our reverse mode has no result here)"
    for k, got in results.items():
        c = cells[k]
        if got is None or c.status != "ok":
            continue
        is_value = c.mode.startswith(FUNCTION)
        against, name = (value, "our f") if is_value else (derivative, what)
        if against is None:
            ours_name = "our f" if is_value else "our reverse mode"
            c.skip(f"not checked, so not timed: {ours_name} has no result at this n")
            continue
        d = c.max_rel_diff = rel_diff(got, against)
        c.agrees = d <= tolerance
        if not c.agrees:
            c.fail(
                f"{c.library} {c.mode} disagrees with {name}: max relative difference {d:.3g} "
                f"> tolerance {tolerance:g}"
            )
            narrate(f"n = {c.n}: error: {c.reason}")
