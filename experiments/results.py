"""The results of a run: one record per (problem, n, mode) cell, saved as ``results.json`` and
``results.csv`` in a run folder of its own, rewritten as each cell finishes.

``results.json`` (``schema_version`` 2) is what reports and plots read; they never re-time::

    {"schema_version": 2, "status": "complete" | "partial", "status_reason": str | null,
     "started_at", "finished_at", "elapsed_s", "tool": {"name", "version"},
     "command": {"argv", "line", "cwd"}, "settings": {...}, "environment": {...},
     "problem": {"name", "description", "kind", "sizes", "size_name", "options"},
     "cells": [Cell, ...], "summary": [sentence, ...]}

A run that has not finished (still running, interrupted, crashed) says ``"status": "partial"`` and
its folder holds a ``PARTIAL`` file; both go when it completes. Each :class:`Cell` field is
documented on the class; ``results.csv`` has one row per cell with the columns of
:data:`CELL_FIELDS` (lists joined with ``;``, mappings as JSON, missing values empty).

``problem.size_name`` is what a user builder's size means, as its first parameter is named
(``build(steps, seed)``: ``"steps"``), else null; older files lack it (read as null).

Version 2 added each cell's ``library`` (``"modes"`` for our engines, else the peer's name, as
``--peers`` times them) and ``compile_s`` (a peer's jit compile); :func:`load` still reads version 1
files, filling those in (every cell of a version 1 file is ours).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
#: Versions :func:`load` reads (older ones are upgraded as they are read).
READABLE_VERSIONS = (1, 2)
#: A cell's ``library`` when our engines computed it (a peer's cells carry the peer's name).
OURS = "modes"

#: What a cell times (its ``mode``): f alone (no differentiation), forward mode with one tangent
#: direction per pass, forward mode with a chunk of directions per pass, reverse mode (one backward
#: sweep per output), reverse mode with a chunk of cotangent directions per sweep (a Jacobian's
#: rows in ceil(m / chunk) sweeps, vector mode), and reverse mode replaying a tape recorded once
#: (``modes.compile``) at another point.
FUNCTION, FORWARD, FORWARD_CHUNKED, REVERSE = "function", "forward", "forward-chunked", "reverse"
REVERSE_CHUNKED, REVERSE_REPLAY = "reverse-chunked", "reverse-replay"
#: The differentiation modes, in the order the command line lists them.
MODES = (FORWARD, FORWARD_CHUNKED, REVERSE, REVERSE_CHUNKED, REVERSE_REPLAY)
#: The modes a run compares unless ``--modes`` says otherwise (replay is asked for by name).
DEFAULT_MODES = (FORWARD, FORWARD_CHUNKED, REVERSE)
#: A Jacobian problem's default modes: chunked reverse beside chunked forward, a fair fight.
JACOBIAN_DEFAULT_MODES = (FORWARD, FORWARD_CHUNKED, REVERSE, REVERSE_CHUNKED)
#: The forward modes (a cell of either has a chunk and ceil(n / chunk) passes).
FORWARD_MODES = (FORWARD, FORWARD_CHUNKED)
#: The reverse modes that sweep back a tape recorded at x (a Jacobian: m or ceil(m / chunk) sweeps).
REVERSE_MODES = (REVERSE, REVERSE_CHUNKED)
#: The order tables, legends and figures show a run's cells in.
MODE_ORDER = (FUNCTION, *MODES)
#: A peer's compiled mode's suffix (``reverse-jit``: JAX's ``jit``); the base names are ours.
JIT = "-jit"
#: ``details["sweep"]`` of the extra forward-chunked cells a chunk-size sweep (``--chunks``) records.
CHUNK_SWEEP = "chunk"


@dataclass
class Cell:
    """One measured (or skipped) cell. Times are seconds per call; ``None`` means not measured."""

    problem: str
    kind: str  # "gradient" (timed as grad) or "jacobian" (timed as jacobian)
    n: int  # inputs actually used
    requested_n: int  # the n asked for (differs when the problem rounds n, e.g. mlp)
    #: the problem size the builder was called with (``--sizes``: build(size, seed), its input
    #: count n read from x); None when the size is the input count (``--inputs``)
    size: int | None = field(default=None, kw_only=True)
    m: int  # outputs (1 for a gradient)
    mode: str  # "function" (f alone), "forward" (chunk 1), "forward-chunked", "reverse",
    # "reverse-chunked", "reverse-replay"
    chunk: int | None  # forward directions per pass; reverse-chunked: cotangent directions per sweep
    passes: int | None  # forward passes through f (ceil(n / chunk)); 1 for reverse and function
    sweeps: int | None  # reverse mode's backward sweeps (m; reverse-chunked ceil(m / chunk))
    #: who computed it: "modes" (our engines) or a peer ("jax", "torch", "autograd"); a peer's modes
    #: use our names (forward = n JVP passes, forward-chunked = its batched jacfwd, "-jit" compiled)
    library: str = OURS
    #: "ok" timed; "skipped" not timed (over the budget or memory; ``reason`` says why and what
    #: fits); "error" failed (an exception, or forward and reverse disagree); "interrupted" (Ctrl-C)
    status: str = "ok"
    reason: str | None = None
    time_median_s: float | None = None
    time_iqr_s: float | None = None
    time_q1_s: float | None = None
    time_q3_s: float | None = None
    samples_s: list[float] = field(default_factory=list)  # every raw sample, seconds per call
    loops: int | None = None  # calls per sample (timeit autorange)
    first_call_s: float | None = None  # the untimed verification / warm-up call
    function_time_s: float | None = None  # median of f alone at this n, same run, interleaved
    ratio_to_function: float | None = None  # time_median_s / function_time_s
    speedup_vs_forward: float | None = None  # forward (chunk 1) median / this median
    speedup_vs_forward_chunked: float | None = None  # forward-chunked median / this median
    ops: int | None = None  # primitive evaluations (modes.counting)
    tangent_updates: int | None = None
    adjoint_updates: int | None = None
    tape_length: int | None = None
    tape_bytes: int | None = None
    peak_bytes: int | None = None  # tracemalloc peak, measured in a separate untimed run
    max_rel_diff: float | None = None  # max |this - other mode| / max |other mode|
    ref_rel_diff: float | None = None  # the same against the closed-form reference, if any
    agrees: bool | None = None  # max_rel_diff within the tolerance
    #: reverse-replay: the one-off ``modes.compile`` (recording f and building its replay), seconds,
    #: and the gradients after which it has paid for itself (compile / (reverse - replay) per call)
    record_time_s: float | None = None
    break_even_calls: int | None = None
    compile_s: float | None = None  # a peer's -jit mode: trace and compile, once, apart from the calls
    predicted_time_s: float | None = None  # per call, predicted before running from smaller n
    predicted_exponent: float | None = None  # fitted t ~ n^k used for the prediction
    predicted_from: list[int] = field(default_factory=list)  # the n values the fit used
    note: str | None = None  # anything else worth knowing (fewer repeats, memory not measured)
    seed: int = 0
    details: dict[str, Any] = field(default_factory=dict)  # problem specifics (layer sizes, D, K)

    def as_dict(self) -> dict[str, Any]:
        return clean(asdict(self))

    def skip(self, why: str) -> Cell:
        """Mark the cell not timed, saying why (and what would fit)."""
        self.status, self.reason = "skipped", why
        return self

    def fail(self, why: str) -> Cell:
        """Mark the cell failed, saying why."""
        self.status, self.reason = "error", why
        return self

    def add_note(self, text: str) -> None:
        """Append ``text`` to the cell's note."""
        self.note = text if not self.note else f"{self.note}; {text}"


