"""``compare-modes report``: a run's results as ``report.md``, one self-contained ``report.html``,
and its figures (PNG and SVG), regenerated from saved results without re-timing anything.

    compare-modes --inputs 10,100,1000 --report           # a run, then its report in its folder
    compare-modes report RUN_FOLDER                        # the same report again, from results.json
    compare-modes report RUN1 RUN2 RUN3 --out DIR          # several runs (a size sweep, a chunk
                                                           # sweep, a Jacobian grid) in one report
    compare-modes report benchmark.json                    # a pytest-benchmark JSON file

The report holds the environment and exact commands, the methodology, a table per run, the
figures (:mod:`experiments.plots`; a figure whose data is absent is replaced by a sentence
saying what would produce it), "What the article claims and what we measured", and mode advice
from the fitted cost model (:mod:`experiments.fits`). The same results give a byte-identical
report: nothing in it depends on when or where it was generated.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from matplotlib.figure import Figure

from experiments import fits, plots
from experiments import report_render as rr
from experiments.report_data import (
    CHUNK_SWEEP,
    MODE_ORDER,
    Cell,
    ReportError,
    Run,
    cell_at,
    chunk_sweep,
    in_chunk_sweep,
    is_size_sweep,
    jacobian_grid,
    load_run,
    load_runs,
    main_cells,
    series,
    sizes,
    timed,
)
from experiments.tables import human_bytes, human_seconds

PROG = "compare-modes report"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES = "figures"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
GRID_EXAMPLE = "compare-modes --problem tall --inputs 2,8,32,128 --outputs 2,8,32,128 --report"
CHUNK_EXAMPLE = "compare-modes --problem rosenbrock --inputs 200 --chunks 1,2,4,8,12,25,50,100,200 --report"


CAPTIONS = {
    "time": "Median time per {unit} against the number of inputs n (log-log), one line per mode with its "
    "interquartile band, and f alone for reference. Guides: O(n) through {anchor} first point, "
    "O(n²) through forward mode's (chunk 1) first point. The legend gives each mode's fitted "
    "log-log slope over the large-n tail, ± one standard uncertainty. Hollow markers: cells not "
    "timed (over the budget), at their predicted time.",
    "speedup": "Speedup of reverse mode over forward mode (forward time ÷ reverse time; bars from the "
    "quartiles) against n. Dashed: the ideal, forward passes per reverse sweep (n for chunk 1, "
    "⌈n/c⌉ chunked), reached if a reverse sweep cost as much as one forward pass. The stars on "
    "the break-even line mark the crossover n* with its 68% interval (hollow: extrapolated "
    "outside the sizes measured).",
    "audit": "{Unit} time divided by the time of f alone at the same n. The shaded band is the "
    "cheap-gradient principle's 3 to 4 × f for reverse mode (Griewank and Walther, a bound on "
    "operation counts); forward mode's ratio grows with its passes.",
    "counts": "Counted, not timed (the same on any machine): forward passes and reverse sweeps (left), "
    "and primitive evaluations (right), from each cell's checking call.",
    "memory": "Peak memory allocated during one call (tracemalloc), per mode; dotted: reverse mode's tape "
    "alone. Reverse mode keeps every intermediate on its tape until the sweep; forward mode "
    "carries c tangents along with each value and keeps no record of the computation.",
    "chunks": "Forward mode at n = {n} with c tangent directions per pass, median and IQR per chunk size "
    "(top axis: the passes that makes); reverse mode as a horizontal line with its IQR band.",
    "heatmap": "Each cell compares the faster forward mode (chunk 1 or chunked) with reverse mode for a "
    "Jacobian with n inputs and m outputs: red where forward mode wins, blue where reverse mode "
    "wins, the label giving by how much. Forward mode needs ⌈n/c⌉ passes, reverse mode m "
    "sweeps; the dashed line is n = m. Stars: the crossover n* along a row (interpolated "
    "log-log between the two cells where the winner changes), with its 68% interval.",
}


def _x(v: float | None) -> str:
    """A ratio as ``212×``, ``3.4×``, ``0.52×``."""
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:,.0f}×" if v >= 100 else f"{v:.3g}×"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "run"


def _plural(k: int, one: str, many: str | None = None) -> str:
    return f"{k} {one if k == 1 else (many or one + 's')}"


def _range(ns: Sequence[int]) -> str:
    ns = sorted(ns)
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {', '.join(map(str, ns))}"


def _rel(path: Path, out: Path) -> str:
    try:
        return Path(os.path.relpath(path, out)).as_posix()
    except ValueError:  # another drive
        return path.as_posix()


# ------------------------------------------------------------------------------ the report


@dataclass
class Report:
    """The blocks of a report and the figures they show (saved by :func:`write`)."""

    title: str
    blocks: list[rr.Block] = field(default_factory=list)
    figures: list[tuple[str, Figure]] = field(default_factory=list)  # (stem, figure)
    headline: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self, runs: list[Run], out: Path, regenerate: str) -> None:
        self.runs = runs
        self.out = out
        self.regenerate = regenerate
        names = list(dict.fromkeys(r.problem for r in runs))
        self.report = Report(f"Forward vs reverse mode: {', '.join(names)}")
        self.stems: set[str] = set()
        self.figure_no = 0
        self.primary = next(
            (r for r in runs if is_size_sweep(r) and r.kind == "gradient"),
            next((r for r in runs if is_size_sweep(r)), None),
        )

    # ------------------------------------------------------------------------- helpers

    def add(self, *blocks: rr.Block) -> None:
        self.report.blocks.extend(blocks)

    def figure(self, run: Run, kind: str, build: Callable[[], Any], alt: str, caption: str) -> None:
        """A figure, or (if its data is absent) the sentence saying what it needs."""
        try:
            fig = plots.styled(build)
        except plots.NoDataError as e:
            self.add(rr.Note(f"No {alt.lower()} figure: {e}."))
            return
        stem = f"{_slug(run.problem)}-{kind}"
        k = 2
        while stem in self.stems:
            stem = f"{_slug(run.problem)}-{kind}-{k}"
            k += 1
        self.stems.add(stem)
        self.figure_no += 1
        self.report.figures.append((stem, fig))
        self.add(
            rr.Picture(
                f"{FIGURES}/{stem}.png",
                f"{FIGURES}/{stem}.svg",
                alt,
                f"**Figure {self.figure_no}.** {caption}",
            )
        )

    # ------------------------------------------------------------------------ sections

    def build(self) -> Report:
        runs = self.runs
        self.add(rr.Heading(1, self.report.title))
        self.add(
            rr.Para(
                "Generated by `compare-modes` from saved results: nothing here was re-timed. "
                f"Regenerate it with `{self.regenerate}`."
            )
        )
        for r in runs:
            if r.doc.get("status") == "partial":
                self.add(
                    rr.Note(
                        f"**Partial run** ({r.problem}, `{_rel(r.source, self.out)}`): "
                        f"{r.doc.get('status_reason') or 'it did not finish'}. Only the cells "
                        "measured before it stopped are shown."
                    )
                )
        self.at_a_glance()
        self.environment()
        self.methodology()
        for i, r in enumerate(runs, 1):
            self.run_section(i, r)
        self.absent_views()
        self.claims()
        self.advice()
        return self.report

    def at_a_glance(self) -> None:
        lines = headline(self.primary) if self.primary is not None else []
        grid = next(((g, run) for run in self.runs if (g := jacobian_grid(run))), None)
        if grid is not None:
            lines.append(jacobian_headline(grid[1], grid[0][1]))
        self.report.headline = lines
        if lines:
            self.add(rr.Heading(2, "At a glance"), rr.Bullets(lines))

    def environment(self) -> None:
        self.add(rr.Heading(2, "Environment and commands"))
        env = self.runs[0].doc.get("environment") or {}
        if env:
            pools = (
                ", ".join(
                    f"{p.get('internal_api')} {p.get('num_threads')} thread(s)"
                    for p in env.get("thread_pools") or []
                )
                or "none found"
            )
            git = env.get("git") or {}
            rev = (
                f"`{git['commit'][:12]}`" + (" (with uncommitted changes)" if git.get("dirty") else "")
                if git.get("commit")
                else "unknown"
            )
            mem = env.get("memory_available_bytes")
            threads = (self.runs[0].doc.get("settings") or {}).get("threads")
            cpus = env.get("cpus_available") or env.get("cpu_count")
            self.add(
                rr.Bullets(
                    [
                        f"Machine: {env.get('cpu_model', '?')}, {cpus} CPU(s) available, "
                        f"{human_bytes(mem) if mem else '?'} memory available; {env.get('os', '?')}",
                        f"Software: {env.get('python_implementation', 'Python')} {env.get('python', '?')}, "
                        f"NumPy {env.get('numpy', '?')}, modes {env.get('modes', '?')}, "
                        f"compare-modes {env.get('compare_modes', '?')}; source revision {rev}",
                        f"Threads: BLAS pinned to {threads if threads else '?'} during the runs ({pools})",
                    ]
                )
            )
        others = [
            r
            for r in self.runs[1:]
            if (r.doc.get("environment") or {}).get("cpu_model") not in (None, env.get("cpu_model"))
        ]
        if others:
            self.add(
                rr.Note("Runs in this report come from different machines: compare their times with care.")
            )
        rows = []
        for i, r in enumerate(self.runs, 1):
            cmd = r.command or f"(converted from {r.origin})"
            took = r.doc.get("elapsed_s")
            rows.append(
                [
                    str(i),
                    r.problem,
                    f"`{cmd}`",
                    str(r.doc.get("started_at") or "-"),
                    human_seconds(took) if took is not None else "-",
                    str(r.doc.get("status") or "-"),
                    f"[{r.source.name}]({_rel(r.source, self.out)})",
                ]
            )
        self.add(rr.Table(["run", "problem", "command", "started", "took", "status", "data"], rows, {4}))

    def methodology(self) -> None:
        self.add(rr.Heading(2, "Methodology"))
        own = [
            (i, r.doc.get("settings") or {}) for i, r in enumerate(self.runs, 1) if r.origin == "results.json"
        ]
        if own:
            self.add(rr.Para(_methodology_runs(own)))
        bench = [i for i, r in enumerate(self.runs, 1) if r.origin != "results.json"]
        if bench:
            self.add(
                rr.Para(
                    f"Run{'s' if len(bench) > 1 else ''} {', '.join(map(str, bench))} came from a "
                    "pytest-benchmark JSON file (`pytest tests/benchmarks --benchmark-json=FILE`): each cell "
                    "was timed by pytest-benchmark (its rounds and iterations are in the cell's note) and "
                    "reports the median and interquartile range of its rounds; operation counts and checks "
                    "come from the benchmark's untimed call."
                )
            )
        self.add(
            rr.Para(
                f"Fits: a growth slope k (time ~ n^k) is a least-squares line through log median against "
                f"log n over the large-n tail (the largest half of the sizes, at least {fits.TAIL_MIN} when "
                "there are that many); its ± is one standard uncertainty, the fit's standard error combined "
                f"with the spread of the slope over {fits.BOOTSTRAP} bootstrap resamples of each cell's raw "
                "samples (fixed seed, so the report is reproducible). The crossover n*, where reverse mode "
                "starts to beat forward mode, is interpolated log-log between the two sizes where the "
                "speedup crosses 1, or extrapolated from the speedups nearest to it (and flagged) when it "
                "lies outside the sizes measured; its interval is the 16th to 84th percentile over the same "
                "resamples."
            )
        )
        missing = [(r, c) for r in self.runs for c in r.cells if c.get("status") not in ("ok", None)]
        if missing:
            items = [
                f"{_where(c)}, {c.get('mode')}{_chunk(c)}: **{c.get('status')}**: {c.get('reason')}"
                for _, c in missing
            ]
            self.add(
                rr.Para(
                    f"What was not measured, and why ({_plural(len(items), 'cell')}; the figures "
                    "mark these cells, the tables footnote them):"
                ),
                rr.Bullets(items),
            )
        else:
            self.add(rr.Para("Every cell was measured: none was skipped or failed."))

    def run_section(self, i: int, run: Run) -> None:
        cells = run.cells
        ns = sizes(cells)
        grid = jacobian_grid(run)
        chunks = chunk_sweep(run)
        if grid:
            what = (
                f"Jacobian over n = {', '.join(map(str, grid[0]))} inputs and "
                f"m = {', '.join(map(str, grid[1]))} outputs"
            )
        elif chunks and len(ns) == 1:
            what = f"chunk sizes at n = {chunks[0]}"
        else:
            what = _range(ns)
        self.add(rr.Heading(2, f"Run {i}: {run.problem}, {what}"))
        if run.description:
            self.add(rr.Para(f"{run.description}."))
        if run.command:
            self.add(rr.Code(run.command))
        if is_size_sweep(run):
            self.sweep_figures(run)
        if chunks:
            self.chunk_section(run, *chunks)
        if grid:
            title = f"{run.problem}: faster mode over inputs × outputs"
            self.figure(
                run,
                "heatmap",
                lambda: plots.heatmap_figure(cells, grid[0], grid[1], title),
                "Jacobian heat map",
                CAPTIONS["heatmap"],
            )
        if not (is_size_sweep(run) or chunks or grid):
            self.add(
                rr.Note(
                    f"This run measured {_range(ns)} only: the figures against n need two or more "
                    "sizes (for example `--inputs 10,100,1000`)."
                )
            )
        self.table(run)

    def chunk_section(self, run: Run, n: int, chunk_cells: list[Cell]) -> None:
        title = f"{run.problem}: forward-mode time vs chunk size, n = {n}"
        caption = CAPTIONS["chunks"].format(n=n)
        ok = [c for c in chunk_cells if timed(c)]
        rev = cell_at(run.cells, n, None, "reverse")
        if ok:
            best = min(ok, key=lambda c: c["time_median_s"])
            caption += (
                f" The fastest chunk here is c = {best['chunk']} ({human_seconds(best['time_median_s'])}"
            )
            if rev is not None and timed(rev):
                caption += f"; reverse mode {human_seconds(rev['time_median_s'])}"
            caption += ")."
        self.figure(
            run,
            "chunks",
            lambda: plots.chunk_figure(n, chunk_cells, run.cells, title),
            "Chunk-size sweep",
            caption,
        )

    def sweep_figures(self, run: Run) -> None:
        cells = run.cells
        unit = "Jacobian" if run.kind == "jacobian" else "gradient"
        p = run.problem
        anchor = "reverse mode's" if series(cells, "reverse") else "the first"
        builds = {
            "time": lambda: plots.time_figure(cells, f"{p}: {unit} time vs n, by mode"),
            "speedup": lambda: plots.speedup_figure(cells, f"{p}: reverse mode's speedup over forward mode"),
            "audit": lambda: plots.audit_figure(cells, f"{p}: cheap-gradient audit ({unit} time ÷ f's time)"),
            "counts": lambda: plots.counts_figure(cells, f"{p}: operation counts"),
            "memory": lambda: plots.memory_figure(cells, f"{p}: peak memory during one {unit}"),
        }
        alts = {
            "time": "Time vs n",
            "speedup": "Speedup",
            "audit": "Cheap-gradient audit",
            "counts": "Operation counts",
            "memory": "Peak memory",
        }
        for kind, build in builds.items():
            caption = CAPTIONS[kind].format(unit=unit, Unit=unit.capitalize(), anchor=anchor)
            self.figure(run, kind, build, alts[kind], caption)

    def table(self, run: Run) -> None:
        def order(c: Cell) -> tuple[int, int, int, int]:
            mode = MODE_ORDER.index(c["mode"]) if c.get("mode") in MODE_ORDER else 9
            return c.get("n", 0), c.get("m") or 0, mode, c.get("chunk") or 0

        cells = sorted(run.cells, key=order)
        jac = run.kind == "jacobian"
        head = [
            "n",
            *(["m"] if jac else []),
            "mode",
            "chunk",
            "passes",
            "sweeps",
            "median",
            "IQR",
            "× f",
            "× faster than fwd (c=1)",
            "ops",
            "peak memory",
            "check",
        ]
        rows, notes = [], []
        for c in cells:
            if timed(c):
                iqr = c.get("time_iqr_s")
                timing = [
                    human_seconds(c["time_median_s"]),
                    "n/a" if iqr is None else human_seconds(iqr),
                    _x(c.get("ratio_to_function")),
                    _x(c.get("speedup_vs_forward")),
                ]
            else:
                notes.append(f"[{len(notes) + 1}] {_name(c)} at {_where(c)}: {c.get('reason')}")
                timing = [f"{c.get('status')} [{len(notes)}]", "", "", ""]
            rows.append(
                [
                    str(c.get("n")),
                    *([str(c.get("m"))] if jac else []),
                    str(c.get("mode")) + (" (sweep)" if in_chunk_sweep(c) else ""),
                    "-" if c.get("chunk") is None else str(c["chunk"]),
                    _count(c.get("passes")),
                    _count(c.get("sweeps")),
                    *timing,
                    _count(c.get("ops")),
                    human_bytes(c.get("peak_bytes")),
                    _check(c),
                ]
            )
        self.add(rr.Table(head, rows, {i for i, h in enumerate(head) if h != "mode"}))
        if any(in_chunk_sweep(c) for c in cells):
            notes.append(
                "(sweep): a further chunk size timed by `--chunks`, interleaved with and checked "
                "against its own reverse-mode run; the other rows are the run's own cells"
            )
        notes += [f"note: {_name(c)} at {_where(c)}: {c['note']}" for c in cells if c.get("note")]
        if notes:
            self.add(rr.Bullets(notes))

    def absent_views(self) -> None:
        notes = []
        if not any(chunk_sweep(r) for r in self.runs):
            notes.append(
                f"No chunk-size sweep in this report. One run makes it: `{CHUNK_EXAMPLE}` (forward "
                "mode at each chunk size, at one n); add its folder to `compare-modes report`."
            )
        if not any(jacobian_grid(r) for r in self.runs):
            notes.append(
                f"No Jacobian heat map in this report: it needs a Jacobian problem over a grid of "
                f"inputs and outputs, for example `{GRID_EXAMPLE}`."
            )
        if self.primary is None:
            notes.append(
                "No size sweep in this report: the figures against n need a run at two or more "
                "sizes, for example `compare-modes --inputs 10,100,1000 --report`."
            )
        if notes:
            self.add(rr.Heading(2, "Views not in this report"), *(rr.Note(t) for t in notes))

    # ------------------------------------------------------------------ article and advice

    def claims(self) -> None:
        r = self.primary
        self.add(rr.Heading(2, "What the article claims and what we measured"))
        if r is None:
            self.add(rr.Para("This report has no size sweep, so it cannot test how the modes scale with n."))
            return
        cells = main_cells(r.cells)
        items = [
            t
            for t in (_claim_passes(cells), _claim_growth(cells), _claim_chunked(cells), _claim_cheap(cells))
            if t
        ]
        self.add(rr.Bullets(items) if items else rr.Para("The sweep holds too few timed cells to compare."))

    def advice(self) -> None:
        self.add(rr.Heading(2, "Mode advice"))
        if self.primary is not None:
            self.add(rr.Para(_advice_gradient(self.primary)))
        for run in self.runs:
            if (sweep := chunk_sweep(run)) is not None and (text := _advice_chunks(run, *sweep)):
                self.add(rr.Para(text))
        grid = next(((g, run) for run in self.runs if (g := jacobian_grid(run))), None)
        if grid is not None:
            self.add(rr.Para(_advice_jacobian(grid[1], *grid[0])))
        else:
            self.add(
                rr.Para(
                    "With m outputs the balance moves: a Jacobian takes ⌈n/c⌉ forward passes but m reverse "
                    "sweeps, so forward mode wins when outputs outnumber inputs (this report has no Jacobian "
                    f"grid to measure where; `{GRID_EXAMPLE}` makes one)."
                )
            )


# ------------------------------------------------------------------- article claims and advice


def _methodology_runs(settings: list[tuple[int, dict[str, Any]]]) -> str:
    """How compare-modes measured its runs, with each run's own repeats, budget and tolerance."""

    def value(key: str, default: Any, fmt: str, unit: str = "") -> str:
        got: dict[str, list[int]] = {}
        for i, st in settings:
            got.setdefault(format(st.get(key, default), fmt) + unit, []).append(i)
        if len(got) == 1:
            return next(iter(got))
        return ", ".join(
            f"{v} (run{'s' if len(ix) > 1 else ''} {', '.join(map(str, ix))})" for v, ix in got.items()
        )

    tol, repeat = value("tolerance", 1e-8, "g"), value("repeat", 7, "d")
    budget = value("budget", 10, "g", " s")
    return (
        "Each cell (one problem, one size, one mode) is measured the same way. A first call, apart from "
        "the samples, warms the code up, counts the operations (`modes.counting()`) and checks the "
        f"result: forward and reverse mode must agree to a relative {tol}, and match the closed-form "
        "derivative where the problem has one. Peak memory is measured in a separate run under "
        "`tracemalloc`. Then f alone and every mode are timed with their repeats interleaved round by "
        f"round (so every ratio compares like with like), {repeat} samples per cell unless the budget "
        "allows fewer (at least 3, or a single call for a call too long to repeat); a sample is a "
        "`timeit` loop of at least 0.2 s, with garbage collected before it, outside the timed region. A "
        "cell reports the **median** time per call and the **interquartile range** (Q1 to Q3) of its "
        "samples; a cell timed by one call has no IQR (shown as n/a). Before each size, each mode's cost "
        f"is predicted from smaller sizes; a cell that would pass the budget per cell, {budget}, is "
        "skipped rather than run, and says which n would fit. BLAS threads are pinned (see above)."
    )


