"""What a report reads: runs loaded from ``results.json`` (or a pytest-benchmark JSON file) and
the series of cells its figures and tables are drawn from.

A report reads saved results only: it never re-times and never imports an engine.

A run can feed three kinds of view, decided by its data:

* a **size sweep** (two or more input counts n, one output count per n): time, speedup,
  cheap-gradient audit, operation counts and memory against n;
* a **chunk sweep** (three or more forward chunk sizes at one n, as ``compare-modes --chunks``
  records): time against the chunk size;
* a **Jacobian grid** (a Jacobian problem at two or more n and two or more output counts m): the
  faster mode over (n, m).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments import benchmark_json, results
from experiments.results import CHUNK_SWEEP, FORWARD_MODES, MODE_ORDER, REVERSE_MODES

Cell = dict[str, Any]


class ReportError(Exception):
    """Results that cannot be read or reported."""


@dataclass
class Run:
    """One run's results document and where it was read from."""

    doc: dict[str, Any]
    source: Path
    origin: str = "results.json"  # or "pytest-benchmark"

    @property
    def cells(self) -> list[Cell]:
        """Our engines' cells (a ``--peers`` run's peer cells are :attr:`peer_cells`)."""
        return [c for c in self.doc.get("cells") or [] if results.is_ours(c)]

    @property
    def peer_cells(self) -> list[Cell]:
        """The peers' cells of a ``--peers`` run (JAX, PyTorch, autograd), none otherwise."""
        return [c for c in self.doc.get("cells") or [] if not results.is_ours(c)]

    @property
    def problem(self) -> str:
        p = self.doc.get("problem") or {}
        if p.get("name"):
            return str(p["name"])
        names = sorted({str(c.get("problem")) for c in self.cells if c.get("problem")})
        return ", ".join(names) or "unnamed"

    @property
    def description(self) -> str:
        return str((self.doc.get("problem") or {}).get("description") or "")

    @property
    def kind(self) -> str:
        kinds = {c.get("kind") for c in self.cells}
        return "jacobian" if "jacobian" in kinds else "gradient"

    @property
    def command(self) -> str | None:
        return (self.doc.get("command") or {}).get("line")

    @property
    def folder(self) -> str:
        """The run folder as the run recorded it (else where it was read from)."""
        return str(self.doc.get("run_folder") or self.source.parent)


def load_runs(path: str | Path) -> list[Run]:
    """The runs in a run folder or ``results.json`` (one), or in a pytest-benchmark JSON file (one
    per problem it holds, converted by :mod:`experiments.benchmark_json`)."""
    p = Path(path)
    if p.is_dir():
        if not (p / "results.json").is_file():
            raise ReportError(
                f"'{p}' holds no results.json: give a run folder, a results.json, "
                "or a pytest-benchmark JSON file"
            )
        p = p / "results.json"
    if not p.is_file():
        raise ReportError(f"'{p}' does not exist")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"cannot read '{p}' as JSON: {e}") from None
    if isinstance(raw, dict) and "benchmarks" in raw and "schema_version" not in raw:
        return [Run(doc, p, "pytest-benchmark") for doc in _from_benchmark(p)]
    if not isinstance(raw, dict) or "cells" not in raw:
        raise ReportError(f"'{p}' is neither a compare-modes results.json nor a pytest-benchmark JSON file")
    try:
        doc = results.load(p)
    except ValueError as e:
        raise ReportError(str(e)) from None
    check_cells(doc, p)
    return [Run(doc, p)]


#: A time (seconds per call) above this is not a measurement (about 11.6 days for one call).
MAX_SECONDS = 1e6
_TIMES = ("time_median_s", "time_q1_s", "time_q3_s", "time_iqr_s", "first_call_s", "function_time_s")
_COUNTS = ("m", "chunk", "passes", "sweeps", "ops", "tangent_updates", "adjoint_updates", "tape_length")
_COUNTS += ("tape_bytes", "peak_bytes")
_RATIOS = ("ratio_to_function", "speedup_vs_forward", "speedup_vs_forward_chunked", "predicted_time_s")


