"""Checkpointing's trade, measured: ``python -m experiments.checkpointing`` (issue 17).

The problem is a long loop, ``rnn``: ``h <- tanh(W h + x_t)`` for ``T`` steps from ``h_0``, the
loss ``|h_T|^2 / d`` on a state of ``d`` floats, differentiated with respect to ``h_0`` (``W`` and
the ``x_t`` are fixed data). For each snapshot count ``s`` the gradient is computed with
``modes.loop(..., snapshots=s)`` (revolve's binomial schedule); ``all`` is the plain recording of
every step (``snapshots=None``), and forward mode's point needs no tape at all (``d / chunk``
passes).

Per configuration, in one process (BLAS pinned to one thread):

* the gradient, checked against the plain recording (to 1e-12) before anything is timed;
* a counted run under ``modes.counting(memory=True)``: peak bytes (tracemalloc), step evaluations, the
  ones recomputed in the sweep, and revolve's bound ``r T`` and exact count for comparison;
* time per gradient: the median of samples interleaved round by round across configurations
  (``experiments/timing.py``: gc collected before each sample, off while timing), quartiles kept.

Writes ``results.json`` (every raw sample and the environment), ``table.md`` and the figure
``memory-vs-time.png``/``.svg`` (peak memory against time per gradient, one point per snapshot
count) into ``--out`` (default ``results/checkpointing``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import modes
from experiments import environment, timing
from modes import ops, revolve

ALL = "all"
FORWARD = "forward"
DEFAULT_SNAPSHOTS = "2,4,8,16,32,all"


def rnn(steps: int, d: int = 40, seed: int = 0) -> tuple[Callable[[Any, int | None], Any], np.ndarray]:
    """The ``rnn`` problem: ``(loss(h0, snapshots), h0)``, ``loss = |h_T|^2 / d``.

    ``W`` has spectral scale 0.9 / sqrt(d) entries so the state neither explodes nor dies
    over a thousand steps; the inputs ``x_t`` are standard normal times 0.5.
    """
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(d, d)) * (0.9 / np.sqrt(d))
    xs = rng.normal(size=(steps, d)) * 0.5
    h0 = rng.normal(size=d)

    def step(h: Any, t: int) -> Any:
        return ops.tanh(W @ h + xs[t])

    def loss(h: Any, snapshots: int | None = None) -> Any:
        hT = modes.loop(step, h, steps, snapshots=snapshots)
        return ops.sum(hT * hT) / d

    return loss, h0


def parse_snapshots(text: str, steps: int) -> list[int | None]:
    """``"2,4,8,all"`` as snapshot counts (``all``: None, the plain recording); one-line errors."""
    out: list[int | None] = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == ALL:
            out.append(None)
            continue
        try:
            s = int(item)
        except ValueError:
            raise ValueError(f"--snapshots: '{item}' is not an integer or 'all'") from None
        if s < 1:
            raise ValueError(f"--snapshots: {s} must be >= 1")
        out.append(min(s, steps))
    if not out:
        raise ValueError("--snapshots: give at least one count")
    return list(dict.fromkeys(out))


def label(s: int | None) -> str:
    return ALL if s is None else str(s)


def measure(
    steps: int, d: int, snapshots: Sequence[int | None], repeats: int, forward: bool, seed: int = 0
) -> dict[str, Any]:
    """Every configuration's counts, peak bytes and timing samples (see the module docstring)."""
    loss, h0 = rnn(steps, d, seed)
    baseline = modes.grad(lambda h: loss(h, None), h0)
    kernels: dict[str, Callable[[], Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for s in snapshots:
        name = label(s)
        kernel = lambda s=s: modes.grad(lambda h: loss(h, s), h0)
        rows[name] = {"snapshots": s, "mode": "reverse"}
        kernels[name] = kernel
    if forward:
        chunk = modes.choose_chunk(d)
        kernels[FORWARD] = lambda: modes.grad(lambda h: loss(h, None), h0, mode="forward")
        rows[FORWARD] = {"snapshots": None, "mode": "forward", "chunk": chunk, "passes": -(-d // chunk)}
    for name, kernel in kernels.items():
        t, g = timing.timed_call(kernel)  # the verification call is also the warm-up
        err = float(np.max(np.abs(g - baseline)))
        if not err <= 1e-12:
            raise RuntimeError(f"{name}: gradient differs from the plain recording by {err:.3g}")
        with modes.counting(memory=True) as st:
            kernel()
        s = rows[name]["snapshots"]
        rows[name].update(
            max_abs_difference=err,
            first_call_s=t,
            peak_bytes=st.peak_bytes,
            tape_length=st.tape_length,
            step_evaluations=st.step_evaluations,
            recomputed_steps=st.recomputed_steps,
            recomputed_ops=st.recomputed_ops,
        )
        if rows[name]["mode"] == "reverse" and s is not None:
            r = revolve.repetitions(steps, s)
            rows[name].update(
                repetitions=r, bound=r * steps, revolve_exact=revolve.sweep_evaluations(steps, s)
            )
    plans = {}
    for name, kernel in kernels.items():
        loops, call_s = timing.loops_for(kernel, rows[name]["first_call_s"])
        plans[name] = timing.Plan(kernel, loops, repeats, call_s)
    timing.interleave(plans)
    for name, plan in plans.items():
        summary = timing.Summary.of(plan.samples)
        rows[name].update(samples=plan.samples, median_s=summary.median, q1_s=summary.q1, q3_s=summary.q3)
    return {"steps": steps, "state": d, "seed": seed, "repeats": repeats, "rows": rows}


# ------------------------------------------------------------------------------------- output


def human_bytes(b: float) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def table(result: dict[str, Any]) -> str:
    """The Markdown table: one row per configuration."""
    lines = [
        f"rnn, T = {result['steps']} steps, state of {result['state']} floats, gradient in h_0 "
        f"(median of {result['repeats']} interleaved samples)",
        "",
        "| s | step evaluations (forward + sweep) | sweep: measured | revolve exact | bound r*T "
        "| peak memory | time per gradient |",
        "|---|---|---|---|---|---|---|",
    ]
    loads = [result.get(k) for k in ("load_average_before", "load_average_after")]
    if all(loads):
        lines[0] += f"; 1-min load average {loads[0][0]:.1f} before, {loads[1][0]:.1f} after"
    for row in result["rows"].values():
        if row["mode"] == "forward":
            what = f"forward ({row['passes']} passes of {row['chunk']})"
            fwd_steps = row["step_evaluations"]
            cells = [what, f"{fwd_steps} + 0", "-", "-", "-"]
        else:
            ev, sw = row["step_evaluations"], row["recomputed_steps"]
            first = ev - sw
            what = "all (record every step)" if row["snapshots"] is None else str(row["snapshots"])
            exact = row.get("revolve_exact", "-")
            bound = f"{row['bound']} (r = {row['repetitions']})" if "bound" in row else "-"
            cells = [what, f"{first} + {sw}", str(sw), str(exact), bound]
        q = ""
        if row.get("q1_s") is not None:
            q = f" (IQR {1e3 * row['q1_s']:.0f}-{1e3 * row['q3_s']:.0f})"
        cells += [human_bytes(row["peak_bytes"]), f"{1e3 * row['median_s']:.0f} ms{q}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(result: dict[str, Any], out: Path) -> list[Path]:
    """Peak memory against time per gradient, one point per snapshot count; PNG and SVG."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig = Figure(figsize=(7.2, 4.8), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    rev = [(n, r) for n, r in result["rows"].items() if r["mode"] == "reverse"]
    ck = [(n, r) for n, r in rev if r["snapshots"] is not None]
    ck.sort(key=lambda nr: nr[1]["snapshots"])

    def point(r: dict[str, Any]) -> tuple[float, float, list[list[float]]]:
        m = 1e3 * r["median_s"]
        lo = m - 1e3 * (r["q1_s"] if r["q1_s"] is not None else r["median_s"])
        hi = 1e3 * (r["q3_s"] if r["q3_s"] is not None else r["median_s"]) - m
        return m, r["peak_bytes"] / 2**10, [[lo], [hi]]

    if ck:
        xs, ys = zip(*[point(r)[:2] for _, r in ck])
        ax.plot(xs, ys, "-", color="tab:blue", alpha=0.35, zorder=1)
    left = {name for k, (name, _) in enumerate(ck) if k % 2}  # alternate sides: close points stay legible
    for name, r in rev:
        x, y, err = point(r)
        plain = r["snapshots"] is None
        style = {"fmt": "s", "color": "tab:red"} if plain else {"fmt": "o", "color": "tab:blue"}
        ax.errorbar(x, y, xerr=err, ms=7, zorder=3, **style)
        text = "all steps recorded (snapshots=None)" if plain else f"s = {name}"
        side = {"xytext": (-8, -3), "ha": "right"} if name in left else {"xytext": (7, 4), "ha": "left"}
        ax.annotate(text, (x, y), textcoords="offset points", fontsize=9, **side)
    if FORWARD in result["rows"]:
        r = result["rows"][FORWARD]
        x, y, err = point(r)
        ax.errorbar(x, y, xerr=err, fmt="D", ms=7, color="tab:green", zorder=3)
        text = f"forward, no tape ({r['passes']} passes)"
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("time per gradient (ms, median; bars: interquartile range)")
    ax.set_ylabel("peak memory of the gradient (KiB, tracemalloc)")
    ax.set_title(
        f"Checkpointing a {result['steps']}-step RNN (state of {result['state']} floats): "
        "memory vs time,\none point per snapshot count s (revolve schedule)",
        fontsize=10.5,
    )
    ax.grid(True, which="both", alpha=0.25)
    ax.margins(x=0.25, y=0.2)
    paths = []
    for ext in ("png", "svg"):
        p = out / f"memory-vs-time.{ext}"
        fig.savefig(p, metadata={"Date": None} if ext == "svg" else None)
        paths.append(p)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.checkpointing", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--steps", type=int, default=1000, help="loop length T (default 1000)")
    parser.add_argument("--state", type=int, default=40, help="floats in the state h (default 40)")
    parser.add_argument(
        "--snapshots", default=DEFAULT_SNAPSHOTS, help=f"counts to sweep (default {DEFAULT_SNAPSHOTS})"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timing samples per configuration (default 7)")
    parser.add_argument("--no-forward", action="store_true", help="skip forward mode's point")
    parser.add_argument("--out", type=Path, default=Path("results/checkpointing"), help="output directory")
    ns = parser.parse_args(argv)
    try:
        if ns.steps < 1 or ns.state < 1 or ns.repeats < 1:
            raise ValueError("--steps, --state and --repeats must be >= 1")
        snapshots = parse_snapshots(ns.snapshots, ns.steps)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ns.out.mkdir(parents=True, exist_ok=True)
    with environment.pinned_threads(1) as pools:
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        print(f"measuring T = {ns.steps}, s in {ns.snapshots} (load average {load})", file=sys.stderr)
        result = measure(ns.steps, ns.state, snapshots, ns.repeats, not ns.no_forward)
        result["load_average_before"] = load
        result["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        result["environment"] = environment.collect(
            ["python -m experiments.checkpointing", *(argv or sys.argv[1:])], pools
        )
    (ns.out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    text = table(result)
    (ns.out / "table.md").write_text(text)
    paths = figure(result, ns.out)
    print(text)
    print(
        "wrote " + ", ".join(str(p) for p in [ns.out / "results.json", ns.out / "table.md", *paths]),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