def _claim_passes(cells: list[Cell]) -> str | None:
    """The article's "thrice": passes and operation counts, then what wall time says."""
    counted = _count_pairs(cells)
    if not counted:
        return None
    n0, f0, r0 = next((t for t in counted if t[0] == 3), counted[0])  # the article's three inputs
    exact = all(f["ops"] == f["passes"] * rv["ops"] for _, f, rv in counted)
    ratios = ", ".join(f"{_ratio(f['ops'] / rv['ops'])} at n = {n}" for n, f, rv in counted)
    text = (
        '**"Forward mode goes through the graph once per input; reverse mode once."** (With the '
        "article's three inputs, forward mode goes through it thrice.) The counts agree exactly: at "
        f"n = {n0} forward mode (chunk 1) made {_plural(f0['passes'], 'pass', 'passes')} and evaluated "
        f"{f0['ops']:,} primitives against reverse mode's one sweep over {r0['ops']:,}; forward mode "
        f"evaluates {'exactly n' if exact else 'about n'} times as many primitives at every n "
        f"({ratios})."
    )
    s0, rho = _speedup(cells, n0, "forward"), _pass_cost(cells, n0)
    if s0 is not None:
        if s0 < 0.9 * n0:
            text += (
                f" Wall time says less than the counts: at n = {n0} reverse mode was {_x(s0)} faster, "
                f"not {n0}×"
            )
        else:
            text += f" Wall time agrees: at n = {n0} reverse mode was {_x(s0)} faster (the counts say {n0}×)"
        if rho is not None:
            text += (
                f"; one reverse gradient (recording the tape, then sweeping it back) costs as much as "
                f"{rho:.2g} forward passes here"
            )
        text += "."
    return text


