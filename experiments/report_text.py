"""The report's words: figure captions, the headline, the article's claims against what was
measured, mode advice, and the number phrases they are made of. Each function reads cells (as
results.json holds them) and returns text; :mod:`experiments.report_sections` places it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from experiments import budget as bud
from experiments import fits, plots
from experiments.human import human_bytes, human_seconds, plural, times_md
from experiments.report_data import (
    TAPE_MODES,
    Cell,
    Run,
    bytes_per_op,
    cell_at,
    in_chunk_sweep,
    jacobian_grid,
    main_cells,
    no_bytes_per_op,
    series,
    sizes,
    timed,
)
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, REVERSE, REVERSE_CHUNKED, REVERSE_REPLAY

GRID_EXAMPLE = "compare-modes --problem tall --inputs 2,8,32,128 --outputs 2,8,32,128 --report"
CHUNK_EXAMPLE = "compare-modes --problem rosenbrock --inputs 200 --chunks 1,2,4,8,12,25,50,100,200 --report"


CAPTIONS = {
    "time": "Median time per {unit} against the number of inputs n (log-log), one line per mode with its "
    "interquartile band, and f alone for reference. Guides: O(n) through {anchor} first point, "
    "O(n²) through forward mode's (chunk 1) first point. The legend gives each mode's fitted "
    "log-log slope over the large-n tail, ± one standard uncertainty. Hollow markers: cells not "
    "timed (over the budget), at their predicted time.",
    "time-size": "Median time per {unit} against the problem size ({size}, as `--sizes` gave it; log-log) "
    "at a fixed input count, n = {n}: one line per mode with its interquartile band, and f alone for "
    "reference. With n fixed, forward mode makes the same passes at every size, so each mode's time "
    "grows with the cost of f; the legend gives each mode's fitted log-log slope against the size over "
    "the large-size tail, ± one standard uncertainty, and the dotted guide is O(size) through "
    "{anchor} first point. Hollow markers: cells not timed (over the budget), at their predicted time.",
    "speedup": "Speedup of reverse mode over forward mode (forward time ÷ reverse time; bars from the "
    "quartiles) against n. Dashed: the ideal, forward passes per reverse sweep (n for chunk 1, "
    "⌈n/c⌉ chunked), reached if a reverse sweep cost as much as one forward pass. The stars on "
    "the break-even line mark the crossover n* with its 68% interval (hollow: extrapolated "
    "outside the sizes measured).",
    "speedup-chunked": " Pink, with plus markers: chunked forward mode ÷ chunked reverse mode, ⌈n/c⌉ "
    "forward passes against ⌈m/c⌉ reverse sweeps, each carrying c directions (the fair fight for a "
    "Jacobian, as in the heat map); its ideal is ⌈n/c⌉ / ⌈m/c⌉. The other lines compare against "
    "reverse mode's m sweeps.",
    "audit-jacobian": "Jacobian time divided by the time of f alone at the same n. No cheap-gradient "
    "band: that bound (3 to 4 × f) is for one gradient, one reverse sweep, while a Jacobian of m "
    "outputs takes m reverse sweeps or ⌈n/c⌉ forward passes.",
    "audit": "{Unit} time divided by the time of f alone at the same n. The shaded band is the "
    "cheap-gradient principle's 3 to 4 × f for reverse mode (Griewank and Walther, a bound on "
    "operation counts); forward mode's ratio grows with its passes.",
    "counts": "Counted, not timed (the same on any machine): forward passes and reverse sweeps (left), "
    "and primitive evaluations (right), from each cell's checking call.",
    "memory": "Peak memory allocated during one call (tracemalloc), per mode, in KiB and MiB as in the "
    "tables; dotted: the objects reverse mode's tape holds (modes' estimate, sys.getsizeof of its "
    "entries and values; it includes the inputs and other objects made before the call, which the "
    "peak does not, so it can lie above it); dashed with hollow markers: forward mode with chunk 1, "
    "drawn over chunked forward mode, which often needs the same memory. Reverse mode keeps every "
    "intermediate on its tape until the sweep; forward mode "
    "carries c tangents along with each value and keeps no record of the computation.",
    "chunks": "Forward mode at n = {n} with c tangent directions per pass, median and IQR per chunk size "
    "(top axis: the passes that makes); reverse mode as a horizontal line with its IQR band; the "
    "dotted vertical line marks the chunk the run chose by default (modes.choose_chunk, as the "
    "engine then stood).",
    "heatmap": "Each cell compares the faster forward mode (chunk 1 or chunked) with the faster reverse "
    "mode (one sweep per output, or chunked) for a Jacobian with n inputs and m outputs: red where "
    "forward mode wins, blue where reverse mode wins, the label giving by how much. Forward mode "
    "needs ⌈n/c⌉ passes carrying c tangents, reverse mode m sweeps, or ⌈m/c⌉ sweeps carrying c "
    "cotangents when chunked; the dashed line is n = m. Stars: the crossover n* along a row "
    "(interpolated log-log between the two cells where the winner changes), with its 68% interval.",
}


def methodology_runs(settings: list[tuple[int, dict[str, Any]]]) -> str:
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
    budget = value("budget", bud.DEFAULT_BUDGET_S, "g", " s")
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
        "samples; a cell with fewer than 3 samples has no IQR (shown as n/a). Before each size, each "
        f"mode's cost is predicted from smaller sizes; a cell that would pass the budget per cell, {budget}, "
        "is skipped rather than run, and says which n would fit. BLAS threads are pinned (see above)."
    )


#: The report lists this many of the predictions farthest off (every cell's note has its own).
MISSES_LISTED = 5


def prediction_check(runs: Sequence[tuple[float, list[Cell]]]) -> str | None:
    """Each run's predictions against what was then measured: how many timed cells came within
    ``budget.PREDICTION_SLACK`` of their prediction, which did not, and which overran the budget
    (their one call cut off: the prediction was short by more than budget / prediction). ``runs``
    holds each run's budget (seconds) and cells."""
    slack = bud.PREDICTION_SLACK
    checked, within, misses, overran, unrun = 0, 0, [], [], 0
    for budget, cells in runs:
        for c in main_cells(cells):
            p = c.get("predicted_time_s")
            if not p:
                continue
            if timed(c):
                checked += 1
                r = c["time_median_s"] / p
                if 1 / slack <= r <= slack:
                    within += 1
                else:
                    misses.append(
                        (
                            abs(math.log(r)),
                            f"{cell_name(c)} at {where(c)}, predicted {human_seconds(p)}, measured "
                            f"{human_seconds(c['time_median_s'])} ({r:.2g}× the prediction)",
                        )
                    )
            elif str(c.get("reason") or "").startswith("one call did not finish"):
                overran.append(
                    f"{cell_name(c)} at {where(c)}, predicted {human_seconds(p)}, did not finish within "
                    f"the {budget:g} s budget (more than {budget / p:.2g}× the prediction)"
                )
            elif c.get("status") == "skipped" and str(c.get("reason") or "").startswith("predicted"):
                unrun += 1
    if not (checked or overran):
        return None
    text = (
        "**Predictions checked against what was then measured.** Of "
        f"{plural(checked, 'cell')} predicted before {'it' if checked == 1 else 'they'} ran and then "
        f"timed, {within} came within "
        f"{slack:g}× of the prediction"
    )
    if misses:
        worst = [t for _, t in sorted(misses, reverse=True)[:MISSES_LISTED]]
        more = len(misses) - len(worst)
        text += f"; {len(misses)} were off by more, the farthest: " + "; ".join(worst)
        text += f" (and {more} more)" if more else ""
    if overran:
        text += "; over the budget although predicted under it: " + "; ".join(overran)
    if unrun:
        text += (
            f". {plural(unrun, 'cell was', 'cells were')} skipped on a prediction alone (not run, so not "
            "checked); a 'would fit' extrapolated past the sizes a mode was timed at says so"
        )
    return text + "."


