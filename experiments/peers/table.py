"""The per-library table: "reverse grad / f and forward/reverse speedup per library", per n.

One line per library (JAX's compiled modes on a line of their own, ``jax-jit``), from one run's
``results.json`` cells (ours, ``library`` "modes", and the peers'): medians of interleaved
samples, and ratios of medians taken in the same run. Under each n, a sentence ranks the reverse
gradients (fastest first) and says where our engines stand. Reads saved cells only (never a
library), so reports use it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from experiments.human import human_seconds
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, JIT, OURS, REVERSE

Cell = dict[str, Any]
#: The modes a line shows, in its columns' order.
COLUMNS = (FUNCTION, REVERSE, FORWARD, FORWARD_CHUNKED)

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


def library(c: Cell) -> str:
    return str(c.get("library") or OURS)


def has_peers(cells: Iterable[Cell]) -> bool:
    """Whether any cell is a peer's."""
    return any(library(c) != OURS for c in cells)


def lines_of(cells: list[Cell]) -> list[tuple[str, str]]:
    """The table's lines as (library, suffix): ours first, each peer, and ``-jit`` for jit modes."""
    out: list[tuple[str, str]] = [(OURS, "")] if any(library(c) == OURS for c in cells) else []
    for c in cells:
        suffix = JIT if c["mode"].endswith(JIT) else ""
        if (library(c), suffix) not in out:
            out.append((library(c), suffix))
    return out


def _median(at: dict[tuple[str, str], Cell], lib: str, mode: str) -> float | None:
    c = at.get((lib, mode))
    return c.get("time_median_s") if c is not None and c.get("status") == "ok" else None


def _cell(at: dict[tuple[str, str], Cell], lib: str, mode: str) -> str:
    c = at.get((lib, mode))
    if c is None:
        return "n/a"
    if c.get("status") == "ok" and c.get("time_median_s") is not None:
        return human_seconds(c["time_median_s"])
    status = str(c.get("status"))
    return {"error": "ERROR"}.get(status, status)


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.3g}" if a is not None and b else "-"


def versions_of(environment: dict[str, Any] | None) -> dict[str, str | None]:
    """Each library's version from a results.json environment block (ours and the peers')."""
    env = environment or {}
    peers = env.get("peers") or {}
    return {OURS: env.get("modes"), **{k: (v or {}).get("version") for k, v in peers.items()}}


def per_library(cells: list[Cell], versions: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """One record per (n, library line): the medians and ratios the table prints (the run's main
    cells only: a chunk sweep's extra cells are left out)."""
    versions = versions or {}
    cells = [c for c in cells if not (c.get("details") or {}).get("sweep")]
    out = []
    for n in sorted({c["n"] for c in cells}):
        here = [c for c in cells if c["n"] == n]
        at: dict[tuple[str, str], Cell] = {}
        for c in here:
            at.setdefault((library(c), c["mode"]), c)
        ours_rev = _median(at, OURS, REVERSE)
        for lib, sfx in lines_of(here):
            f, rev = _median(at, lib, FUNCTION + sfx), _median(at, lib, REVERSE + sfx)
            fwd, chk = _median(at, lib, FORWARD + sfx), _median(at, lib, FORWARD_CHUNKED + sfx)
            mine = [c for (k, m), c in at.items() if k == lib and m.endswith(JIT) == bool(sfx)]
            diffs = [
                c["max_rel_diff"]
                for c in mine
                if c.get("max_rel_diff") is not None and not c["mode"].startswith(FUNCTION)
            ]
            rev_cell = at.get((lib, REVERSE + sfx))
            out.append(
                {
                    "n": n,
                    "library": lib + sfx,
                    "version": versions.get(lib),
                    "cells": {m: _cell(at, lib, m + sfx) for m in COLUMNS},
                    "function_s": f,
                    "reverse_s": rev,
                    "forward_s": fwd,
                    "forward_chunked_s": chk,
                    "reverse_over_function": rev / f if rev is not None and f else None,
                    "forward_over_reverse": fwd / rev if fwd is not None and rev else None,
                    "chunked_over_reverse": chk / rev if chk is not None and rev else None,
                    "reverse_vs_ours": rev / ours_rev if rev is not None and ours_rev else None,
                    "max_rel_diff": max(diffs) if diffs else None,
                    "compile_s": rev_cell.get("compile_s") if rev_cell is not None else None,
                }
            )
    return out


def render(cells: list[Cell], versions: dict[str, str | None] | None = None) -> str:
    """The table as text, one block per n, each followed by its ranking sentence."""
    if not cells:
        return "nothing was measured\n"
    recs = per_library(cells, versions)
    problem, kind = cells[0]["problem"], cells[0]["kind"]
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


def standing(cells: list[Cell], versions: dict[str, str | None] | None = None) -> str:
    """One sentence per problem: where our reverse gradient ranks among the libraries' at each n,
    how far from the fastest, and how our forward/reverse ratio compares with the peers'."""
    recs = per_library(cells, versions)
    problem = cells[0]["problem"] if cells else "?"
    parts = []
    for n in sorted({r["n"] for r in recs}):
        block = [r for r in recs if r["n"] == n]
        timed = sorted((r for r in block if r["reverse_s"] is not None), key=lambda r: r["reverse_s"])
        ours = next((i for i, r in enumerate(timed) if r["library"] == OURS), None)
        if ours is None or len(timed) < 2:
            continue
        lead = timed[0]
        if ours == 0:
            after = timed[1]
            parts.append(
                f"n = {n}: first of {len(timed)}, {after['reverse_s'] / timed[0]['reverse_s']:.2g}x ahead of "
                f"{after['library']}"
            )
        else:
            gap = timed[ours]["reverse_s"] / lead["reverse_s"]
            rank = _ordinal(ours + 1)
            parts.append(f"n = {n}: {rank} of {len(timed)}, {gap:.2g}x the time of {lead['library']}")
    if not parts:
        return f"{problem}: no size had our reverse gradient and a peer's both timed."
    return f"{problem}, our reverse gradient among the libraries' (fastest first): " + "; ".join(parts) + "."


def _ordinal(k: int) -> str:
    return {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}.get(k, f"{k}th")
