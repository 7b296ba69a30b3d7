"""The report's peers section: the per-library table of a ``--peers`` run and where our engines
stand, as report blocks (:mod:`experiments.report_render`), from saved cells only."""

from __future__ import annotations

from typing import Any

from experiments import report_render as rr
from experiments.human import human_seconds
from experiments.peers.table import per_library, standing, versions_of
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, REVERSE

Cell = dict[str, Any]
HEAD = [
    "n",
    "library",
    "f",
    "reverse",
    "reverse ÷ f",
    "forward (n JVPs)",
    "forward ÷ reverse",
    "jacfwd / chunked",
    "chunked ÷ reverse",
    "reverse vs ours",
    "max rel diff",
    "compile (reverse)",
]


def _x(v: float | None) -> str:
    return f"{v:.3g}×" if v is not None else "-"


def blocks(cells: list[Cell], peer_cells: list[Cell], environment: dict[str, Any] | None) -> list[rr.Block]:
    """The section: a heading, the table (every n, one line per library and jit), the standing
    sentence, and what the peers' numbers do and do not include."""
    if not peer_cells:
        return []
    everything = [*cells, *peer_cells]
    versions = versions_of(environment)
    rows = []
    for r in per_library(everything, versions):
        c = r["cells"]
        rows.append(
            [
                str(r["n"]),
                r["library"] + (f" {r['version']}" if r["version"] else ""),
                c[FUNCTION],
                c[REVERSE],
                _x(r["reverse_over_function"]),
                c[FORWARD],
                _x(r["forward_over_reverse"]),
                c[FORWARD_CHUNKED],
                _x(r["chunked_over_reverse"]),
                _x(r["reverse_vs_ours"]),
                f"{r['max_rel_diff']:.1e}" if r["max_rel_diff"] is not None else "-",
                human_seconds(r["compile_s"]) if r["compile_s"] is not None else "-",
            ]
        )
    peers = sorted({str(c.get("library")) for c in peer_cells})
    out: list[rr.Block] = [
        rr.Heading(3, "Peers: reverse grad / f and forward/reverse speedup per library"),
        rr.Para(
            f"{', '.join(peers)} timed on the same problem, in the same interleaved rounds as our engines "
            "at each n, float64 and one thread everywhere; each peer's derivative was checked against our "
            "reverse mode before it was timed (max rel diff). `forward` is n JVP passes, one input "
            "direction each; `jacfwd / chunked` is the peer's one-pass batched form (ours: the default "
            "chunk); `-jit` lines are compiled with `jax.jit`, the compile time apart from the per-call "
            "times. Peak memory and operation counts are not measured for peers."
        ),
        rr.Table(HEAD, rows, set(range(2, len(HEAD))) | {0}),
        rr.Para(standing(everything, versions)),
    ]
    missing = [c for c in peer_cells if c.get("status") != "ok"]
    if missing:
        out.append(
            rr.Bullets(
                [
                    f"n = {c['n']}, {c['library']} {c['mode']}: {c.get('status')}: {c.get('reason')}"
                    for c in missing
                ]
            )
        )
    return out


def environment(runs: list[Any]) -> list[str]:
    """The environment lines of the runs' peers: each peer's version and settings, once."""
    seen: dict[str, dict[str, Any]] = {}
    for r in runs:
        for name, info in ((r.doc.get("environment") or {}).get("peers") or {}).items():
            seen.setdefault(name, info or {})
    if not seen:
        return []
    parts = []
    for name, info in seen.items():
        extra = ", ".join(f"{k} {v}" for k, v in info.items() if k != "version" and v is not None)
        parts.append(f"{name} {info.get('version') or '?'}" + (f" ({extra})" if extra else ""))
    return ["Peers: " + "; ".join(parts)]
