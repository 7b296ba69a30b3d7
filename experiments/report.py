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
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from experiments import plots
from experiments import report_render as rr
from experiments.human import plural
from experiments.report_data import CHUNK_SWEEP, ReportError, Run, load_run, load_runs
from experiments.report_sections import FIGURES, Report, build
from experiments.report_text import headline

PROG = "compare-modes report"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


# ---------------------------------------------------------------------------------- writing


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
            f"{PROG}: wrote {paths[0]} and {paths[1]} with {plural(len(paths[2:]) // 2, 'figure')}",
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