def check_cells(doc: dict[str, Any], p: Path) -> None:
    """Refuse a hand-edited or foreign ``results.json`` whose cells a report would misread, with
    a message naming the field (``cells[3].n``): a report must not draw or state a wrong number."""

    def bad(where: str, value: Any, want: str) -> ReportError:
        return ReportError(f"'{p}': {where} is {value!r}, expected {want}")

    cells = doc.get("cells")
    if not isinstance(cells, list):
        raise bad("cells", type(cells).__name__, "a list of cells")
    for i, c in enumerate(cells):
        at = f"cells[{i}]"
        if not isinstance(c, dict):
            raise bad(at, type(c).__name__, "an object")
        n = c.get("n")
        if not _is_int(n) or n < 1:
            raise bad(f"{at}.n", n, "a whole number of inputs >= 1")
        if not isinstance(c.get("mode"), str):
            raise bad(f"{at}.mode", c.get("mode"), f"one of {', '.join(MODE_ORDER)}")
        for k in _COUNTS:
            v = c.get(k)
            if v is not None and (not _is_int(v) or v < 0):
                raise bad(f"{at}.{k}", v, "a whole number >= 0 or null")
        for k in _TIMES + _RATIOS:
            v = c.get(k)
            if v is not None and not _finite(v, MAX_SECONDS if k in _TIMES else 1e12):
                raise bad(f"{at}.{k}", v, "a finite number >= 0 or null")
        samples = c.get("samples_s")
        if samples is not None and not isinstance(samples, list):
            raise bad(f"{at}.samples_s", samples, "a list of seconds")
        for j, v in enumerate(samples or []):
            if not _finite(v, MAX_SECONDS):
                raise bad(f"{at}.samples_s[{j}]", v, f"a finite time in seconds (0 to {MAX_SECONDS:g})")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: Any, top: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= top


def load_run(path: str | Path) -> Run:
    """The one run at ``path`` (a pytest-benchmark file holding several problems is an error)."""
    runs = load_runs(path)
    if len(runs) != 1:
        raise ReportError(f"'{path}' holds {len(runs)} problems; report them with load_runs")
    return runs[0]


def _from_benchmark(p: Path) -> list[dict[str, Any]]:
    try:
        docs = list(benchmark_json.load_benchmark_runs(p))  # one record per problem
    except Exception as e:  # the converter's own message says what is wrong with the file
        raise ReportError(f"cannot convert '{p}': {e}") from None
    if not docs or not all(isinstance(d, dict) and isinstance(d.get("cells"), list) for d in docs):
        raise ReportError(f"the converter returned no cells for '{p}'")
    return docs


# ---------------------------------------------------------------------------------- selection


def timed(c: Cell) -> bool:
    """The cell has a median time (status ok, or interrupted after some samples)."""
    t = c.get("time_median_s")
    return c.get("status") in ("ok", "interrupted") and t is not None and t > 0


def in_chunk_sweep(c: Cell) -> bool:
    return (c.get("details") or {}).get("sweep") == CHUNK_SWEEP


def main_cells(cells: Iterable[Cell]) -> list[Cell]:
    """The cells of the run proper (without a chunk sweep's extra chunk sizes)."""
    return [c for c in cells if not in_chunk_sweep(c)]


def series(cells: Iterable[Cell], mode: str, m: int | None = None, *, only_timed: bool = True) -> list[Cell]:
    """One mode's cells sorted by n (the first cell per n; chunk-sweep extras left out)."""
    seen: dict[int, Cell] = {}
    for c in main_cells(cells):
        if c.get("mode") != mode or (m is not None and c.get("m") != m):
            continue
        if only_timed and not timed(c):
            continue
        seen.setdefault(int(c["n"]), c)
    return [seen[n] for n in sorted(seen)]


def not_timed(cells: Iterable[Cell], mode: str) -> list[Cell]:
    """One mode's cells that were skipped or failed, sorted by n."""
    return sorted(
        (c for c in main_cells(cells) if c.get("mode") == mode and not timed(c)), key=lambda c: c["n"]
    )


def modes_present(cells: Iterable[Cell]) -> list[str]:
    found = {c.get("mode") for c in cells}
    return [m for m in MODE_ORDER if m in found]


def sizes(cells: Iterable[Cell]) -> list[int]:
    return sorted({int(c["n"]) for c in main_cells(cells)})


def is_size_sweep(run: Run) -> bool:
    """Two or more n, with one output count per n."""
    cells = main_cells(run.cells)
    pairs = {(c["n"], c.get("m")) for c in cells}
    ns = {n for n, _ in pairs}
    return len(ns) >= 2 and len(pairs) == len(ns)


def chunk_sweep(run: Run) -> tuple[int, list[Cell]] | None:
    """(n, forward cells by chunk size) at the n with the most chunk sizes, if three or more."""
    by_n: dict[int, dict[int, Cell]] = {}
    for c in run.cells:
        if c.get("mode") in FORWARD_MODES and c.get("chunk"):
            by_n.setdefault(int(c["n"]), {}).setdefault(int(c["chunk"]), c)
    if not by_n:
        return None
    n = max(by_n, key=lambda k: (len(by_n[k]), k))
    if len(by_n[n]) < 3:
        return None
    return n, [by_n[n][k] for k in sorted(by_n[n])]


