"""``compare-modes``: time forward- and reverse-mode gradients as the input count n grows.

Data (the table, the closing sentences, or ``--json``) go to stdout; narration and progress go to
stderr. Exit codes: 0 success, 1 runtime failure, 2 usage error (including a size too large to
measure), 3 forward and reverse mode disagree, 130 interrupted (Ctrl-C; partial results are kept).

``compare-modes explain ...`` hands its arguments to ``experiments.explain.main``, and
``compare-modes report ...`` (a report from saved results) to ``experiments.report.main``, and
``compare-modes merge ...`` (one run from several shards) to ``experiments.merge.main``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import modes
from experiments import budget, environment, tables
from experiments.human import human_seconds
from experiments.peers.base import PeerError
from experiments.peers.forms import FORMS, form_for, no_form_reason
from experiments.peers.registry import PEERS, resolve
from experiments.peers.table import render as peer_table
from experiments.peers.table import versions_of
from experiments.problems import (
    BUILDER_SIZES,
    CATALOGUE,
    DEFAULT_PROBLEM,
    JACOBIAN,
    ProblemError,
    get_problem,
)
from experiments.results import (
    DEFAULT_MODES,
    FORWARD_CHUNKED,
    FUNCTION,
    JACOBIAN_DEFAULT_MODES,
    MODES,
    OURS,
    REVERSE,
    REVERSE_CHUNKED,
    REVERSE_REPLAY,
    Cell,
    OutputError,
    RunRecord,
    create_run_folder,
)
from experiments.runner import Outcome, Runner, Settings

PROG = "compare-modes"
#: Exit codes.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DISAGREE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: Subcommands served by other modules' ``main(argv) -> int``, imported only when asked for.
SUBCOMMANDS = {"explain": "experiments.explain", "report": "experiments.report", "merge": "experiments.merge"}
#: Where sweeps are saved when no --out is given.
DEFAULT_RESULTS = Path("results") / "runs"
SWEEP_STEP = math.sqrt(10.0)

EXAMPLES = [
    ("--inputs 1000", "rosenbrock at n = 1000: table and summary"),
    ("--inputs 10,100,1000 --problem mlp", f"a sweep, saved under {DEFAULT_RESULTS}/"),
    ("--inputs 1000 --sweep --out runs/", "a geometric sweep up to 1000, saved under runs/"),
    ("--problem tall --inputs 4 --outputs 400", "a Jacobian, where forward mode wins"),
    ("--problem my_problem.py:f --inputs 100", "your own function f(x) (or a builder)"),
    ("--inputs 10,100,1000 --report", "a sweep, then its report (report.md, .html, figures)"),
    ("--inputs 200 --chunks 1,4,12,50,200", "forward mode's time against its chunk size"),
    ("--problem mlp --inputs 10,100 --peers all", "JAX, PyTorch, autograd timed beside ours"),
    ("--inputs 10,100,1000 --shard 2/3 --out runs/", "one shard of a sweep (for another machine)"),
    ("merge RUN... --out DIR", "one run from several shards (then: report DIR)"),
    ("report RUN_FOLDER [...]", "the report again from saved results (no re-timing)"),
    ("explain ...", "how each mode computes a derivative"),
]
_WIDTH = max(len(a) for a, _ in EXAMPLES)
EPILOG = (
    "examples:\n"
    + "".join(f"  {PROG} {a:<{_WIDTH}}  {b}\n" for a, b in EXAMPLES)
    + """
your own problem: --problem my_problem.py:f where f(x) takes one array, written with Python
operators and modes.ops; x is drawn for each n: n standard-normal entries from
numpy.random.default_rng(--seed). For full control, my_problem.py:build where build(n: int,
seed: int) returns (f, x) or (f, x, reference); x a list of floats or a NumPy array. A scalar f
is timed as a gradient, an array-valued f as a Jacobian. --list-problems --problem FILE.py:NAME
shows its docstring.