def _claim_growth(cells: list[Cell]) -> str | None:
    fw, rv = series(cells, "forward"), series(cells, "reverse")
    kf, kr, ks = fits.fit_slope(fw), fits.fit_slope(rv), fits.fit_ratio_slope(fw, rv)
    if ks is None:
        return None
    return (
        '**"Reverse mode\'s advantage grows with the number of inputs."** Measured speedups of '
        f"reverse over forward mode (chunk 1): {_speedup_list(cells, 'forward')}. Forward mode's time "
        f"grows like n^{kf.text() if kf else '?'}, reverse mode's like n^{kr.text() if kr else '?'}, so "
        f"the speedup grows like n^{ks.text()} (fitted directly over "
        f"n = {', '.join(map(str, ks.sizes))}; the ideal is n^1)."
    )


def _claim_chunked(cells: list[Cell]) -> str | None:
    kc = fits.fit_ratio_slope(series(cells, "forward-chunked"), series(cells, "reverse"))
    if kc is None:
        return None
    return (
        "**Chunked forward mode** (c tangent directions per pass, ⌈n/c⌉ passes) narrows the gap by "
        f"about c but does not change how it grows: speedups {_speedup_list(cells, 'forward-chunked')}, "
        f"growing like n^{kc.text()}."
    )