def claim_passes(cells: list[Cell]) -> str | None:
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
        f"n = {n0} forward mode (chunk 1) made {plural(f0['passes'], 'pass', 'passes')} and evaluated "
        f"{f0['ops']:,} primitives against reverse mode's one sweep over {r0['ops']:,}; forward mode "
        f"evaluates {'exactly n' if exact else 'about n'} times as many primitives at every n "
        f"({ratios})."
    )
    s0, rho = _speedup(cells, n0, FORWARD), _pass_cost(cells, n0)
    if s0 is not None:
        if s0 < 0.9 * n0:
            text += (
                f" Wall time says less than the counts: at n = {n0} reverse mode was {times_md(s0)} faster, "
                f"not {n0}×"
            )
        else:
            text += (
                f" Wall time agrees: at n = {n0} reverse mode was {times_md(s0)} faster "
                f"(the counts say {n0}×)"
            )
        if rho is not None:
            text += (
                f"; one reverse gradient (recording the tape, then sweeping it back) costs as much as "
                f"{rho:.2g} forward passes here"
            )
        text += "."
    return text


def claim_jacobian(run: Run) -> str:
    """What a Jacobian sweep says instead of the article's gradient claims: forward passes
    against reverse sweeps, and the measured speedup against its ideal n/m."""
    cells = main_cells(run.cells)
    text = (
        f"The article's claims are about gradients (one output); **{run.problem}** has outputs m = "
        f"{_ms(cells)}, so its Jacobian takes ⌈n/c⌉ forward passes or m reverse sweeps, and the ideal "
        "speedup of reverse mode over forward mode (chunk 1) is n/m, not n."
    )
    rows = []
    for n in sizes(cells):
        f, r = cell_at(cells, n, None, FORWARD), cell_at(cells, n, None, REVERSE)
        s = _speedup(cells, n, FORWARD)
        if f is None or r is None or s is None or not f.get("passes") or not r.get("sweeps"):
            continue
        rows.append(
            f"at n = {n}: {plural(f['passes'], 'forward pass', 'forward passes')} against "
            f"{plural(r['sweeps'], 'reverse sweep')}, ideal {f['passes'] / r['sweeps']:.3g}×, "
            f"measured {times_md(s)}"
        )
    if rows:
        text += " Measured: " + "; ".join(rows) + "."
    rho = [(n, p) for n in sizes(cells) if (p := _pass_cost(cells, n)) is not None]
    if rho:
        text += f" {_sweep_cost(rho)}."
    return text