exit codes: 0 success, 1 runtime failure, 2 usage error (or nothing small enough to measure),
3 forward and reverse mode disagree, 130 interrupted (partial results are kept)."""
)


class UsageError(Exception):
    """A command line that cannot be run as given."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_int(text: str) -> int:
    return _whole(text, minimum=1)


def _whole(text: str, minimum: int) -> int:
    t = text.strip()
    if not t:
        raise argparse.ArgumentTypeError("needs a number, got an empty value")
    try:
        v = int(t)
    except ValueError:
        try:
            f = float(t)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not math.isfinite(f) or not f.is_integer():
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        v = int(f)
    if v < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {v}")
    return v


def _seed(text: str) -> int:
    return _whole(text, minimum=0)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


def _size_list(text: str) -> list[int]:
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a number or a comma-separated list of them, got nothing")
    return sorted({_whole(t, minimum=1) for t in text.split(",")})


def _shard(text: str) -> tuple[int, int]:
    k, slash, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (0, 0)
    if not slash or not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(f"needs K/N with 1 <= K <= N (e.g. 2/4), got '{text}'")
    return shard


def _mode_list(text: str) -> tuple[str, ...]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"needs at least one of {', '.join(MODES)}")
    unknown = [t for t in names if t not in MODES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode '{unknown[0]}'; modes are {', '.join(MODES)}")
    return tuple(m for m in MODES if m in names)


def build_parser() -> argparse.ArgumentParser:
    """The ``compare-modes`` argument parser."""
    p = _Parser(
        prog=PROG,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Time full-gradient (or Jacobian) computation in forward and reverse mode as the "
        "number of inputs n grows, count what each mode does, and say which wins by how much.",
    )
    p.add_argument(
        "--inputs",
        metavar="N[,N...]",
        type=_size_list,
        help="input count n, or a comma-separated list of them (a sweep)",
    )
    p.add_argument(
        "--sizes",
        metavar="S[,S...]",
        type=_size_list,
        help="problem sizes instead of input counts, for your own build(size, seed) whose size is "
        "not its number of inputs (an ODE's steps, a batch): the input count is read from x",
    )
    p.add_argument("--sweep", action="store_true", help="run a geometric series of sizes up to N")
    p.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="run only shard K of N: every N-th size from the K-th, all its modes together; "
        f"run each shard on its own machine, then '{PROG} merge RUN... --out DIR' (see the README)",
    )
    p.add_argument(
        "--problem",
        default=DEFAULT_PROBLEM,
        metavar="NAME|FILE.py:FUNCTION",
        help=f"a catalogue problem (default {DEFAULT_PROBLEM}; see --list-problems), "
        "NAME:key=value options, or your own builder",
    )
    p.add_argument(
        "--outputs",
        metavar="M[,M...]",
        type=_size_list,
        help="output counts for a Jacobian problem (default: the problem's own, 10n for tall)",
    )
    p.add_argument(
        "--modes",
        type=_mode_list,
        metavar="MODE[,MODE...]",
        help=f"modes to compare, of {','.join(MODES)} (default: {','.join(DEFAULT_MODES)}, and "
        f"{REVERSE_CHUNKED} for a Jacobian problem); {REVERSE_CHUNKED} sweeps ceil(m/c) chunks of a "
        f"Jacobian's rows; {REVERSE_REPLAY} records f once (modes.compile) and times gradients "
        "replayed at another point",
    )
    p.add_argument(
        "--chunk",
        type=_positive_int,
        metavar="C",
        help="directions per pass for forward-chunked, and per sweep for reverse-chunked "
        "(default: modes.choose_chunk's cost model, "
        "one pass while the tangents stay small; see the README)",
    )
    p.add_argument(
        "--repeat",
        type=_positive_int,
        default=7,
        metavar="R",
        help="timed samples per cell (default 7; fewer when the budget is tight: at least 3, or "
        f"just the verification call for a call of {budget.LONG_CALL_S:g} s or more)",
    )
    p.add_argument(
        "--budget",
        type=_positive_float,
        default=budget.DEFAULT_BUDGET_S,
        metavar="SECONDS",
        help=f"time allowed per cell (default {budget.DEFAULT_BUDGET_S:g}); cells predicted to "
        f"need more are skipped (a call of {budget.LONG_CALL_S:g} s or more needs one call, "
        f"shorter ones {budget.MIN_REPEATS} samples after a warm-up)",
    )
    p.add_argument(
        "--seed", type=_seed, default=0, metavar="S", help="random seed for the problem's data (default 0)"
    )
    p.add_argument(
        "--tolerance",
        type=_positive_float,
        default=1e-8,
        metavar="RTOL",
        help="largest relative difference accepted between modes (default 1e-8)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        metavar="T",
        help="BLAS threads during the run (default 1: stable timings on shared machines)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="save the run in a new folder under DIR (default: sweeps go under "
        f"{DEFAULT_RESULTS}/, a single size only prints)",
    )
    p.add_argument(
        "--chunks",
        type=_size_list,
        metavar="C[,C...]",
        help="at one n, also time forward mode at each of these chunk sizes (a chunk-size sweep "
        "for the report; sizes above n are clamped to n)",
    )
    p.add_argument(
        "--peers",
        metavar="NAME[,NAME...]",
        help=f"also time these AD libraries on the same problem, checked against our reverse mode: "
        f'{", ".join(PEERS)}, or all (every one installed; pip install "compare-modes[peers]")',
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="after the run, write report.md, report.html and the figures into its folder "
        f"('{PROG} report FOLDER' writes them again from results.json)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout, nothing else")
    p.add_argument("--list-problems", action="store_true", help="list the problem catalogue and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no narration or progress on stderr")
    p.add_argument("--version", action="version", version=_version_text())
    return p


def _tool_version() -> str:
    return environment.package_version("compare-modes") or modes.__version__


def _version_text() -> str:
    python = sys.version.split()[0]
    return f"{PROG} {_tool_version()} (modes {modes.__version__}, numpy {np.__version__}, Python {python})"


def sweep_sizes(top: int, smallest: int) -> list[int]:
    """A geometric series (ratio sqrt(10)) of sizes from ``smallest`` (or 10) up to ``top``."""
    lo = max(smallest, min(10, top))
    out, v = [], float(top)
    while round(v) >= lo:
        out.append(round(v))
        v /= SWEEP_STEP
    return sorted(set(out))


@dataclass
class RunResult:
    """A finished run: its exit code, its record, and its folder (None if it only printed)."""

    exit_code: int
    record: RunRecord
    outcome: Outcome
    folder: Path | None


def _settings(ns: argparse.Namespace) -> Settings:
    """Check the parsed options against each other and the problem; raise UsageError if they clash."""
    if ns.list_problems:
        raise UsageError("--list-problems lists the catalogue; run it without other options (--json allowed)")
    if ns.inputs is None and ns.sizes is None:
        raise UsageError(f"--inputs N is required (for example: {PROG} --inputs 1000)")
    if ns.inputs is not None and ns.sizes is not None:
        raise UsageError("give --inputs (input counts) or --sizes (problem sizes), not both")
    problem, options = get_problem(ns.problem)
    by_size = ns.sizes is not None
    if by_size and problem.sizes != BUILDER_SIZES:
        raise UsageError(
            f"--sizes is for your own builder build(size, seed) whose size is not its input count; "
            f"'{problem.name}' takes --inputs"
        )
    sizes = ns.sizes if by_size else ns.inputs
    if ns.sweep:
        if len(sizes) > 1:
            raise UsageError("--sweep makes its own list of sizes up to N: give one N, or drop --sweep")
        sizes = sweep_sizes(sizes[0], problem.min_n)
    for n in sizes:
        why = problem.size_error(n)
        if why:
            raise UsageError(why)
    if ns.outputs is not None and problem.kind != JACOBIAN:
        raise UsageError(f"--outputs is for Jacobian problems (tall); '{problem.name}' is a gradient problem")
    samples = min(budget.MIN_REPEATS, ns.repeat)
    least = budget.smallest_budget(ns.repeat)
    if ns.budget < least:
        raise UsageError(
            f"--budget {ns.budget:g} is too short to time anything: a cell needs at least "
            f"{least:.2g} s (timeit's autorange and {samples} samples of at least "
            f"{budget.AUTORANGE_S:g} s for a short call, or one whole call of at least "
            f"{budget.LONG_CALL_S:g} s for a long one)"
        )
    if ns.modes is None:
        ns.modes = JACOBIAN_DEFAULT_MODES if problem.kind == JACOBIAN else DEFAULT_MODES
    elif REVERSE_CHUNKED in ns.modes and problem.kind not in (JACOBIAN, "user"):
        raise UsageError(f"{REVERSE_CHUNKED} chunks a Jacobian's rows; '{problem.name}' has one output")
    if ns.shard is not None:
        if ns.chunks is not None:
            raise UsageError("--shard splits a run's sizes; a chunk sweep (--chunks) has one: run it whole")
        k, n = ns.shard
        groups = len(sizes) * len(ns.outputs or [None])
        if k > groups:
            raise UsageError(f"--shard {k}/{n} gets no size: the run has {groups} size(s) to share among {n}")
    if ns.chunk is not None and not {FORWARD_CHUNKED, REVERSE_CHUNKED} & set(ns.modes):
        raise UsageError(
            "--chunk sets forward-chunked's and reverse-chunked's chunk, but --modes leaves "
            "forward-chunked out (and reverse-chunked)"
        )
    if ns.chunks is not None:
        if len(sizes) != 1 or len(ns.outputs or []) > 1:
            raise UsageError(
                "--chunks sweeps the chunk size at one size: give one --inputs N "
                "(and at most one --outputs M)"
            )
        if not {FORWARD_CHUNKED, REVERSE} <= set(ns.modes):
            raise UsageError("--chunks times forward-chunked against reverse: keep both in --modes")
    return Settings(
        problem=problem,
        sizes=sizes,
        options=options,
        outputs=ns.outputs,
        modes=ns.modes,
        chunk=ns.chunk,
        repeat=ns.repeat,
        budget=ns.budget,
        seed=ns.seed,
        tolerance=ns.tolerance,
        chunks=ns.chunks,
        by_size=by_size,
        shard=ns.shard,
    )


def _peers(ns: argparse.Namespace, settings: Settings) -> tuple[Settings, str | None]:
    """``--peers``: the settings with the peers set up, and a note for the user (or UsageError)."""
    if ns.peers is None:
        return settings, None
    name = settings.problem.name
    if form_for(name) is None or CATALOGUE.get(name) is not settings.problem:
        raise UsageError(
            f"problem '{name}' has no peer form: {no_form_reason(name)}; "
            f"problems with one: {', '.join(FORMS)}"
        )
    if settings.options:
        raise UsageError("--peers times the catalogue problem as it is: drop the problem's options")
    if settings.chunks:
        raise UsageError("--peers and --chunks are separate runs: a chunk-size sweep times our engines only")
    try:
        peers, note = resolve(ns.peers)
    except PeerError as e:
        raise UsageError(str(e)) from None
    return replace(settings, peers=tuple(peers)), note


def _peer_environment(settings: Settings) -> dict[str, Any]:
    """The peers' versions and precision/thread settings, for the environment block."""
    return {p.name: {"version": p.version(), **p.settings()} for p in settings.peers}


def exit_code(outcome: Outcome) -> int:
    """The exit code of a finished run: interrupted, then disagreement, failure, nothing measured."""
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    if outcome.disagreements:
        return EXIT_DISAGREE
    if outcome.count("error"):
        return EXIT_FAILURE
    if outcome.too_large:
        return EXIT_USAGE
    return EXIT_OK


def _peer_form(name: str) -> str:
    """How ``--peers`` runs a problem: its array form, as written (scalar loop), or why not."""
    form = form_for(name)
    if form is None:
        return f"no peer form ({no_form_reason(name)})"
    return "as written (a scalar loop)" if form.scalar_list else "array form (experiments/peers/forms.py)"


def _list_problems(as_json: bool, spec: str | None = None) -> int:
    """The catalogue, and the user's own problem if ``--problem FILE.py:NAME`` names one (its
    docstring's first paragraph as its description)."""
    problems = list(CATALOGUE.values())
    if spec and ".py" in spec:
        problems.append(get_problem(spec)[0])
    rows = [
        {
            "name": p.name,
            "kind": p.kind,
            "sizes": p.sizes,
            "description": p.description,
            "options": {k: v for k, v in p.options.items()},
            "peer_form": _peer_form(p.name),
        }
        for p in problems
    ]
    if as_json:
        print(json.dumps(rows, indent=1))
        return EXIT_OK
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{w}}  {r['kind']:<8}  {r['description']} [{r['sizes']}]; peers: {r['peer_form']}")
    print(f"\nyour own: --problem path/to/file.py:function (see {PROG} --help)")
    return EXIT_OK