def _claim_cheap(cells: list[Cell]) -> str | None:
    rv, fn = series(cells, "reverse"), series(cells, "function")
    f_at = {c["n"]: c["time_median_s"] for c in fn}
    ratios = [c["time_median_s"] / f_at[c["n"]] for c in rv if c["n"] in f_at]
    if not ratios:
        return None
    k = fits.fit_ratio_slope(rv, fn)
    trend = ""
    if k is not None:
        trend = f"; the ratio grows like n^{k.text()}"
        if k.error is not None and abs(k.slope) < max(0.15, 2 * k.error):
            trend += ", so a reverse gradient costs a constant times f, as the principle says"
    return (
        '**"A gradient costs a small constant times the function"** (the cheap-gradient principle: '
        "3 to 4 × f in operation counts, Griewank and Walther). In wall time a reverse gradient took "
        f"{_x(min(ratios))} to {_x(max(ratios))} the time of f alone{trend}. The constant is large "
        "because this engine is interpreted Python: every operation of f becomes a recorded tape entry "
        "and an adjoint update, while f alone does plain float arithmetic."
    )


def _advice_gradient(run: Run) -> str:
    cells = main_cells(run.cells)
    rv = series(cells, "reverse")
    parts = []
    for mode, name in (("forward", "forward mode (chunk 1)"), ("forward-chunked", "chunked forward mode")):
        co = fits.crossover(series(cells, mode), rv)
        if co is None:
            continue
        n, speedup = co.closest
        if co.how == "below" and not co.found:
            parts.append(
                f"reverse mode beat {name} at every n measured ({co.sizes[0]} and up; closest at "
                f"n = {n}, {_x(speedup)}), so {name} has no range of n where it wins"
            )
        elif co.n_star is None:
            parts.append(
                f"{name} beat reverse mode at every n measured (up to {co.sizes[-1]}) and the "
                "speedup does not grow toward 1, so reverse mode has no range of n where it wins"
            )
        elif co.how == "below":
            parts.append(
                f"reverse mode beat {name} at every n measured ({co.sizes[0]} and up); "
                f"extrapolated, {name} would win only below n* ≈ {_n(co)}"
            )
        elif co.how == "above":
            parts.append(
                f"{name} won at every n measured (up to {co.sizes[-1]}); extrapolated, reverse "
                f"mode would win above n* ≈ {_n(co)}"
            )
        else:
            parts.append(f"{name} wins below n* ≈ {_n(co)} inputs and reverse mode above")
    text = f"For **{run.problem}** on this machine: "
    text += "; ".join(parts) + "." if parts else "the run has too few timed sizes for advice."
    model = []
    for mode, name in (("forward", "forward"), ("reverse", "reverse")):
        fit = fits.fit_slope(series(cells, mode))
        if fit is not None:
            model.append(
                f"t_{name}(n) ≈ {human_seconds(fit.at(1))} × n^{fit.slope:.2f} "
                f"(fitted over n = {', '.join(map(str, fit.sizes))})"
            )
    if model:
        text += " The fitted cost model: " + ", ".join(model) + "."
    rho = [(n, p) for n in sizes(cells) if (p := _pass_cost(cells, n)) is not None]
    if rho:
        lo, hi = min(p for _, p in rho), max(p for _, p in rho)
        text += (
            f" One reverse gradient costs as much as {lo:.2g} to {hi:.2g} forward passes (over "
            f"n = {rho[0][0]} to {rho[-1][0]}): reverse mode wins as soon as forward mode needs more "
            "passes than that."
        )
    return text