def _ms(cells: list[Cell]) -> str:
    ms = sorted({c["m"] for c in cells if isinstance(c.get("m"), int)})
    return ", ".join(map(str, ms)) or "?"


def _sweep_cost(rho: list[tuple[int, float]]) -> str:
    """``One reverse sweep costs as much as 1.5 forward passes (at n = 100)``."""
    lo, hi = f"{min(p for _, p in rho):.2g}", f"{max(p for _, p in rho):.2g}"
    span = lo if lo == hi else f"{lo} to {hi}"
    at = f"n = {rho[0][0]}" if len(rho) == 1 else f"n = {rho[0][0]} to {rho[-1][0]}"
    return f"One reverse sweep costs as much as {span} forward passes (at {at})"


def claim_growth(cells: list[Cell]) -> str | None:
    fw, rv = series(cells, FORWARD), series(cells, REVERSE)
    kf, kr, ks = fits.fit_slope(fw), fits.fit_slope(rv), fits.fit_ratio_slope(fw, rv)
    if ks is None:
        if len({c["n"] for c in fw} & {c["n"] for c in rv}) < 2:
            return None
        return (
            '**"Reverse mode\'s advantage grows with the number of inputs."** Measured speedups of '
            f"reverse over forward mode (chunk 1): {_speedup_list(cells, 'forward')}. A growth rate needs "
            f"at least {fits.SLOPE_MIN_SIZES} sizes timed in both modes; this run has fewer, so no slope "
            "is fitted."
        )
    return (
        '**"Reverse mode\'s advantage grows with the number of inputs."** Measured speedups of '
        f"reverse over forward mode (chunk 1): {_speedup_list(cells, 'forward')}. Forward mode's time "
        f"grows like n^{kf.text() if kf else '?'}, reverse mode's like n^{kr.text() if kr else '?'}, so "
        f"the speedup grows like n^{ks.text()} (fitted directly over "
        f"n = {', '.join(map(str, ks.sizes))}; the ideal is n^1)."
    )


