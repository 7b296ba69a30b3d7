"""``compare-modes merge RUN... --out DIR``: one ``results.json`` from several runs of one sweep.

A large sweep is split into shards (``compare-modes ... --shard K/N``), each run on a machine of
its own by any scheduler (a SLURM job array, GNU parallel, a Dask or Ray cluster); merging joins
their cells into one run folder that ``compare-modes report`` reads like any other. Every size
is timed whole on one machine (its modes interleaved there), so each ratio still compares like
with like; the merged record keeps, in ``merged_from``, where each part came from (host, CPU,
command, start, status), and the report names every machine.

Runs are merged only if they measured the same problem with the same settings (the sizes and the
shard aside) and no cell twice; ``--force`` merges anyway, keeping the first of a repeated cell.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from experiments import tables
from experiments.results import CELL_FIELDS, MODE_ORDER, SCHEMA_VERSION, _csv_value, clean

PROG = "compare-modes merge"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: Settings that may differ between the runs merged: each shard's part of the sizes.
MAY_DIFFER = {"sizes", "shard"}


class MergeError(Exception):
    """Runs that cannot be merged (as given), with the reason."""


def _load(path: Path) -> dict[str, Any]:
    p = path / "results.json" if path.is_dir() else path
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MergeError(f"no results.json at '{path}'") from None
    except (OSError, ValueError) as e:
        raise MergeError(f"cannot read '{p}': {e}") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
        raise MergeError(f"'{p}' is not a compare-modes results.json (schema_version {SCHEMA_VERSION})")
    if not isinstance(doc.get("cells"), list):
        raise MergeError(f"'{p}': 'cells' is not a list")
    doc["_source"] = str(p)
    return doc


def _identity(c: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two cells the same measurement."""
    return (
        c.get("library"),
        c.get("size"),
        c.get("n"),
        c.get("m"),
        c.get("mode"),
        c.get("chunk"),
        (c.get("details") or {}).get("sweep"),
    )


def _where(c: dict[str, Any]) -> str:
    return f"{c.get('mode')} at {tables.at_text(c)}"


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """What two runs measured differently (problem, its options, settings but the sizes)."""
    out = []
    pa, pb = a.get("problem") or {}, b.get("problem") or {}
    for key in ("name", "options"):
        if pa.get(key) != pb.get(key):
            out.append(f"problem {key}: {pa.get(key)!r} vs {pb.get(key)!r}")
    sa, sb = a.get("settings") or {}, b.get("settings") or {}
    for key in sorted((set(sa) | set(sb)) - MAY_DIFFER):
        if sa.get(key) != sb.get(key):
            out.append(f"{key}: {sa.get(key)!r} vs {sb.get(key)!r}")
    return out


def _machine(doc: dict[str, Any]) -> dict[str, Any]:
    env = doc.get("environment") or {}
    settings = doc.get("settings") or {}
    return {
        "source": doc["_source"],
        "host": env.get("hostname"),
        "cpu_model": env.get("cpu_model"),
        "cpus_available": env.get("cpus_available") or env.get("cpu_count"),
        "os": env.get("os"),
        "shard": settings.get("shard"),
        "sizes": sorted({tables.at_text(c) for c in doc["cells"]}),
        "command": (doc.get("command") or {}).get("line"),
        "started_at": doc.get("started_at"),
        "elapsed_s": doc.get("elapsed_s"),
        "status": doc.get("status"),
    }


def merge(docs: list[dict[str, Any]], *, force: bool = False, argv: Sequence[str] = ()) -> dict[str, Any]:
    """One results document from ``docs`` (raises :class:`MergeError` on a mix, unless ``force``)."""
    if len(docs) < 2:
        raise MergeError("give at least two runs to merge")
    base = docs[0]
    for d in docs[1:]:
        diff = differences(base, d)
        if diff and not force:
            raise MergeError(
                f"'{d['_source']}' and '{base['_source']}' measured different things ({'; '.join(diff)}); "
                "--force merges them anyway"
            )
    cells: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], str] = {}
    for d in docs:
        for c in d["cells"]:
            key = _identity(c)
            if key in seen:
                if not force:
                    raise MergeError(
                        f"{_where(c)} is in both '{seen[key]}' and '{d['_source']}' (overlapping shards?); "
                        "--force keeps the first"
                    )
                continue
            seen[key] = d["_source"]
            cells.append(c)
    order = {m: i for i, m in enumerate(MODE_ORDER)}
    cells.sort(key=lambda c: (tables._at(c), c.get("n"), c.get("m"), order.get(c.get("mode"), 9)))
    partial = [d["_source"] for d in docs if d.get("status") != "complete"]
    sizes = sorted({int(c["size"] if c.get("size") is not None else c["n"]) for c in cells})
    settings = {**(base.get("settings") or {}), "sizes": sizes, "shard": None}
    line = ["compare-modes", "merge", *argv]
    started = [d["started_at"] for d in docs if d.get("started_at")]
    finished = [d["finished_at"] for d in docs if d.get("finished_at")]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "status": "partial" if partial else "complete",
        "status_reason": f"merged from runs not all complete: {', '.join(partial)}" if partial else None,
        "started_at": min(started) if started else None,
        "finished_at": max(finished) if finished else None,
        "elapsed_s": None,
        "tool": base.get("tool"),
        "command": {"argv": line[:], "line": shlex.join(line), "cwd": os.getcwd()},
        "run_folder": None,
        "settings": settings,
        "environment": base.get("environment"),
        "problem": base.get("problem"),
        "merged_from": [_machine(d) for d in docs],
        "cells": cells,
        "summary": tables.summary(cells),
    }
    return clean(doc)


def write(doc: dict[str, Any], out: Path) -> Path:
    """Write ``results.json`` and ``results.csv`` into ``out`` (a new or empty folder)."""
    if out.exists() and not out.is_dir():
        raise MergeError(f"--out '{out}' is a file, not a folder")
    if (out / "results.json").exists():
        raise MergeError(f"'{out}' already holds a results.json; give a new folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        doc = {**doc, "run_folder": str(out)}
        (out / "results.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(CELL_FIELDS)
            for c in doc["cells"]:
                w.writerow([_csv_value(c.get(k)) for k in CELL_FIELDS])
    except OSError as e:
        raise MergeError(f"cannot write to '{out}': {e.strerror or e}") from None
    return out / "results.json"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise MergeError(f"{message} (see '{PROG} --help')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Merge the results of several runs (shards of one sweep, run on different machines) "
        "into one run folder for 'compare-modes report'.",
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders (or their results.json)")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="the folder to write the merged run to"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="merge runs of different problems or settings, keeping the first of a repeated cell",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The ``compare-modes merge`` command; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = build_parser().parse_args(args)
        doc = merge([_load(p) for p in ns.runs], force=ns.force, argv=args)
        path = write(doc, ns.out)
    except SystemExit as e:  # --help
        return int(e.code or 0) if not isinstance(e.code, str) else EXIT_USAGE
    except MergeError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    machines = sorted({m.get("host") or m.get("cpu_model") or "?" for m in doc["merged_from"]})
    print(
        f"{PROG}: {len(doc['cells'])} cells from {len(ns.runs)} runs on {', '.join(machines)}: {path}",
        file=sys.stderr,
    )
    return EXIT_OK