def _advice_chunks(run: Run, n: int, chunk_cells: list[Cell]) -> str | None:
    """What the chunk-size sweep says about forward mode's chunk."""
    ok = [c for c in chunk_cells if timed(c)]
    if len(ok) < 2:
        return None
    best = min(ok, key=lambda c: c["time_median_s"])
    text = (
        f"Chunk size ({run.problem}, n = {n}): forward mode was fastest with c = {best['chunk']} "
        f"({_plural(best['passes'] or 1, 'pass', 'passes')}, {human_seconds(best['time_median_s'])})"
    )
    default = next((c for c in ok if c.get("mode") == "forward-chunked" and not in_chunk_sweep(c)), None)
    one = next((c for c in ok if c.get("chunk") == 1), None)
    others = [
        f"{_x(c['time_median_s'] / best['time_median_s'])} faster than c = {c['chunk']}{label}"
        for c, label in ((default, " (the default)"), (one, ""))
        if c is not None and c is not best
    ]
    text += (", " + " and ".join(others)) if others else ""
    rev = cell_at(run.cells, n, None, "reverse")
    if rev is not None and timed(rev):
        faster = rev["time_median_s"] < best["time_median_s"]
        text += (
            f"; reverse mode ({human_seconds(rev['time_median_s'])}) was "
            f"{'still faster' if faster else 'slower'}"
        )
    return text + "."