def claim_chunked(cells: list[Cell]) -> str | None:
    kc = fits.fit_ratio_slope(series(cells, FORWARD_CHUNKED), series(cells, REVERSE))
    if kc is None:
        return None
    chunked = series(cells, FORWARD_CHUNKED)
    one_pass = all(c.get("passes") == 1 for c in chunked)
    how = (
        "one pass carried every direction at each n (c = n), so the number of passes no longer grows "
        "with n and neither need the speedup: what is left is carrying n tangents through every "
        "operation against one reverse sweep"
        if one_pass
        else "it narrows the gap by about c; with c fixed the passes, and so the speedup, still grow with n"
    )
    return (
        "**Chunked forward mode** (c tangent directions per pass, ⌈n/c⌉ passes): "
        f"{how}. Speedups {_speedup_list(cells, 'forward-chunked')}, growing like n^{kc.text()}."
    )


def claim_cheap(cells: list[Cell]) -> str | None:
    rv, fn = series(cells, REVERSE), series(cells, FUNCTION)
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
        f"{times_md(min(ratios))} to {times_md(max(ratios))} the time of f alone{trend}. The constant is "
        "large because this engine is interpreted Python: every operation of f becomes a recorded tape entry "
        "and an adjoint update, while f alone does plain float arithmetic."
    )


