"""``compare-modes explain [EXPR] [--at a=-1,b=3,c=4] [--steps] [--out DIR]``: the article's picture.

Prints, for an expression (default: the article's f = (a + b) * (b + c) at a = -1, b = 3, c = 4):
the Wengert trace (each node's definition, value, local partials and adjoint after the reverse
sweep), the forward-mode tangent of every node for each seeded input, and the operation counts
of each mode. ``--steps`` adds the step-by-step trace (the forward evaluation node by node, the
reverse sweep one adjoint update at a time, one line per forward pass). With ``--out DIR`` it
draws the computation graph to ``DIR/<name>.png`` and ``.svg`` (``--format``, ``--dpi``,
``--size`` for slides); with ``--steps`` also one frame per step, ``DIR/<name>-steps/step-NN.png``,
and the animation ``DIR/<name>-steps.gif``.

Exit codes: 0 ok, 2 usage error or refused expression (the message points at the column), 1 any
other failure. Tables go to stdout; narration (files written) and errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import NoReturn

from modes.explain import DEFAULT_EXPRESSION, DEFAULT_POINT, ExplainError, explain
from modes.expression import FUNCTIONS, ExpressionError, is_variable_name, parse_number

PROG = "compare-modes explain"
ARTICLE_STEM = "article-graph"


class _UsageError(Exception):
    """argparse wanted to exit with a usage error."""


class _ExitRequestError(Exception):
    """argparse wanted to exit (``--help``)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _ExitRequestError(status)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description=(
            "Show forward and reverse mode at work on one expression: its Wengert trace with "
            "values, local partials and adjoints, every node's tangent for each seeded input, "
            "the operation counts of each mode, and (with --out) the computation graph."
        ),
        epilog=(
            "Expressions: numbers, variables, + - * / ** (Python precedence), unary minus, "
            f"parentheses and the functions {', '.join(sorted(FUNCTIONS))}. "
            "Quote the expression; if it starts with '-', put the options first and '--' before it "
            "(compare-modes explain --at a=1,b=2 -- '-a*b')."
        ),
    )
    p.add_argument(
        "expression",
        nargs="?",
        default=None,
        metavar="EXPR",
        help=f"the expression (default: the article's {DEFAULT_EXPRESSION!r})",
    )
    p.add_argument(
        "--at",
        action="append",
        default=None,
        metavar="NAME=VALUE,...",
        help="the point, e.g. a=-1,b=3,c=4 (repeatable; numbers as in EXPR: ASCII digits, no '_'; "
        "default: a=-1, b=3, c=4 for the variables a, b, c)",
    )
    p.add_argument(
        "--out", metavar="DIR", default=None, help="draw the graph to DIR/NAME.png and DIR/NAME.svg"
    )
    p.add_argument(
        "--name",
        default=None,
        help=f"file name stem for --out (default: {ARTICLE_STEM} for the article's example, "
        "else explain-graph)",
    )
    p.add_argument(
        "--no-seeds", action="store_true", help="draw only the reverse-mode graph, no forward panels"
    )
    p.add_argument(
        "--steps",
        action="store_true",
        help="also print the step-by-step trace; with --out, draw one frame per step and a GIF",
    )
    p.add_argument(
        "--format",
        default=None,
        metavar="FMT[,FMT]",
        help="image formats for --out: png, svg (editable text), pdf (default: png,svg for the graph, "
        "png for the step frames)",
    )
    p.add_argument("--dpi", type=float, default=None, help="resolution of PNG output (default: 150)")
    p.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="figure size in inches, e.g. 12.8x7.2 (default: 16:9, scaled up for large graphs)",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="merge identical subexpressions (exp(a) written twice becomes one node; default: as written)",
    )
    p.add_argument("--json", action="store_true", help="print the trace records as JSON only")
    return p


def parse_formats(text: str) -> tuple[str, ...]:
    """``"png,pdf"`` -> ``("png", "pdf")``; ``ValueError`` for an unknown or empty format."""
    from modes.explain_plot import FORMATS

    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    if not formats:
        raise ValueError("--format: give at least one of png, svg, pdf")
    for f in formats:
        if f not in FORMATS:
            raise ValueError(f"--format: unknown format {f!r} (choose from {', '.join(FORMATS)})")
    return formats


