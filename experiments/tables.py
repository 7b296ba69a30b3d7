"""Plain-text views of a run's cells: the terminal table and the closing sentences."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from experiments.human import agreement, count, human_bytes, human_seconds, plural, times
from experiments.results import FORWARD, FORWARD_MODES, MODE_ORDER, OURS, REVERSE, REVERSE_REPLAY, is_ours


def _mode_rank(mode: str) -> tuple[int, bool]:
    base = mode.removesuffix("-jit")
    return (MODE_ORDER.index(base) if base in MODE_ORDER else 9), base != mode


def _at(c: dict[str, Any]) -> int:
    """Where a cell sits in a sweep: its problem size (``--sizes``), else its input count n."""
    return c["size"] if c.get("size") is not None else c["n"]


def at_text(c: dict[str, Any]) -> str:
    """``n = 100``, or for a sized problem ``size = 1000 (n = 4)``."""
    return f"size = {c['size']} (n = {c['n']})" if c.get("size") is not None else f"n = {c['n']}"


def _sorted(cells: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """By size, then ours before the peers (in the order they were run), then mode."""
    cells = list(cells)
    libs = list(dict.fromkeys([OURS, *(c.get("library", OURS) for c in cells)]))
    return sorted(
        cells,
        key=lambda c: (_at(c), c["n"], c["m"], libs.index(c.get("library", OURS)), *_mode_rank(c["mode"])),
    )


def format_table(cells: list[dict[str, Any]]) -> str:
    """The run's cells as an aligned table; skipped and failed cells are footnoted with why, and
    notes follow (a cell timed by its verification call alone shows ``n/a`` for its IQR)."""
    jac = any(c["kind"] == "jacobian" for c in cells)
    replay = any(c["mode"] == REVERSE_REPLAY for c in cells)  # its one-off recording: a column
    peers = not all(is_ours(c) for c in cells)  # --peers: a library column
    jit = any(c.get("compile_s") is not None for c in cells)  # a peer's one-off jit compile
    sized = any(c.get("size") is not None for c in cells)  # --sizes: the problem size, then n
    head = [
        *(["size"] if sized else []),
        "n",
        *(["m"] if jac else []),
        *(["library"] if peers else []),
        "mode",
        "chunk",
        "passes",
        "sweeps",
        "median",
        "IQR",
        "x func",
        "speedup",
        "ops",
        "updates",
        "peak mem",
        "agree",
        *(["record"] if replay else []),
        *(["compile"] if jit else []),
    ]
    rows: list[list[str]] = []
    feet: dict[tuple[str, str], int] = {}  # one footnote per distinct (status, reason)
    hit: dict[int, list[dict[str, Any]]] = {}
    for c in _sorted(cells):
        ok = c["status"] in ("ok", "interrupted") and c["time_median_s"] is not None
        if ok:
            iqr = "n/a" if c["time_iqr_s"] is None else human_seconds(c["time_iqr_s"])  # one sample
            median = human_seconds(c["time_median_s"])
            if c["status"] == "interrupted":  # the median of the samples it got: footnoted
                i = feet.setdefault((c["status"], reason_key(c)), len(feet) + 1)
                hit.setdefault(i, []).append(c)
                median += f" [{i}]"
            timing = [
                median,
                iqr,
                times(c["ratio_to_function"]),
                times(c["speedup_vs_forward"]),
            ]
        else:
            i = feet.setdefault((c["status"], reason_key(c)), len(feet) + 1)
            hit.setdefault(i, []).append(c)
            timing = [f"{c['status']} [{i}]", "", "", ""]
        updates = c["tangent_updates"] if c["mode"] in FORWARD_MODES else c["adjoint_updates"]
        rows.append(
            [
                *([str(c["size"])] if sized else []),
                str(c["n"]),
                *([str(c["m"])] if jac else []),
                *([c.get("library", OURS)] if peers else []),
                c["mode"],
                "-" if c["chunk"] is None else str(c["chunk"]),
                count(c["passes"]),
                count(c["sweeps"]),
                *timing,
                count(c["ops"]),
                count(updates),
                human_bytes(c["peak_bytes"]),
                agreement(c),
                *([_record_time(c)] if replay else []),
                *([human_seconds(c["compile_s"]) if c.get("compile_s") is not None else "-"] if jit else []),
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    left = {"mode", "library"}
    lines = ["  ".join(h.ljust(w) if h in left else h.rjust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(v.ljust(w) if h in left else v.rjust(w) for h, v, w in zip(head, r, widths)))
    notes = [f"[{i}] {where(hit[i])}: {status}: {reason}" for (status, reason), i in feet.items()]
    notes += [f"note: {_name(c)} at {at_text(c)}: {c['note']}" for c in _sorted(cells) if c.get("note")]
    return "\n".join(lines + ([""] + notes if notes else []))


def reason_key(c: dict[str, Any]) -> str:
    """A cell's reason without what differs from cell to cell for one cause (the mode's name in
    front, the size a builder was called with), so one failure is said once for all it hit."""
    why = re.sub(rf"^{re.escape(c['mode'])} failed: ", "", c.get("reason") or "")
    return re.sub(r"\(\d+, \d+\) raised", "(n, seed) raised", why)


def where(cells: list[dict[str, Any]]) -> str:
    """``forward, reverse at n = 10, 100``: the modes and sizes of ``cells`` (a peer's mode with
    its library: ``jax reverse-jit``)."""
    names = [m for m in MODE_ORDER if any(_name(c) == m for c in cells)]
    names += sorted({_name(c) for c in cells} - set(names))
    unit = "size" if any(c.get("size") is not None for c in cells) else "n"
    return f"{', '.join(names)} at {unit} = {', '.join(str(n) for n in sorted({_at(c) for c in cells}))}"


def _name(c: dict[str, Any]) -> str:
    """A cell's mode, with its library when it is a peer's (``jax reverse-jit``)."""
    return c["mode"] if is_ours(c) else f"{c['library']} {c['mode']}"


def _record_time(c: dict[str, Any]) -> str:
    """reverse-replay's one-off recording time (``modes.compile``), ``-`` for other modes."""
    return human_seconds(c["record_time_s"]) if c.get("record_time_s") else "-"


