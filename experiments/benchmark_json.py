"""A pytest-benchmark JSON file as a ``results.json``-like record: the seam between
``pytest tests/benchmarks --benchmark-json=FILE`` and the reports.

:func:`load_benchmark_json` reads the file ``--benchmark-json`` writes (or one that
``--benchmark-save`` keeps under ``.benchmarks/``) and returns a dict shaped like
:mod:`experiments.results`' document (``schema_version``, ``environment``, ``cells``, ...), one
cell per benchmark, under the field names of :class:`experiments.results.Cell`:

* identity and counts (problem, kind, n, requested_n, m, mode, chunk, passes, sweeps, ops,
  tangent/adjoint updates, tape length and bytes, peak bytes, the checks' relative differences,
  seed, details) come from ``extra_info``, which ``tests/benchmarks`` fills outside the timed
  region (a benchmark without it falls back on its ``params``: problem, n, mode);
* times come from pytest-benchmark's ``stats`` (seconds per call): ``median``, ``q1``, ``q3``,
  ``iqr``; ``samples_s`` is ``stats.data`` when the file holds it (``--benchmark-json`` does;
  ``--benchmark-save`` only with ``--benchmark-save-data``); ``loops`` is ``iterations``;
* ``function_time_s``, ``ratio_to_function`` and the speedups are computed as the runner computes
  them, between the cells of one (problem, n, m);
* ``environment`` is compare-modes' own environment block when ``tests/benchmarks`` wrote the file
  (``compare_modes.environment`` at the top level), else built from ``machine_info``; ``git`` from
  ``commit_info``. The file's ``machine_info`` and ``commit_info`` are kept whole under
  ``environment["pytest_benchmark"]``.

pytest-benchmark leaves failed benchmarks out of its JSON, so every cell is ``"ok"``. A file may
hold several problems (``tests/benchmarks`` runs the whole catalogue): pass ``problem=`` to keep one,
or :func:`load_benchmark_runs` for one record per problem
(:func:`problems_in` lists them). The ``problem`` block is filled when the record holds one problem.

This module reads JSON only: it imports no engine (a report never re-times).
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from experiments.results import (
    CELL_FIELDS,
    FORWARD,
    FORWARD_CHUNKED,
    FUNCTION,
    MODE_ORDER,
    REVERSE,
    SCHEMA_VERSION,
    Cell,
    clean,
)

FORMAT = "pytest-benchmark"
#: Cell fields with no default that a benchmark must supply (from extra_info or params).
_REQUIRED = ("problem", "n", "mode")


class BenchmarkJSONError(ValueError):
    """The file is not a pytest-benchmark JSON file, or holds no compare-modes benchmark."""


def read(path: str | Path) -> dict[str, Any]:
    """The raw pytest-benchmark document (checked to have a ``benchmarks`` list)."""
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchmarkJSONError(f"'{p}' does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BenchmarkJSONError(f"cannot read '{p}' as JSON: {e}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("benchmarks"), list):
        raise BenchmarkJSONError(f"'{p}' is not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return raw


def benchmark_to_cell(bench: dict[str, Any]) -> dict[str, Any] | None:
    """One benchmark entry as a cell dict (None if it names no problem, n and mode)."""
    info = dict(bench.get("extra_info") or {})
    params = bench.get("params") or {}
    for key in _REQUIRED:
        if info.get(key) is None and params.get(key) is not None:
            info[key] = params[key]
    if any(info.get(key) is None for key in _REQUIRED):
        return None
    stats = bench.get("stats") or {}
    mode = str(info["mode"])
    n = int(info["n"])
    chunk = info.get("chunk")
    fields = {k: info[k] for k in CELL_FIELDS if k in info}
    fields.update(
        problem=str(info["problem"]),
        kind=str(info.get("kind") or "gradient"),
        n=n,
        requested_n=int(info.get("requested_n") or params.get("n") or n),
        m=int(info.get("m") or 1),
        mode=mode,
        chunk=None if chunk is None else int(chunk),
        passes=info.get(
            "passes", 1 if mode in (FUNCTION, REVERSE) else (math.ceil(n / int(chunk)) if chunk else None)
        ),
        sweeps=info.get("sweeps"),
        status="ok",
        reason=None,
    )
    cell = Cell(**fields)
    cell.time_median_s = _num(stats.get("median"))
    cell.time_q1_s = _num(stats.get("q1"))
    cell.time_q3_s = _num(stats.get("q3"))
    cell.time_iqr_s = _num(stats.get("iqr"))
    if cell.time_iqr_s is None and cell.time_q1_s is not None and cell.time_q3_s is not None:
        cell.time_iqr_s = cell.time_q3_s - cell.time_q1_s
    cell.samples_s = [float(v) for v in stats.get("data") or []]
    cell.loops = stats.get("iterations")
    rounds = stats.get("rounds")
    timed = f"timed by pytest-benchmark: {rounds} rounds x {cell.loops or 1} iteration(s)"
    cell.note = f"{cell.note}; {timed}" if cell.note else timed
    cell.details = dict(cell.details or {})
    cell.details.setdefault("benchmark", bench.get("fullname") or bench.get("name"))
    return cell.as_dict()


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def add_ratios(cells: list[dict[str, Any]]) -> None:
    """Fill ``function_time_s``, ``ratio_to_function`` and the speedups between the cells of one
    (problem, n, m), as ``experiments.runner`` does for a run."""
    groups: dict[tuple[Any, Any, Any], dict[str, dict[str, Any]]] = {}
    for c in cells:
        groups.setdefault((c["problem"], c["n"], c["m"]), {}).setdefault(c["mode"], c)

    for group in groups.values():

        def med(mode: str, group: dict[str, dict[str, Any]] = group) -> float | None:
            c = group.get(mode)
            return c.get("time_median_s") if c is not None and c.get("status") == "ok" else None

        f, fw, fc = med(FUNCTION), med(FORWARD), med(FORWARD_CHUNKED)
        for mode, c in group.items():
            t = med(mode)
            if not t:
                continue
            c["function_time_s"] = f
            if mode != FUNCTION:
                c["ratio_to_function"] = t / f if f else None
                c["speedup_vs_forward"] = fw / t if fw else None
                c["speedup_vs_forward_chunked"] = fc / t if fc else None


def environment(raw: dict[str, Any]) -> dict[str, Any]:
    """The ``environment`` block: compare-modes' own if the file holds it, else from machine_info.

    A file saved by ``--benchmark-save`` also holds it (both go through pytest-benchmark's
    ``pytest_benchmark_update_json`` hook, which ``tests/benchmarks/conftest.py`` implements)."""
    machine = raw.get("machine_info") or {}
    commit = raw.get("commit_info") or {}
    cpu = machine.get("cpu") or {}
    block = raw.get("compare_modes")
    own = block.get("environment") if isinstance(block, dict) else None
    if isinstance(own, dict):
        env = dict(own)
    else:
        system = " ".join(str(v) for v in (machine.get("system"), machine.get("release")) if v)
        env = {
            "cpu_model": cpu.get("brand_raw") or machine.get("processor") or None,
            "cpu_count": cpu.get("count"),
            "machine": machine.get("machine"),
            "os": system or None,
            "python": machine.get("python_version"),
            "python_implementation": machine.get("python_implementation"),
        }
    if commit.get("id"):
        git = dict(env.get("git") or {})
        git.setdefault("commit", commit["id"])
        git.setdefault("dirty", commit.get("dirty"))
        if commit.get("branch"):
            git.setdefault("branch", commit["branch"])
        env["git"] = git
    env["pytest_benchmark"] = {"version": raw.get("version"), "machine_info": machine, "commit_info": commit}
    return env


def problems_in(path: str | Path) -> list[str]:
    """The problems a benchmark file holds, in the order their first benchmark appears."""
    names: list[str] = []
    for bench in read(path)["benchmarks"]:
        cell = benchmark_to_cell(bench) if isinstance(bench, dict) else None
        if cell is not None and cell["problem"] not in names:
            names.append(cell["problem"])
    return names


def _sort_key(c: dict[str, Any], problems: list[str]) -> tuple[Any, ...]:
    """Problems in file order, then n, m and the table order of the modes."""
    mode = MODE_ORDER.index(c["mode"]) if c["mode"] in MODE_ORDER else len(MODE_ORDER)
    return (problems.index(c["problem"]), c["n"], c["m"], mode, c.get("chunk") or 0)


def load_benchmark_json(path: str | Path, problem: str | None = None) -> dict[str, Any]:
    """A pytest-benchmark JSON file as a ``results.json``-like record (see the module docstring).

    ``problem`` keeps that problem's cells only. Raises :class:`BenchmarkJSONError` (a ValueError)
    for a file that is not pytest-benchmark JSON or holds no benchmark naming a problem, n and mode.
    """
    p = Path(path)
    raw = read(p)
    cells, ignored = [], []
    for bench in raw["benchmarks"]:
        cell = benchmark_to_cell(bench) if isinstance(bench, dict) else None
        if cell is None:
            name = (bench.get("fullname") or bench.get("name")) if isinstance(bench, dict) else None
            ignored.append(str(name or "?"))
        elif problem is None or cell["problem"] == problem:
            cells.append(cell)
    if not cells:
        if problem is not None and not ignored and raw["benchmarks"]:
            raise BenchmarkJSONError(
                f"'{p}' holds no benchmark of problem '{problem}' (it holds: {', '.join(problems_in(p))})"
            )
        raise BenchmarkJSONError(
            f"'{p}' holds no compare-modes benchmark (none names a problem, n and mode"
            + (f"; {len(ignored)} other benchmark(s)" if ignored else "")
            + ")"
        )
    names = list(dict.fromkeys(c["problem"] for c in cells))
    cells.sort(key=lambda c: _sort_key(c, names))
    add_ratios(cells)

    env = environment(raw)
    first = next(b for b in raw["benchmarks"] if isinstance(b, dict))
    line = env.get("command_line")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": "complete",
        "status_reason": None,
        "started_at": None,
        "finished_at": raw.get("datetime"),
        "elapsed_s": None,
        "tool": {"name": FORMAT, "version": raw.get("version")},
        "command": {"argv": shlex.split(line) if line else None, "line": line, "cwd": None},
        "settings": {
            "source": FORMAT,
            "file": str(p),
            **(first.get("options") or {}),
            "threads": (raw.get("machine_info") or {}).get("compare_modes_blas_threads"),
        },
        "environment": env,
        "problem": _problem_block(raw, names[0]) if len(names) == 1 else None,
        "problems": names,
        "cells": cells,
        "summary": [],
        "ignored_benchmarks": ignored,
    }
    return clean(doc)


def load_benchmark_runs(path: str | Path) -> list[dict[str, Any]]:
    """One results-like record per problem in the file (a report draws one problem at a time)."""
    return [load_benchmark_json(path, problem=name) for name in problems_in(path)]


def _problem_block(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """results.json's ``problem`` block, from what the benchmarks' extra_info says about it."""
    info: dict[str, Any] = {}
    for bench in raw["benchmarks"]:
        extra = (bench.get("extra_info") or {}) if isinstance(bench, dict) else {}
        if extra.get("problem", (bench.get("params") or {}).get("problem")) == name:
            info = extra
            break
    return {
        "name": name,
        "description": info.get("problem_description"),
        "kind": info.get("kind"),
        "sizes": info.get("problem_sizes"),
        "options": {},
    }