#: Progress shows only once a run has taken this long (a quick run stays quiet).
PROGRESS_DELAY_S = 1.0
#: Without a terminal, a progress line at most this often (and one when the last cell is done).
PLAIN_EVERY_S = 5.0


class Console:
    """Narration and progress on stderr. Progress: on a terminal a live bar (tqdm: cells done /
    total, the current cell, elapsed and predicted time left), elsewhere a plain line now and
    then; both only once a run has taken ``PROGRESS_DELAY_S``. ``quiet`` (-q): nothing at all;
    ``narrate=False`` (--json): progress only."""

    def __init__(self, quiet: bool, narrate: bool = True, total: int = 0) -> None:
        self.quiet, self.narrating = quiet, narrate and not quiet
        self.total = total
        self.bar: Any = None
        self.shown = False
        self.started = time.monotonic()
        self.last_line = -math.inf
        self.last_done = 0
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            layout = "{n_fmt}/{total_fmt} cells |{bar:24}| {elapsed} elapsed, ~{remaining} left | {desc}"
            delay = PROGRESS_DELAY_S
            self.bar = tqdm(total=total, file=sys.stderr, delay=delay, leave=False, bar_format=layout)

    def say(self, msg: str) -> None:
        if not self.narrating:
            return
        if self.shown:
            self.bar.write(f"{PROG}: {msg}", file=sys.stderr)
        else:
            print(f"{PROG}: {msg}", file=sys.stderr, flush=True)

    def step(self, done: int, label: str) -> None:
        """``done`` of ``total`` cells finished; ``label`` says what runs now (or what finished)."""
        if self.quiet:
            return
        elapsed = time.monotonic() - self.started
        if self.bar is not None:
            self.bar.total = max(self.total, done)
            self.bar.n = done
            self.bar.set_description_str(label, refresh=False)
            if elapsed >= PROGRESS_DELAY_S:
                self.bar.refresh()
                self.shown = True
            return
        finished = done > self.last_done
        self.last_done = max(done, self.last_done)
        last = done >= self.total
        recent = elapsed - self.last_line < PLAIN_EVERY_S and not last
        if not finished or elapsed < PROGRESS_DELAY_S or recent:
            return
        self.last_line = elapsed
        left = elapsed / done * (self.total - done) if done and not last else 0.0
        ahead = "" if last else f", about {human_seconds(left)} left"
        print(
            f"{PROG}: progress: {done}/{self.total} cells ({label} done), "
            f"{human_seconds(elapsed)} elapsed{ahead}",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(ns: argparse.Namespace, argv: Sequence[str]) -> RunResult:
    """Run the parsed command line; the seam for what comes after a run (reports) is the result's
    ``folder``. Raises UsageError, ProblemError or OutputError before anything is timed."""
    settings, peer_note = _peers(ns, _settings(ns))
    problem = settings.problem
    folder = None
    unit = "size" if settings.by_size else "n"
    if ns.out is not None or len(settings.sizes) > 1 or ns.report or settings.shard:
        parent = ns.out if ns.out is not None else DEFAULT_RESULTS
        label = f"{problem.name}-{unit}{'-'.join(map(str, settings.sizes))}"
        if settings.shard:
            label = f"{problem.name}-shard{settings.shard[0]}of{settings.shard[1]}"
        folder = create_run_folder(parent, label)
    console = Console(ns.quiet, narrate=not ns.json)
    try:
        with environment.pinned_threads(ns.threads) as pools:
            header = {
                "tool": {"name": PROG, "version": _tool_version()},
                "command": {"argv": [PROG, *argv], "line": shlex.join([PROG, *argv]), "cwd": os.getcwd()},
                "run_folder": str(folder) if folder else None,
                "settings": _settings_doc(settings, ns.threads),
                "environment": {
                    **environment.collect(list(argv), pools),
                    **({"peers": _peer_environment(settings)} if settings.peers else {}),
                },
                "problem": {
                    "name": problem.name,
                    "description": problem.description,
                    "kind": problem.kind,
                    "sizes": problem.sizes,
                    "size_name": problem.size_name,
                    "options": settings.options,
                },
            }
            record = RunRecord(header, folder)
            if peer_note:
                console.say(peer_note)
            console.say(
                f"{problem.name} at {unit} = {', '.join(map(str, settings.sizes))}: "
                f"{', '.join(settings.modes)}"
                + (f"; peers {', '.join(p.name for p in settings.peers)}" if settings.peers else "")
                + f"; budget {settings.budget:g} s per cell"
                + (f"; saving to {folder}" if folder else "")
            )
            runner = Runner(settings, record, narrate=console.say, progress=console.step)
            console.total = runner.total
            try:
                outcome = runner.run()
            except BaseException as e:
                record.finish("partial", f"failed: {type(e).__name__}: {e}")
                raise
    finally:
        console.close()
    cells = record.cells
    summary = tables.summary(cells)
    record.doc["environment"]["load_average_after"] = environment.load_average()
    if outcome.interrupted:
        record.finish("partial", "interrupted (Ctrl-C) before the run finished", summary)
    else:
        record.finish("complete", None, summary)
    code = exit_code(outcome)
    if record.write_error and code in (EXIT_OK, EXIT_USAGE):
        code = EXIT_FAILURE
    return RunResult(code, record, outcome, folder)


def _settings_doc(settings: Settings, threads: int) -> dict[str, Any]:
    """The run's settings as results.json records them (the chunk sweep's sizes last)."""
    doc = settings.as_dict()
    chunks = doc.pop("chunks")
    return {**doc, "threads": threads, "chunks": chunks}


def _write_report(result: RunResult, ns: argparse.Namespace) -> int:
    """``--report``: the report of the run just made, in its folder (0, or 1 if it failed)."""
    try:
        from experiments.report import report_folder

        path = report_folder(result.folder)
    except Exception as e:  # the run's results are saved; say why the report is not
        _err(f"error: the report could not be written: {type(e).__name__}: {e}")
        return EXIT_FAILURE
    if not (ns.quiet or ns.json):
        _err(f"report written to {path} (and report.html, figures/)")
    return EXIT_OK


def _report(result: RunResult, ns: argparse.Namespace) -> None:
    """Print the data (stdout) and the verdict (stderr)."""
    doc = result.record.doc
    out = result.outcome
    if ns.json:
        print(json.dumps(doc, indent=1, allow_nan=False))
    elif not out.too_large:
        p = doc["problem"]
        print(f"{p['name']}: {p['description']}")
        print(tables.format_table(doc["cells"]))
        if doc["summary"]:
            print()
            print("\n".join(doc["summary"]))
        if doc["settings"].get("peers"):
            print()
            print(peer_table(doc["cells"], versions_of(doc["environment"])), end="")
    saved = result.folder is not None and not result.record.write_error
    if out.interrupted:
        _err(
            "interrupted; "
            + (
                f"partial results saved in {result.folder}"
                if saved
                else "the cells measured so far are above"
            )
        )
    if result.record.write_error:
        _err(f"error: {result.record.write_error}")
    for c in out.disagreements:
        what = "forward and reverse mode" if c.library == OURS else f"{c.library} and our engines"
        _err(f"{what} disagree at {tables.at_text(c.as_dict())}: {c.reason}")
    if not out.disagreements:
        for line in failures(out.cells, doc["problem"]["kind"] == "user"):
            _err(line)
    if out.too_large:
        ad = [c for c in out.cells if c.mode != FUNCTION]
        best = min(ad, key=lambda c: c.predicted_time_s if c.predicted_time_s is not None else math.inf)
        sizes = ", ".join(str(n) for n in sorted({c.n for c in ad}))
        _err(f"error: nothing could be measured at n = {sizes}: {best.mode}: {best.reason}")
    if saved and not out.interrupted and not (ns.quiet or ns.json):
        print(f"{PROG}: results saved in {result.folder}", file=sys.stderr)


#: What to try when a user's problem fails: building it, or differentiating its f.
BUILD_HINT = "hint: build(n, seed) must return (f, x) or (f, x, reference), x a list of floats or a 1-D array"
F_HINT = (
    "hint: f must be written with Python operators and modes.ops (see the README); "
    "run modes.grad(f, x) in Python to see the whole traceback"
)


def failures(cells: Sequence[Cell], user: bool) -> list[str]:
    """One line per distinct failure, naming every mode and size it hit; for a user's problem
    each is followed by the hint for that kind of failure."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        if c.status == "error":
            d = {"mode": c.mode, "n": c.n, "reason": c.reason, "library": c.library}
            groups.setdefault(tables.reason_key(d), []).append(d)
    lines = []
    for why, hit in groups.items():
        lines.append(f"{tables.where(hit)} failed: {why}")
        if user:
            lines.append(BUILD_HINT if "(n, seed) raised" in why or "must return" in why else F_HINT)
    return lines


def _err(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def _subcommand(name: str, argv: list[str]) -> int:
    module = importlib.import_module(SUBCOMMANDS[name])
    return int(module.main(argv) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``compare-modes`` command; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        return _subcommand(args[0], args[1:])
    parser = build_parser()
    try:
        ns = parser.parse_args(args)
        if ns.list_problems and ns.inputs is None and ns.sizes is None and not ns.sweep and ns.out is None:
            return _list_problems(ns.json, ns.problem)
        result = run(ns, args)
    except SystemExit as e:  # --help, --version
        return int(e.code or 0) if not isinstance(e.code, str) else EXIT_USAGE
    except UsageError as e:
        _err(f"error: {e}\n{PROG}: see '{PROG} --help'")
        return EXIT_USAGE
    except ProblemError as e:
        _err(f"error: {e}")
        return EXIT_USAGE if e.usage else EXIT_FAILURE
    except OutputError as e:
        _err(f"error: {e}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug in this toolkit, not bad input: show where
        _err(f"internal error: {type(e).__name__}: {e}")
        traceback.print_exc()
        return EXIT_FAILURE
    _report(result, ns)
    if ns.report and result.folder is not None:
        return _write_report(result, ns) or result.exit_code
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