CELL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Cell))


class OutputError(Exception):
    """The run folder cannot be created or written."""


def clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, numpy scalars plain Python."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(repr(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True) if value else ""
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


def create_run_folder(parent: Path, label: str) -> Path:
    """A new folder ``parent/<timestamp>-<label>`` (``-2``, ``-3``... if taken): never an old one."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write results under '{parent}': it is a file, not a folder") from None
    except OSError as e:
        raise OutputError(f"cannot create the output folder '{parent}': {e.strerror or e}") from None
    if not parent.is_dir():
        raise OutputError(f"cannot write results under '{parent}': it is not a folder")
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(label)}"
    for i in range(1, 1000):
        folder = parent / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as e:
            raise OutputError(f"cannot write results under '{parent}': {e.strerror or e}") from None
        return folder
    raise OutputError(f"cannot find a free run folder name under '{parent}'")


class RunRecord:
    """The results document of one run, saved after every cell when it has a ``folder``."""

    def __init__(self, header: dict[str, Any], folder: Path | None = None) -> None:
        self.folder = folder
        self._started = time.time()
        self.doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "status": "partial",
            "status_reason": "running (a run that stops before it finishes stays partial)",
            "started_at": _iso(self._started),
            "finished_at": None,
            "elapsed_s": None,
            **clean(header),
            "cells": [],
            "summary": [],
        }
        #: why the folder stopped accepting writes (None while it does): the run goes on, its
        #: results.json keeps the last cells saved, and the command exits 1 saying so once
        self.write_error: str | None = None
        if folder is not None:
            self._csv_path = folder / "results.csv"
            try:
                with open(self._csv_path, "w", newline="", encoding="utf-8") as fh:
                    csv.writer(fh).writerow(CELL_FIELDS)
                (folder / "PARTIAL").write_text("this run has not finished: results.json says why\n")
                self._save()
            except OSError as e:
                raise OutputError(f"cannot write results in '{folder}': {e.strerror or e}") from None

    @property
    def cells(self) -> list[dict[str, Any]]:
        return self.doc["cells"]

    def add(self, cell: Cell) -> None:
        """Append a finished cell and save both files (JSON rewritten atomically, CSV appended)."""
        record = cell.as_dict()
        self.doc["cells"].append(record)
        if self._writable():
            try:
                with open(self._csv_path, "a", newline="", encoding="utf-8") as fh:
                    csv.writer(fh).writerow([_csv_value(record[k]) for k in CELL_FIELDS])
                    fh.flush()
                    os.fsync(fh.fileno())
                self._save()
            except OSError as e:
                self._lost(e)

    def finish(self, status: str, reason: str | None = None, summary: list[str] | None = None) -> None:
        """Close the record: ``complete``, or ``partial`` with the reason (interrupted, failed)."""
        now = time.time()
        self.doc.update(
            status=status,
            status_reason=reason,
            finished_at=_iso(now),
            elapsed_s=round(now - self._started, 3),
            summary=list(summary or []),
        )
        if self._writable():
            assert self.folder is not None
            try:
                self._save()
                if status == "complete":
                    (self.folder / "PARTIAL").unlink(missing_ok=True)
                else:
                    (self.folder / "PARTIAL").write_text(f"this run is partial: {reason}\n")
            except OSError as e:
                self._lost(e)

    def _writable(self) -> bool:
        return self.folder is not None and self.write_error is None

    def _lost(self, e: OSError) -> None:
        """The folder stopped accepting writes: remember why, and write nothing more to it."""
        assert self.folder is not None
        try:
            saved = len(load(self.folder)["cells"])
            (self.folder / "results.json.tmp").unlink(missing_ok=True)
        except (OSError, ValueError):
            saved = 0
        self.write_error = (
            f"cannot write to {self.folder} ({e.strerror or e}); its results.json keeps the "
            f"{saved} cells saved before, the rest are only printed"
        )

    def _save(self) -> None:
        assert self.folder is not None
        tmp = self.folder / "results.json.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.doc, fh, indent=1, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.folder / "results.json")


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def load(path: str | Path) -> dict[str, Any]:
    """Read a ``results.json`` (or the run folder holding one), checking its schema version; an
    older version's document is upgraded to the current one (see the module's docstring)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    with open(p, encoding="utf-8") as fh:
        doc = json.load(fh)
    version = doc.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"{p}: schema_version {version!r}, expected one of {', '.join(map(str, READABLE_VERSIONS))}"
        )
    if version == 1:
        for c in doc.get("cells") or []:
            if isinstance(c, dict):
                c.setdefault("library", OURS)
                c.setdefault("compile_s", None)
        doc["schema_version"] = SCHEMA_VERSION
    return doc


def is_ours(cell: dict[str, Any]) -> bool:
    """Whether a results.json cell was computed by our engines (not a peer's)."""
    return cell.get("library", OURS) == OURS
