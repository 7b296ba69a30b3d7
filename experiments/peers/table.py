"""The per-library table: "reverse grad / f and forward/reverse speedup per library", per n.

One line per library (JAX's compiled modes on a line of their own, ``jax-jit``), from one run's
rows: medians of interleaved samples, and ratios of medians taken in the same run. Under each n,
a sentence ranks the reverse gradients (fastest first) and says where our engines stand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from experiments.human import human_seconds
from experiments.peers.base import JIT
from experiments.peers.run import OURS, Row
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, REVERSE

HEADER = (
    "library",
    "f",
    "reverse",
    "rev/f",
    "forward",
    "fwd/rev",
    "fwd-chunked",
    "chunked/rev",
    "rev vs ours",
    "max rel diff",
    "compile (rev)",
)


def lines_of(rows: list[Row]) -> list[tuple[str, str]]:
    """The table's lines as (library, suffix): each library, and ``-jit`` for those with jit modes."""
    out: list[tuple[str, str]] = []
    for r in rows:
        suffix = JIT if r.mode.endswith(JIT) else ""
        if (r.library, suffix) not in out:
            out.append((r.library, suffix))
    return out


def _median(rows: dict[tuple[str, str], Row], library: str, mode: str) -> float | None:
    r = rows.get((library, mode))
    return r.time_median_s if r is not None and r.status == "ok" else None


def _cell(rows: dict[tuple[str, str], Row], library: str, mode: str) -> str:
    r = rows.get((library, mode))
    if r is None:
        return "n/a"
    if r.status == "ok" and r.time_median_s is not None:
        return human_seconds(r.time_median_s)
    return {"skipped": "skipped", "error": "ERROR", "interrupted": "interrupted"}.get(r.status, r.status)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.3g}" if a is not None and b else "-"


def per_library(rows: list[Row], versions: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """One record per (n, library line): the medians and ratios the table prints."""
    versions = versions or {}
    out = []
    for n in sorted({r.n for r in rows}):
        at = {r.key: r for r in rows if r.n == n}
        ours_rev = _median(at, OURS, REVERSE)
        for library, sfx in lines_of([r for r in rows if r.n == n]):
            f, rev = _median(at, library, FUNCTION + sfx), _median(at, library, REVERSE + sfx)
            fwd, chk = _median(at, library, FORWARD + sfx), _median(at, library, FORWARD_CHUNKED + sfx)
            mine = [r for r in at.values() if r.library == library and r.mode.endswith(JIT) == bool(sfx)]
            diffs = [
                r.max_rel_diff for r in mine if r.max_rel_diff is not None and not r.mode.startswith(FUNCTION)
            ]
            rev_row = at.get((library, REVERSE + sfx))
            out.append(
                {
                    "n": n,
                    "library": library + sfx,
                    "version": versions.get(library),
                    "cells": {
                        m: _cell(at, library, m + sfx) for m in (FUNCTION, REVERSE, FORWARD, FORWARD_CHUNKED)
                    },
                    "function_s": f,
                    "reverse_s": rev,
                    "forward_s": fwd,
                    "forward_chunked_s": chk,
                    "reverse_over_function": rev / f if rev is not None and f else None,
                    "forward_over_reverse": fwd / rev if fwd is not None and rev else None,
                    "chunked_over_reverse": chk / rev if chk is not None and rev else None,
                    "reverse_vs_ours": rev / ours_rev if rev is not None and ours_rev else None,
                    "max_rel_diff": max(diffs) if diffs else None,
                    "compile_s": rev_row.compile_s if rev_row is not None else None,
                }
            )
    return out


def render(rows: list[Row], versions: dict[str, str | None] | None = None) -> str:
    """The table as text, one block per n, each followed by its ranking sentence."""
    if not rows:
        return "nothing was measured\n"
    recs = per_library(rows, versions)
    problem, kind = rows[0].problem, rows[0].kind
    what = "gradient" if kind == "gradient" else "Jacobian"
    text = [
        f"{problem}: reverse {what} / f and forward/reverse per library (medians of interleaved "
        "samples, one run; ratios of medians; 'rev vs ours' = reverse time / our reverse time)"
    ]
    for n in sorted({r["n"] for r in recs}):
        block = [r for r in recs if r["n"] == n]
        table = [HEADER]
        for r in block:
            c = r["cells"]
            name = r["library"] + (f" {r['version']}" if r["version"] else "")
            table.append(
                (
                    name,
                    c[FUNCTION],
                    c[REVERSE],
                    _fmt(r["reverse_over_function"]),
                    c[FORWARD],
                    _fmt(r["forward_over_reverse"]),
                    c[FORWARD_CHUNKED],
                    _fmt(r["chunked_over_reverse"]),
                    _fmt(r["reverse_vs_ours"]),
                    f"{r['max_rel_diff']:.1e}" if r["max_rel_diff"] is not None else "-",
                    human_seconds(r["compile_s"]) if r["compile_s"] is not None else "-",
                )
            )
        widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
        text.append("")
        text.append(f"n = {n}")
        for row in table:
            text.append(
                "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))
            )
        text.append(ranking(block))
    notes = list(_notes(rows))
    if notes:
        text.append("")
        text.append("not timed:")
        text.extend(f"  {line}" for line in notes)
    return "\n".join(text) + "\n"


def ranking(block: list[dict[str, Any]]) -> str:
    """Where our reverse mode stands among the reverse gradients measured at one n."""
    timed = sorted((r for r in block if r["reverse_s"] is not None), key=lambda r: r["reverse_s"])
    if not timed:
        return "no reverse gradient was timed at this n"
    order = ", ".join(f"{r['library']} {human_seconds(r['reverse_s'])}" for r in timed)
    ours = next((i for i, r in enumerate(timed) if r["library"] == OURS), None)
    if ours is None:
        return f"reverse, fastest first: {order}"
    lead = timed[0]
    where = (
        "ours is fastest"
        if ours == 0
        else f"ours ranks {ours + 1} of {len(timed)}, {timed[ours]['reverse_s'] / lead['reverse_s']:.3g}x "
        f"the time of {lead['library']}"
    )
    return f"reverse, fastest first: {order}; {where}"


def _fmt(v: float | None) -> str:
    return f"{v:.3g}" if v is not None else "-"


def _notes(rows: Iterable[Row]) -> Iterable[str]:
    for r in rows:
        if r.status != "ok":
            yield f"n = {r.n}, {r.library} {r.mode}: {r.status}: {r.reason}"