def _by(cells: list[dict[str, Any]], n: int, m: int, mode: str) -> dict[str, Any] | None:
    return next((c for c in cells if _at(c) == n and c["m"] == m and c["mode"] == mode), None)


def _time(c: dict[str, Any] | None) -> tuple[float | None, str]:
    """A cell's median and how it was had: ``""`` timed; ``"partial"`` the median of the samples
    an interrupted cell got; ``"estimate"`` for a skipped cell, its one untimed call if it got
    that far, else its prediction."""
    if c is None:
        return None, ""
    if c["status"] == "ok" and c["time_median_s"]:
        return c["time_median_s"], ""
    if c["status"] == "interrupted" and c["time_median_s"]:
        return c["time_median_s"], "partial"
    if c["status"] == "skipped":
        guess = c.get("first_call_s") or c.get("predicted_time_s")
        return (guess, "estimate") if guess else (None, "")
    return None, ""


def _compare(cells: list[dict[str, Any]], n: int, m: int, fwd_mode: str) -> str | None:
    """One sentence comparing reverse mode with ``fwd_mode`` at (n, m)."""
    fwd, rev = _by(cells, n, m, fwd_mode), _by(cells, n, m, REVERSE)
    if fwd is None or rev is None:
        return None
    tf, pf = _time(fwd)
    tr, pr = _time(rev)
    label = "forward mode (chunk 1)" if fwd_mode == FORWARD else f"forward mode (chunk {fwd['chunk']})"
    jac = fwd["kind"] == "jacobian"
    where = f"{at_text(fwd)} inputs and m = {m} outputs" if jac else at_text(fwd)
    ideal = (
        f"{plural(fwd['passes'], 'forward pass', 'forward passes')} against "
        f"{plural(rev['sweeps'], 'reverse sweep', 'reverse sweeps')}"
        if jac
        else f"ideal n/c = {fwd['passes']}"
    )
    if tf is None or tr is None:
        missing, name = (fwd, label) if tf is None else (rev, "reverse mode")
        return f"{name} was not timed at {where} ({missing['reason']})"
    ratio = tf / tr
    verb = "would be about" if "estimate" in (pf, pr) else "was"
    if ratio >= 1:
        s = f"reverse mode {verb} {times(ratio)} faster than {label} at {where}; {ideal}"
    else:
        s = f"{label} {verb} {times(1 / ratio)} faster than reverse mode at {where}; {ideal}"
    both = ((label, fwd, tf, pf), ("reverse mode", rev, tr, pr))
    guessed = [(name, c, t) for name, c, t, p in both if p == "estimate"]
    if guessed:
        s += " (estimated: " + "; ".join(_guess(name, c, t) for name, c, t in guessed) + ")"
    partial = [
        f"{name} after {plural(len(c['samples_s']), 'sample')}" for name, c, _, p in both if p == "partial"
    ]
    if partial:
        s += " (partial: interrupted by Ctrl-C, " + ", ".join(partial) + ")"
    return s