def jacobian_grid(run: Run) -> tuple[list[int], list[int]] | None:
    """(the n values, the m values) of a Jacobian run measured over a grid: two or more n with
    one output count and two or more m with one input count (m growing with n, as ``tall``'s
    default m = 10n, is a size sweep, not a grid)."""
    cells = [c for c in main_cells(run.cells) if c.get("kind") == "jacobian"]
    pairs = {(int(c["n"]), int(c["m"])) for c in cells}
    ns, ms = sorted({n for n, _ in pairs}), sorted({m for _, m in pairs})
    rows = max((sum(1 for _, k in pairs if k == m) for m in ms), default=0)
    cols = max((sum(1 for k, _ in pairs if k == n) for n in ns), default=0)
    return (ns, ms) if rows >= 2 and cols >= 2 else None


def best_forward(cells: Iterable[Cell], m: int) -> list[Cell]:
    """At each n (with m outputs), the faster timed forward cell: chunk 1 or chunked."""
    return _fastest(cells, m, FORWARD_MODES)


def best_reverse(cells: Iterable[Cell], m: int) -> list[Cell]:
    """At each n (with m outputs), the faster timed reverse cell: one sweep per output or chunked."""
    return _fastest(cells, m, REVERSE_MODES)


def _fastest(cells: Iterable[Cell], m: int, kinds: tuple[str, ...]) -> list[Cell]:
    best: dict[int, Cell] = {}
    for c in main_cells(cells):
        if c.get("m") == m and c.get("mode") in kinds and timed(c):
            if c["n"] not in best or c["time_median_s"] < best[c["n"]]["time_median_s"]:
                best[c["n"]] = c
    return [best[n] for n in sorted(best)]


def cell_at(cells: Iterable[Cell], n: int, m: int | None, mode: str) -> Cell | None:
    for c in main_cells(cells):
        if c.get("n") == n and c.get("mode") == mode and (m is None or c.get("m") == m):
            return c
    return None


#: The modes whose cells record a tape of ``ops`` operations, so that peak memory per recorded
#: operation means something (reverse-replay replays a tape recorded apart from the timed call).
TAPE_MODES = REVERSE_MODES


def bytes_per_op(cells: Iterable[Cell], mode: str) -> list[tuple[int, float, Cell]]:
    """(n, peak bytes ÷ recorded operations, cell) for each of ``mode``'s cells, sorted by n, that
    has both a peak memory and a positive operation count (the rest have nothing to divide)."""
    out = [
        (int(c["n"]), c["peak_bytes"] / c["ops"], c)
        for c in main_cells(cells)
        if c.get("mode") == mode and c.get("peak_bytes") and c.get("ops")
    ]
    return sorted(out, key=lambda t: t[0])


def no_bytes_per_op(cells: Iterable[Cell]) -> str | None:
    """Why no tape mode has a bytes-per-operation figure, or None when one has."""
    rows = [c for c in main_cells(cells) if c.get("mode") in TAPE_MODES]
    if not rows:
        return "this run timed no reverse mode, the mode that records operations on a tape"
    if any(bytes_per_op(rows, m) for m in TAPE_MODES):
        return None
    if not any(c.get("peak_bytes") for c in rows):
        return "reverse mode's peak memory was not measured (the table's notes say why)"
    return "reverse mode's cells record no operation count (ops is 0 or missing), nothing to divide by"


def against_size(run: Run) -> tuple[int, list[Cell]] | None:
    """A ``--sizes`` run whose input count n never changed while its size did: (that n, the cells
    with ``n`` set to the size, so that the figures against n can be drawn against the size; the
    input count kept as ``inputs_n``). None for any other run. Cells whose instance was never
    built (no passes) count for the sizes but not for n."""
    cells = [c for c in main_cells(run.cells) if c.get("size") is not None]
    if not cells or len(cells) != len(main_cells(run.cells)):
        return None
    built = {int(c["n"]) for c in cells if c.get("passes") is not None}
    pairs = {(int(c["size"]), c.get("m")) for c in cells}
    if len(built) != 1 or len({s for s, _ in pairs}) < 2 or len(pairs) != len({s for s, _ in pairs}):
        return None
    return built.pop(), [
        {**c, "n": int(c["size"]), "inputs_n": c["n"]} if c.get("size") is not None else c for c in run.cells
    ]


def size_name(run: Run) -> str | None:
    """What the run's problem size means, as its builder names it (``steps``), else None."""
    name = (run.doc.get("problem") or {}).get("size_name")
    return str(name) if name else None
