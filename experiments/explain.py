"""``compare-modes explain [EXPR] [--at a=-1,b=3,c=4] [--out DIR]``: the article's picture, computed.

Prints, for an expression (default: the article's f = (a + b) * (b + c) at a = -1, b = 3, c = 4):
the Wengert trace (each node's definition, value, local partials and adjoint after the reverse
sweep), the forward-mode tangent of every node for each seeded input, and the operation counts
of each mode. With ``--out DIR`` it also draws the computation graph to ``DIR/<name>.png`` and
``.svg``.

Exit codes: 0 ok, 2 usage error or refused expression (the message points at the column), 1 any
other failure. Tables go to stdout; narration (files written) and errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
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
    p.add_argument("--json", action="store_true", help="print the trace records as JSON only")
    return p


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
        expl = explain(source, at)
    except ExpressionError as e:
        hint = ""
        if e.message.startswith("no value given") and at is None:
            hint = f"\n(give the point with --at, e.g. --at {','.join(f'{v}=1' for v in _names(source))})"
        print(f"{PROG}: error: {e}\n{e.excerpt()}{hint}", file=sys.stderr)
        return 2
    except ExplainError as e:
        return _usage_error(str(e))

    if args.json:
        print(json.dumps(expl.as_dict(), indent=2))
    else:
        print(expl)

    if args.out is not None:
        from experiments.explain_plot import draw

        stem = args.name or (
            ARTICLE_STEM if source == DEFAULT_EXPRESSION and at in (None, DEFAULT_POINT) else "explain-graph"
        )
        try:
            paths = draw(expl, args.out, stem=stem, seeds=not args.no_seeds)
        except (OSError, ValueError) as e:
            print(f"{PROG}: error: cannot draw the graph: {e}", file=sys.stderr)
            return 1
        for path in paths:
            print(f"wrote {path}", file=sys.stderr)
    return 0


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