def advice_gradient(run: Run) -> str:
    cells = main_cells(run.cells)
    rv = series(cells, REVERSE)
    parts = []
    for mode, name in ((FORWARD, "forward mode (chunk 1)"), (FORWARD_CHUNKED, "chunked forward mode")):
        co = fits.crossover(series(cells, mode), rv)
        if co is None:
            continue
        n, speedup = co.closest
        if co.how == "below" and not co.found:
            parts.append(
                f"reverse mode was faster than {name} at every n measured ({co.sizes[0]} to "
                f"{co.sizes[-1]}; closest at n = {n}, {times_md(speedup)}); no crossover in that range"
            )
        elif co.n_star is None:
            parts.append(
                f"{name} was faster than reverse mode at every n measured ({co.sizes[0]} to "
                f"{co.sizes[-1]}; closest at n = {n}, {times_md(speedup)}); no crossover in that range"
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
    for mode in (FORWARD, REVERSE):
        name = mode
        fit = fits.fit_slope(series(cells, mode))
        if fit is not None:
            model.append(
                f"t_{name}(n) ≈ {human_seconds(fit.at(1))} × n^{fit.slope:.2f} "
                f"(fitted over n = {', '.join(map(str, fit.sizes))})"
            )
    if model:
        text += " The fitted cost model: " + ", ".join(model) + "."
    rho = [(n, p) for n in sizes(cells) if (p := _pass_cost(cells, n)) is not None]
    if rho and run.kind == "jacobian":
        text += (
            f" {_sweep_cost(rho)}: with m = {_ms(cells)} sweeps per Jacobian, reverse mode wins once "
            "forward mode needs more passes than m times that."
        )
    elif rho:
        text += (
            f" {_sweep_cost(rho).replace('reverse sweep', 'reverse gradient')}: reverse mode "
            "wins as soon as forward mode needs more passes than that."
        )
    return text


def advice_replay(run: Run) -> str | None:
    """When a tape recorded once (``modes.compile``) pays off: per size, the replayed gradient's
    cost, the one-off recording and the gradients after which it is repaid; None without replay cells."""
    rows = [c for c in series(main_cells(run.cells), REVERSE_REPLAY) if c.get("record_time_s")]
    if not rows:
        return None
    parts = []
    for c in rows:
        text = f"at n = {c['n']} a replayed gradient took {times_md(c['ratio_to_function'])} the function"
        if c.get("break_even_calls"):
            text += (
                f" after a one-off recording of {human_seconds(c['record_time_s'])}, repaid after "
                f"{plural(c['break_even_calls'], 'gradient')}"
            )
        parts.append(text)
    return (
        f"For **{run.problem}**, recording once and replaying the tape (reverse-replay, `modes.compile`): "
        + "; ".join(parts)
        + ". Replay pays off when the same f is differentiated at more points than that, and f's "
        "branches stay put (a replay re-checks every comparison it recorded and refuses otherwise)."
    )


def advice_chunks(run: Run, n: int, chunk_cells: list[Cell]) -> str | None:
    """What the chunk-size sweep says about forward mode's chunk."""
    ok = [c for c in chunk_cells if timed(c)]
    if len(ok) < 2:
        return None
    best = min(ok, key=lambda c: c["time_median_s"])
    text = (
        f"Chunk size ({run.problem}, n = {n}): forward mode was fastest with c = {best['chunk']} "
        f"({plural(best['passes'] or 1, 'pass', 'passes')}, {human_seconds(best['time_median_s'])})"
    )
    default = next((c for c in ok if c.get("mode") == FORWARD_CHUNKED and not in_chunk_sweep(c)), None)
    one = next((c for c in ok if c.get("chunk") == 1), None)
    others = [
        f"{times_md(c['time_median_s'] / best['time_median_s'])} faster than c = {c['chunk']}{label}"
        for c, label in ((default, " (the default)"), (one, ""))
        if c is not None and c is not best
    ]
    text += (", " + " and ".join(others)) if others else ""
    rev = cell_at(run.cells, n, None, REVERSE)
    if rev is not None and timed(rev):
        faster = rev["time_median_s"] < best["time_median_s"]
        text += (
            f"; reverse mode ({human_seconds(rev['time_median_s'])}) was "
            f"{'still faster' if faster else 'slower'}"
        )
    return text + "."


def advice_jacobian(run: Run, ns: list[int], ms: list[int]) -> str:
    wins: dict[str, list[tuple[int, int]]] = {FORWARD: [], REVERSE: []}
    for n in ns:
        for m in ms:
            r = plots.forward_over_reverse(run.cells, n, m)
            if r is not None:
                wins[REVERSE if r > 1 else FORWARD].append((n, m))
    total = len(wins[FORWARD]) + len(wins[REVERSE])
    tall = [(n, m) for n, m in wins[FORWARD] + wins[REVERSE] if m > n]
    tall_fwd = [p for p in tall if p in wins[FORWARD]]
    text = (
        f"With several outputs (a Jacobian, measured on **{run.problem}**): forward mode needs ⌈n/c⌉ "
        "passes whatever m is, reverse mode one sweep per output (chunked, ⌈m/c⌉ sweeps carrying c "
        "cotangents each). Each side at its best, over the grid forward mode won "
        f"{len(wins['forward'])} and reverse mode {len(wins['reverse'])} of {total} cells; with more "
        f"outputs than inputs (m > n) forward mode won {len(tall_fwd)} of {len(tall)}."
    )
    if wins[REVERSE]:
        least = min(n / m for n, m in wins[REVERSE])
        cells = ", ".join(f"({n}, {m})" for n, m in wins[REVERSE])
        text += (
            f" Reverse mode won only at (n, m) = {cells}: where inputs outnumber outputs at least "
            f"{least:.3g} to 1."
        )
    gain = [
        r["time_median_s"] / c["time_median_s"]
        for c in main_cells(run.cells)
        if c.get("mode") == REVERSE_CHUNKED
        and timed(c)
        and (r := cell_at(run.cells, c["n"], c.get("m"), REVERSE)) is not None
        and timed(r)
    ]
    if gain:
        text += (
            f" Chunking reverse mode's sweeps made it {times_md(min(gain))} to {times_md(max(gain))} "
            "as fast as one sweep per output."
        )
    per = [
        (m, co.n_star)
        for m in ms
        if (co := plots.jacobian_crossover(run.cells, m)) is not None and co.found and co.how == "measured"
    ]
    if per:
        ratios = [n_star / m for m, n_star in per]
        lo, hi = min(ratios), max(ratios)
        where = ", ".join(f"n* ≈ {fits._num(n_star)} with m = {m}" for m, n_star in per)
        # "grows with the outputs" only when the measured n* do, roughly in proportion (within 3x)
        grows = len(per) >= 2 and all(a[1] < b[1] for a, b in itertools.pairwise(per)) and hi <= 3 * lo
        if grows:
            span = f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g} to {hi:.2g}"
            text += (
                f" Where the grid brackets it, the crossover grows with the outputs: {where}, n* ≈ "
                f"{span} × m, so for this function reverse mode wins once inputs outnumber outputs "
                f"about {hi:.2g} to 1."
            )
        else:
            text += f" Where the grid brackets it, the crossover lies at {where}" + (
                "; it does not grow in proportion to m here." if len(per) >= 2 else "."
            )
    ratios_all = [r for n in ns for m in ms if (r := plots.forward_over_reverse(run.cells, n, m)) is not None]
    spread = max((max(r, 1 / r) for r in ratios_all), default=None)
    if gain and spread is not None and spread < 2:
        return text + (
            f" With both modes chunked, neither was more than {spread:.2g}× faster anywhere on the "
            "grid: a Jacobian takes one forward pass or one reverse sweep either way, and what is left "
            "is each engine's cost per pass. Without chunking (forward mode's n passes against reverse "
            "mode's m sweeps) prefer forward mode when outputs outnumber inputs, reverse mode for many "
            "inputs and few outputs."
        )
    return text + (
        " Prefer forward mode when outputs outnumber inputs, reverse mode for many inputs and few outputs."
    )


