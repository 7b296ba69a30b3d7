"""``python -m experiments.peers``: our engines and the peers on one problem, one table per n.

Data (the per-library table, or ``--json``) go to stdout, narration to stderr. Exit codes as
``compare-modes``: 0 success, 1 runtime failure, 2 usage error (unknown or missing peer, a problem
with no peer form, nothing small enough to measure), 3 a derivative disagrees with our reverse
mode, 130 interrupted (the rows measured so far are still printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

import modes
from experiments import budget as bud
from experiments.cli import EXIT_DISAGREE, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from experiments.environment import package_version
from experiments.peers import ALL, PEERS, Peer, PeerError, resolve
from experiments.peers.forms import FORMS, form_for, no_form_reason
from experiments.peers.run import OURS, PeerRun, PeerSettings, Row
from experiments.peers.table import per_library, render
from experiments.problems import CATALOGUE, ProblemError, get_problem
from experiments.results import clean

PROG = "python -m experiments.peers"


class UsageError(Exception):
    """A command line that cannot be run as given."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(t) for t in text.split(",") if t.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of whole numbers") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"sizes must be whole numbers >= 1, got '{text}'")
    return sizes


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {kind.__name__}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return v

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Time JAX, PyTorch and HIPS autograd beside our engines on one catalogue problem: "
        "reverse gradient / f and forward/reverse per library.",
    )
    p.add_argument(
        "--problem",
        default="rosenbrock-array",
        help="a catalogue problem with a peer form (default rosenbrock-array; see --list-problems)",
    )
    p.add_argument("--inputs", type=_sizes, metavar="N[,N...]", help="input counts n")
    p.add_argument(
        "--peers",
        default=ALL,
        metavar="NAME[,NAME...]",
        help=f"peers to time: {', '.join(PEERS)}, or {ALL} (default: every one installed)",
    )
    p.add_argument("--repeat", type=_positive(int), default=7, metavar="R", help="timed samples per cell")
    p.add_argument(
        "--budget",
        type=_positive(float),
        default=bud.DEFAULT_BUDGET_S,
        metavar="SECONDS",
        help=f"time allowed per cell (default {bud.DEFAULT_BUDGET_S:g})",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed for the problem's data")
    p.add_argument(
        "--tolerance",
        type=_positive(float),
        default=1e-8,
        metavar="RTOL",
        help="largest relative difference accepted against our reverse mode (default 1e-8)",
    )
    p.add_argument("--json", action="store_true", help="print the rows and the table as JSON, nothing else")
    p.add_argument("--list-problems", action="store_true", help="which problems have a peer form, and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no narration on stderr")
    return p


def environment(peers: list[Peer]) -> dict[str, Any]:
    """Versions and the precision/thread settings of every library in the run."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "modes": modes.__version__,
        "peers": {p.name: {"version": p.version(), **p.settings()} for p in peers},
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "threadpoolctl": package_version("threadpoolctl"),
    }


def list_problems() -> str:
    lines = []
    for name in CATALOGUE:
        form = form_for(name)
        lines.append(
            f"  {name:<18} "
            + (
                "peer form" + (" (scalar loop, as written)" if form.scalar_list else "")
                if form
                else f"no peer form: {no_form_reason(name)}"
            )
        )
    return "problems and their peer forms:\n" + "\n".join(lines) + "\n"


def exit_code(rows: list[Row], interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if any(r.agrees is False for r in rows):
        return EXIT_DISAGREE
    if any(r.status == "error" for r in rows):
        return EXIT_FAILURE
    timed = [r for r in rows if r.mode != "function"]
    if timed and all(r.status == "skipped" for r in timed):
        return EXIT_USAGE
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns its exit code."""
    err = lambda msg: print(msg, file=sys.stderr)
    try:
        ns = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        if ns.list_problems:
            sys.stdout.write(list_problems())
            return EXIT_OK
        if not ns.inputs:
            raise UsageError("--inputs N[,N...] is required")
        problem, options = get_problem(ns.problem)
        if options:
            raise UsageError("problem options are not supported with peers")
        form = FORMS.get(problem.name)
        if form is None:
            raise UsageError(
                f"problem '{problem.name}' has no peer form: {no_form_reason(problem.name)}; "
                f"problems with one: {', '.join(FORMS)}"
            )
        for n in ns.inputs:
            why = problem.size_error(n)
            if why:
                raise UsageError(why)
        peers, note = resolve(ns.peers)
    except SystemExit as e:  # --help
        return int(e.code or 0) if not isinstance(e.code, str) else EXIT_USAGE
    except (UsageError, PeerError) as e:
        err(f"error: {e}")
        return EXIT_USAGE
    except ProblemError as e:
        err(f"error: {e}")
        return EXIT_USAGE if e.usage else EXIT_FAILURE
    if note and not ns.quiet:
        err(note)
    narrate = (lambda msg: None) if ns.quiet else err
    settings = PeerSettings(
        problem,
        form,
        ns.inputs,
        peers,
        repeat=ns.repeat,
        budget=ns.budget,
        seed=ns.seed,
        tolerance=ns.tolerance,
    )
    env = environment(peers)
    narrate(
        f"{problem.name}: ours and {', '.join(p.name for p in peers) or 'no peer'}; "
        f"load average {env['load_average']}"
    )
    run = PeerRun(settings, narrate)
    rows = run.run()
    if run.interrupted:
        err("interrupted: printing what was measured")
    versions = {OURS: modes.__version__, **{p.name: p.version() for p in peers}}
    env["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if ns.json:
        doc = {
            "problem": problem.name,
            "sizes": ns.inputs,
            "environment": env,
            "rows": [r.as_dict() for r in rows],
            "table": per_library(rows, versions),
        }
        sys.stdout.write(json.dumps(clean(doc), indent=1, allow_nan=False) + "\n")
    else:
        sys.stdout.write(render(rows, versions))
        narrate(f"load average before {env['load_average']}, after {env['load_average_after']}")
    return exit_code(rows, run.interrupted)


if __name__ == "__main__":
    sys.exit(main())