def _guess(name: str, c: dict[str, Any], t: float) -> str:
    """Why a cell's time is an estimate. A cell whose verification call was cut off at the budget
    is estimated by its prediction, which is then known to be low, so the clause says what happened
    rather than call the prediction the time a call takes."""
    reason = c.get("reason") or ""
    if c.get("first_call_s") is None and reason.startswith("one call did not finish"):
        head = reason.split(" (")[0].split(";")[0]
        return f"{name} was not timed: {head}; its predicted {human_seconds(t)} a call is used"
    return f"{name} was not timed, a call takes about {human_seconds(t)}, over the budget"


def _where(c: dict[str, Any], jac: bool) -> str:
    return f"{at_text(c)}, m = {c['m']}" if jac else at_text(c)


def _sweep(cells: list[dict[str, Any]], sizes: list[tuple[int, int]], fwd_mode: str) -> str | None:
    """One sentence with the speedup of reverse over ``fwd_mode`` at every size of a sweep."""
    parts, ideal, marks = [], [], set()
    jac = any(c["kind"] == "jacobian" for c in cells)
    for n, m in sizes:
        fwd, rev = _by(cells, n, m, fwd_mode), _by(cells, n, m, REVERSE)
        (tf, pf), (tr, pr) = _time(fwd), _time(rev)
        if fwd is None or tf is None or tr is None:
            continue
        mark = "~" if "estimate" in (pf, pr) else "*" if "partial" in (pf, pr) else ""
        marks.add(mark)
        parts.append(f"{mark}{times(tf / tr)} at {_where(fwd, jac)}")
        ideal.append(f"{fwd['passes']}/{rev['sweeps']}" if jac else str(fwd["passes"]))
    if not parts:
        return None
    label = "forward mode (chunk 1)" if fwd_mode == FORWARD else "forward mode (chunked)"
    what = "passes/sweeps" if jac else "ideal n/c"
    said = [
        *(["~ marks an estimate for a cell over the budget"] if "~" in marks else []),
        *(
            ["* a cell interrupted (Ctrl-C) before all its samples: the median of those it got"]
            if "*" in marks
            else []
        ),
    ]
    text = f"Speedup of reverse mode over {label}: {', '.join(parts)} ({what}: {', '.join(ideal)})"
    return text + ("; " + "; ".join(said) if said else "") + "."


def summary(cells: list[dict[str, Any]]) -> list[str]:
    """The closing sentences: reverse against forward (chunk 1 and chunked) at each size, and the
    cost of a reverse gradient relative to the function; one sentence per comparison in a sweep.
    Our engines' cells only (the peers have their own table, :mod:`experiments.peers.table`)."""
    cells = [c for c in cells if is_ours(c)]
    sizes = sorted({(_at(c), c["m"]) for c in cells})
    out: list[str] = []
    for fwd_mode in FORWARD_MODES:
        if len(sizes) > 1:
            s = _sweep(cells, sizes, fwd_mode)
            out += [s] if s else []
            continue
        for n, m in sizes:
            s = _compare(cells, n, m, fwd_mode)
            if s:
                out.append(s[0].upper() + s[1:] + ".")
    revs = [
        c
        for n, m in sizes
        if (c := _by(cells, n, m, REVERSE)) is not None
        and c["status"] == "ok"
        and c["ratio_to_function"]
        and c["kind"] == "gradient"
    ]
    if len(revs) == 1:
        r = revs[0]
        out.append(
            f"At {at_text(r)} a reverse-mode gradient took {times(r['ratio_to_function'])} "
            "as long as the function itself."
        )
    elif revs:
        ratios = ", ".join(f"{times(c['ratio_to_function'])} at {at_text(c)}" for c in revs)
        out.append(f"A reverse-mode gradient took, relative to the function itself: {ratios}.")
    replays = [
        c
        for n, m in sizes
        if (c := _by(cells, n, m, REVERSE_REPLAY)) is not None
        and c["status"] == "ok"
        and c["ratio_to_function"]
    ]
    if replays:
        parts = [
            f"{times(c['ratio_to_function'])} the function at {at_text(c)}"
            + (
                f" (recording once took {human_seconds(c['record_time_s'])}, repaid after "
                f"{plural(c['break_even_calls'], 'call')})"
                if c.get("break_even_calls")
                else ""
            )
            for c in replays
        ]
        out.append("Replaying a tape recorded once (reverse-replay) took " + "; ".join(parts) + ".")
    return out