#: A bytes-per-operation sentence lists every size up to this many, else the smallest and largest.
PER_OP_LISTED = 5


def memory_per_op(cells: list[Cell], panel: bool = True) -> str:
    """The report's sentence on bytes per recorded operation: reverse mode's peak memory ÷ the
    operations on its tape, at each n (or the smallest and largest), with the largest n's peak,
    count and the tape's own estimate; or why there is no such number. ``panel``: the memory
    figure was drawn, and its lower panel shows these numbers."""
    why = no_bytes_per_op(cells)
    if why is not None:
        return f"No bytes per recorded operation: {why}."
    out = []
    for mode in TAPE_MODES:
        pts = bytes_per_op(cells, mode)
        if not pts:
            continue
        shown = pts if len(pts) <= PER_OP_LISTED else [pts[0], pts[-1]]
        listed = (", " if len(pts) <= PER_OP_LISTED else " … ").join(
            f"{human_bytes(v)} at {where(c)}" for _, v, c in shown
        )
        _, _, c = pts[-1]
        name = "reverse mode" if mode == REVERSE else "chunked reverse mode"
        name = f"Lower panel: {name}" if panel and not out else name.capitalize()
        dotted = ", dotted: the objects the tape holds" if panel and mode == REVERSE else ""
        text = (
            f"{name}'s peak memory per recorded operation (peak ÷ ops{dotted}): {listed}; at "
            f"{where(c)} that is {human_bytes(c['peak_bytes'])} ÷ {c['ops']:,} operations"
        )
        if mode == REVERSE and c.get("tape_bytes"):
            tape = human_bytes(c["tape_bytes"] / c["ops"])
            text += (
                f"; the objects the tape holds come to {tape} per operation (modes' estimate, which "
                "includes the inputs and other objects made before the call: it can exceed the peak)"
            )
        out.append(text + ".")
    return " ".join(out)