def parse_at(items: list[str]) -> dict[str, float]:
    """``["a=-1,b=3", "c=4"]`` -> ``{"a": -1.0, "b": 3.0, "c": 4.0}``; ``ValueError`` if malformed."""
    point: dict[str, float] = {}
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            name, eq, text = part.partition("=")
            name = name.strip()
            if not eq:
                raise ValueError(f"--at: {part!r} is not NAME=VALUE")
            if not is_variable_name(name):
                raise ValueError(f"--at: {name!r} is not a variable name (a function name or keyword?)")
            if name in point:
                raise ValueError(f"--at: {name} is given twice")
            value = parse_number(text)
            if value is None:
                try:
                    finite = math.isfinite(float(text))
                except ValueError:
                    finite = True
                if not finite:
                    raise ValueError(f"--at: the value of {name} must be finite, got {text.strip()!r}")
                raise ValueError(
                    f"--at: the value of {name}, {text.strip()!r}, is not a number "
                    "(numbers use the ASCII digits 0-9, as in expressions: no '_', no other digits)"
                )
            if not math.isfinite(value):
                raise ValueError(f"--at: the value of {name} must be finite, got {text.strip()!r}")
            point[name] = value
    return point


def _usage_error(message: str) -> int:
    sys.stderr.write(build_parser().format_usage())
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    source = DEFAULT_EXPRESSION if args.expression is None else args.expression
    try:
        at = parse_at(args.at) if args.at else None
    except ValueError as e:
        return _usage_error(str(e))
    if args.name is not None and (
        not args.name or any(c in args.name for c in "/\\\0") or args.name in (".", "..")
    ):
        return _usage_error(f"--name must be a plain file name stem, got {args.name!r}")
    try:
        formats = parse_formats(args.format) if args.format is not None else None
        size = _parse_size(args.size) if args.size is not None else None
    except ValueError as e:
        return _usage_error(str(e))
    if args.dpi is not None and not (math.isfinite(args.dpi) and 10 <= args.dpi <= 1200):
        return _usage_error(f"--dpi must be between 10 and 1200, got {args.dpi:g}")
    try:
        expl = explain(source, at, merge=args.merge)
    except ExpressionError as e:
        hint = ""
        if e.message.startswith("no value given") and at is None:
            hint = f"\n(give the point with --at, e.g. --at {','.join(f'{v}=1' for v in _names(source))})"
        print(f"{PROG}: error: {e}\n{e.excerpt()}{hint}", file=sys.stderr)
        return 2
    except ExplainError as e:
        return _usage_error(str(e))

    if args.json:
        data = expl.as_dict()
        if args.steps:
            data["steps"] = [st.as_dict() for st in expl.steps()]
        print(json.dumps(data, indent=2))
    else:
        print(expl)
        if args.steps:
            print()
            print(expl.steps_text())

    if args.out is not None:
        from modes import explain_plot

        stem = args.name or (
            ARTICLE_STEM if source == DEFAULT_EXPRESSION and at in (None, DEFAULT_POINT) else "explain-graph"
        )
        dpi = args.dpi or explain_plot.DPI
        try:
            paths = explain_plot.draw(
                expl,
                args.out,
                stem=stem,
                formats=formats or ("png", "svg"),
                seeds=not args.no_seeds,
                size=size,
                dpi=dpi,
            )
            for path in paths:
                print(f"wrote {path}", file=sys.stderr)
            if args.steps and expl.nodes:
                out = Path(args.out)
                frames = explain_plot.save_frames(
                    expl, out / f"{stem}-steps", "step", formats or ("png",), size=size, dpi=dpi
                )
                print(f"wrote {len(frames)} frames to {out / f'{stem}-steps'}", file=sys.stderr)
                gif = explain_plot.save_animation(
                    expl, out / f"{stem}-steps.gif", size=size, dpi=min(dpi, 100)
                )
                print(f"wrote {gif}", file=sys.stderr)
        except (OSError, ValueError) as e:
            print(f"{PROG}: error: cannot draw the graph: {e}", file=sys.stderr)
            return 1
    return 0


def _parse_size(text: str) -> tuple[float, float]:
    from modes.explain_plot import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise ValueError(f"--size: {e}") from None


def _names(source: str) -> list[str]:
    try:
        from modes.expression import parse

        return list(parse(source).variables)
    except ExpressionError:
        return []


def main(argv: list[str] | None = None) -> int:
    """Run ``compare-modes explain`` with ``argv`` (without the program and subcommand names)."""
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        except _ExitRequestError as e:
            return e.status
        except _UsageError as e:
            return _usage_error(str(e))
        return run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # never a traceback: report the failure and exit 1
        print(f"{PROG}: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