def _advice_jacobian(run: Run, ns: list[int], ms: list[int]) -> str:
    wins: dict[str, list[tuple[int, int]]] = {"forward": [], "reverse": []}
    for n in ns:
        for m in ms:
            r = plots.forward_over_reverse(run.cells, n, m)
            if r is not None:
                wins["reverse" if r > 1 else "forward"].append((n, m))
    total = len(wins["forward"]) + len(wins["reverse"])
    tall = [(n, m) for n, m in wins["forward"] + wins["reverse"] if m > n]
    tall_fwd = [p for p in tall if p in wins["forward"]]
    text = (
        f"With several outputs (a Jacobian, measured on **{run.problem}**): forward mode needs ⌈n/c⌉ "
        "passes whatever m is, reverse mode one sweep per output. Over the grid forward mode won "
        f"{len(wins['forward'])} and reverse mode {len(wins['reverse'])} of {total} cells; with more "
        f"outputs than inputs (m > n) forward mode won {len(tall_fwd)} of {len(tall)}."
    )
    if wins["reverse"]:
        least = min(n / m for n, m in wins["reverse"])
        cells = ", ".join(f"({n}, {m})" for n, m in wins["reverse"])
        text += (
            f" Reverse mode won only at (n, m) = {cells}: where inputs outnumber outputs at least "
            f"{least:.3g} to 1."
        )
    per = [
        (m, co.n_star / m)
        for m in ms
        if (co := plots.jacobian_crossover(run.cells, m)) is not None and co.found and co.how == "measured"
    ]
    if per:
        lo, hi = min(k for _, k in per), max(k for _, k in per)
        span = f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g} to {hi:.2g}"
        text += (
            f" Where the grid brackets it, the crossover grows with the outputs: n* ≈ {span} × m "
            f"(measured at m = {', '.join(str(m) for m, _ in per)}), so for this function reverse mode "
            f"wins once inputs outnumber outputs about {hi:.2g} to 1."
        )
    return text + (
        " Prefer forward mode when outputs outnumber inputs, reverse mode for many inputs and few outputs."
    )