# ----------------------------------------------------------------------- numbers for the text


def where(c: Cell) -> str:
    return f"n = {c.get('n')}" + (f", m = {c.get('m')}" if c.get("kind") == "jacobian" else "")


def _ratio(r: float) -> str:
    return f"{r:,.0f}" if r >= 10 else f"{r:.3g}"


def cell_name(c: Cell) -> str:
    return f"{c.get('mode')}{chunk_label(c)}"


def chunk_label(c: Cell) -> str:
    return f" (chunk {c['chunk']})" if c.get("mode") == FORWARD_CHUNKED and c.get("chunk") else ""


def _n(co: fits.Crossover) -> str:
    s = f"{co.n_star:.2g}" if co.n_star < 10 else f"{co.n_star:,.0f}"
    return s + co.interval_text()


def _count_pairs(cells: list[Cell]) -> list[tuple[int, Cell, Cell]]:
    """(n, forward cell, reverse cell) where both have operation counts."""
    out = []
    for n in sizes(cells):
        f, r = cell_at(cells, n, None, FORWARD), cell_at(cells, n, None, REVERSE)
        if f and r and f.get("ops") and r.get("ops") and f.get("passes"):
            out.append((n, f, r))
    return out


def _speedup(cells: list[Cell], n: int, mode: str) -> float | None:
    f, r = cell_at(cells, n, None, mode), cell_at(cells, n, None, REVERSE)
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
            parts.append(f"{times_md(s)} at n = {n}")
            continue
        f, r = cell_at(cells, n, None, mode), cell_at(cells, n, None, REVERSE)
        tf, tr = _estimate(f), _estimate(r)
        if tf and tr:
            parts.append(f"~{times_md(tf / tr)} at n = {n}")
            guessed = True
    return ", ".join(parts) + (" (~: estimated, one mode was over the budget)" if guessed else "")


def _pass_cost(cells: list[Cell], n: int) -> float | None:
    """One reverse sweep's time in forward passes (chunk 1) at n (a gradient is one sweep; a
    Jacobian of m outputs is m)."""
    f, r = cell_at(cells, n, None, FORWARD), cell_at(cells, n, None, REVERSE)
    if f and r and timed(f) and timed(r) and f.get("passes"):
        return r["time_median_s"] / (r.get("sweeps") or 1) / (f["time_median_s"] / f["passes"])
    return None


def jacobian_headline(run: Run, ms: Sequence[int]) -> str | None:
    """Where reverse mode starts to win along each output count m of a Jacobian grid (None when
    no output count was timed at two or more n in both modes: nothing to say)."""
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
        text += ("; " if found or fwd else "") + (
            f"with m = {joined} reverse mode won at every n measured (from {min(jacobian_grid(run)[0])})"
        )
    return text + "." if found or fwd or rev else None


def headline(run: Run, growth: bool = True) -> list[str]:
    """The headline figures of a size sweep: speedups at each n, crossover n*, and (``growth``)
    the fitted slopes."""
    cells = main_cells(run.cells)
    out = []
    rv = series(cells, REVERSE)
    for mode, name in ((FORWARD, "forward mode (chunk 1)"), (FORWARD_CHUNKED, "chunked forward mode")):
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
    for mode in (FUNCTION, FORWARD, FORWARD_CHUNKED, REVERSE) if growth else ():
        fit = fits.fit_slope(series(cells, mode))
        if fit is not None:
            slopes.append(f"{plots.LABEL[mode]} n^{fit.text()}")
    if slopes:
        out.append("Fitted growth of the time per call (large-n tail): " + ", ".join(slopes) + ".")
    return out