# ----------------------------------------------------------------------- numbers for the text


def _where(c: Cell) -> str:
    return f"n = {c.get('n')}" + (f", m = {c.get('m')}" if c.get("kind") == "jacobian" else "")


def _ratio(r: float) -> str:
    return f"{r:,.0f}" if r >= 10 else f"{r:.3g}"


def _name(c: Cell) -> str:
    return f"{c.get('mode')}{_chunk(c)}"


def _chunk(c: Cell) -> str:
    return f" (chunk {c['chunk']})" if c.get("mode") == "forward-chunked" and c.get("chunk") else ""


def _count(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _check(c: Cell) -> str:
    d = c.get("max_rel_diff")
    if d is None:
        r = c.get("ref_rel_diff")
        return "-" if r is None else f"ref {r:.0e}"
    return f"{'yes' if c.get('agrees') else 'NO'} {d:.0e}"


def _n(co: fits.Crossover) -> str:
    s = f"{co.n_star:.2g}" if co.n_star < 10 else f"{co.n_star:,.0f}"
    if co.low is not None and co.high is not None:
        lo = f"{co.low:.2g}" if co.low < 10 else f"{co.low:,.0f}"
        hi = f"{co.high:.2g}" if co.high < 10 else f"{co.high:,.0f}"
        s += f" (68% interval {lo} to {hi})"
    return s


def _count_pairs(cells: list[Cell]) -> list[tuple[int, Cell, Cell]]:
    """(n, forward cell, reverse cell) where both have operation counts."""
    out = []
    for n in sizes(cells):
        f, r = cell_at(cells, n, None, "forward"), cell_at(cells, n, None, "reverse")
        if f and r and f.get("ops") and r.get("ops") and f.get("passes"):
            out.append((n, f, r))
    return out


def _speedup(cells: list[Cell], n: int, mode: str) -> float | None:
    f, r = cell_at(cells, n, None, mode), cell_at(cells, n, None, "reverse")
    if f and r and timed(f) and timed(r):
        return f["time_median_s"] / r["time_median_s"]
    return None


def _estimate(c: Cell | None) -> float | None:
    if c is None:
        return None
    if timed(c):
        return c["time_median_s"]
    if c.get("status") == "skipped":
        return c.get("first_call_s") or c.get("predicted_time_s")
    return None


def _speedup_list(cells: list[Cell], mode: str) -> str:
    """``2.3× at n = 3, ..., ~160× at n = 300`` (``~``: estimated from a prediction)."""
    parts, guessed = [], False
    for n in sizes(cells):
        s = _speedup(cells, n, mode)
        if s is not None:
            parts.append(f"{_x(s)} at n = {n}")
            continue
        f, r = cell_at(cells, n, None, mode), cell_at(cells, n, None, "reverse")
        tf, tr = _estimate(f), _estimate(r)
        if tf and tr:
            parts.append(f"~{_x(tf / tr)} at n = {n}")
            guessed = True
    return ", ".join(parts) + (" (~: estimated, one mode was over the budget)" if guessed else "")


def _pass_cost(cells: list[Cell], n: int) -> float | None:
    """One reverse gradient's time in forward passes (chunk 1) at n."""
    f, r = cell_at(cells, n, None, "forward"), cell_at(cells, n, None, "reverse")
    if f and r and timed(f) and timed(r) and f.get("passes"):
        return r["time_median_s"] / (f["time_median_s"] / f["passes"])
    return None


def _winner(cells: list[Cell], n: int, m: int) -> str | None:
    fw = [c for c in (cell_at(cells, n, m, k) for k in ("forward", "forward-chunked")) if c and timed(c)]
    rev = cell_at(cells, n, m, "reverse")
    if not fw or rev is None or not timed(rev):
        return None
    return "forward" if min(c["time_median_s"] for c in fw) < rev["time_median_s"] else "reverse"


def jacobian_headline(run: Run, ms: Sequence[int]) -> str:
    """Where reverse mode starts to win along each output count m of a Jacobian grid."""
    found, none = [], []
    for m in ms:
        co = plots.jacobian_crossover(run.cells, m)
        if co is None:
            continue
        if co.found and co.how == "measured":
            found.append(f"n* ≈ {_n(co)} with m = {m}")
        elif co.found:
            past = f"past n = {co.sizes[-1]}" if co.how == "above" else f"below n = {co.sizes[0]}"
            found.append(f"n* ≈ {_n(co)} with m = {m} (extrapolated {past})")
        else:
            none.append((m, co))
    text = f"Jacobian of {run.problem} (n inputs, m outputs): "
    text += ("reverse mode starts to beat the faster forward mode at " + ", ".join(found)) if found else ""
    fwd = [m for m, co in none if co.how == "above"]
    rev = [m for m, co in none if co.how == "below"]
    if fwd:
        text += ("; " if found else "") + (
            f"with m = {', '.join(map(str, fwd))} forward mode won at every n "
            f"measured (up to {max(jacobian_grid(run)[0])})"
        )
    if rev:
        joined = ", ".join(map(str, rev))
        text += ("; " if found or fwd else "") + f"with m = {joined} reverse mode won at every n"
    return text + "."


def headline(run: Run) -> list[str]:
    """The headline figures of a size sweep: speedups at each n, fitted slopes, crossover n*."""
    cells = main_cells(run.cells)
    out = []
    rv = series(cells, "reverse")
    for mode, name in (("forward", "forward mode (chunk 1)"), ("forward-chunked", "chunked forward mode")):
        fw = series(cells, mode)
        if not fw or not rv:
            continue
        co = fits.crossover(fw, rv)
        ks = fits.fit_ratio_slope(fw, rv)
        text = f"Speedup of reverse mode over {name} on {run.problem}: {_speedup_list(cells, mode)}"
        if ks is not None:
            text += f"; it grows like n^{ks.text()}"
        if co is not None:
            text += f"; crossover: {co.text()}"
        out.append(text + ".")
    slopes = []
    for mode in ("function", "forward", "forward-chunked", "reverse"):
        fit = fits.fit_slope(series(cells, mode))
        if fit is not None:
            slopes.append(f"{plots.LABEL[mode]} n^{fit.text()}")
    if slopes:
        out.append("Fitted growth of the time per call (large-n tail): " + ", ".join(slopes) + ".")
    return out


# ---------------------------------------------------------------------------------- writing


def build(runs: Sequence[Run], out: str | Path, regenerate: str) -> Report:
    """The report of ``runs`` (its blocks, and its figures drawn); nothing is written."""
    if not runs:
        raise ReportError("nothing to report: no runs given")
    return _Builder(list(runs), Path(out), regenerate).build()


def write(runs: Sequence[Run], out: str | Path, regenerate: str) -> list[Path]:
    """Write ``report.md``, ``report.html`` and ``figures/*.png|svg`` into ``out``; returns the paths."""
    folder = Path(out)
    report = build(runs, folder, regenerate)
    written: list[Path] = []
    for stem, fig in report.figures:
        written += plots.save(fig, folder / FIGURES, stem)
    md = folder / REPORT_MD
    md.write_text(rr.markdown(report.blocks), encoding="utf-8")
    page = folder / REPORT_HTML
    page.write_text(rr.page(report.blocks, folder, report.title), encoding="utf-8")
    return [md, page, *written]


def regenerate_command(runs: Sequence[Run], out: str | Path | None) -> str:
    """The command that makes this report again (the runs as they recorded their folders)."""
    parts = ["compare-modes", "report"]
    for r in runs:
        parts.append(r.folder if r.origin == "results.json" else str(r.source))
    parts = list(dict.fromkeys(parts))
    if out is not None:
        parts += ["--out", str(out)]
    return " ".join(_quote(p) for p in parts)


def _quote(s: str) -> str:
    return s if re.fullmatch(r"[A-Za-z0-9_./:=,+-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def report_folder(folder: str | Path) -> Path:
    """Report the run in ``folder`` into that folder (what ``compare-modes --report`` does)."""
    run = load_run(folder)
    write([run], folder, regenerate_command([run], None))
    return Path(folder) / REPORT_MD


# -------------------------------------------------------------------------------------- CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ReportError(f"{message} (see '{PROG} --help')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Write report.md, a self-contained report.html and the figures "
        "(PNG and SVG) from saved results; nothing is re-timed.",
        epilog=f"examples:\n  {PROG} results/runs/20250101-120000-rosenbrock-n10-100-1000\n"
        f"  {PROG} RUN1 RUN2 RUN3 --out results/reference\n  {PROG} benchmark.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="a run folder, its results.json, or a pytest-benchmark JSON file; several make one report",
    )
    p.add_argument(
        "--out", type=Path, metavar="DIR", help="where to write the report (default: the first PATH's folder)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = build_parser().parse_args(args)
        runs = [r for p in ns.paths for r in load_runs(p)]
        first = Path(ns.paths[0])
        out = ns.out if ns.out is not None else (first if first.is_dir() else first.parent)
        out.mkdir(parents=True, exist_ok=True)
        paths = write(runs, out, regenerate_command(runs, ns.out))
    except SystemExit as e:  # --help
        return int(e.code or 0) if not isinstance(e.code, str) else EXIT_USAGE
    except ReportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"{PROG}: error: cannot write the report: {e}", file=sys.stderr)
        return EXIT_FAILURE
    if not ns.quiet:
        print(
            f"{PROG}: wrote {paths[0]} and {paths[1]} with {_plural(len(paths[2:]) // 2, 'figure')}",
            file=sys.stderr,
        )
    return EXIT_OK


__all__ = [
    "CHUNK_SWEEP",
    "REPORT_HTML",
    "REPORT_MD",
    "Report",
    "build",
    "headline",
    "main",
    "regenerate_command",
    "report_folder",
    "write",
]
