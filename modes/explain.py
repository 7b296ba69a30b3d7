"""The article's picture, computed: an expression's Wengert trace with values, local partials,
adjoints (reverse mode) and tangents (forward mode, one pass per seeded input).

    >>> from modes.explain import explain
    >>> e = explain()                      # f = (a + b) * (b + c) at a = -1, b = 3, c = 4
    >>> e.value, e.gradient
    (14.0, {'a': 7.0, 'b': 9.0, 'c': 2.0})
    >>> [(n.name, n.definition, n.value) for n in e.nodes[3:]]
    [('x1', 'a + b', 2.0), ('x2', 'b + c', 7.0), ('x3', 'x1 * x2', 14.0)]

Naming: inputs keep their names; intermediates are named ``x1, x2, ...`` in execution (tape)
order, the output included (the article's ``x = a + b``, ``y = b + c`` are ``x1`` and ``x2``; its
``f`` is the last node, marked ``is_output``). The prefix is the first of ``x``, ``v``, ``w``,
``t``, ``u``, ``z`` that no input name starts with, so an intermediate cannot be read as an
input's cousin (``x * y`` names its product ``v1``, not ``x1``).

Step by step (:meth:`Explanation.steps`): the forward evaluation node by node, then the reverse
sweep one adjoint update at a time (``adj(b) = 2 + 1 x 7 = 9``), then one forward-mode pass per
seeded input: what a lecture animates, and what ``compare-modes explain --steps`` prints and draws.

How each column is obtained:

* ``value``, ``partials``: recorded by the reverse engine (:func:`modes.record`); the partials are
  the local partial derivatives the tape stores for each operation, one per graph parent;
* ``adjoint``: ``df/d(node)``, from one backward sweep of that tape seeded with 1 at the output;
* ``tangents[s]``: ``d(node)/ds``, from one forward-mode pass (:func:`modes.jvp`) with input ``s``
  seeded with 1 and the others with 0;
* ``counts``: what :func:`modes.value_and_grad` did in each mode, from :func:`modes.counting`
  (forward mode with a chunk of one direction, as in the article: one pass per input).

The expression is parsed by :mod:`modes.expression` (never ``eval``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modes import api, chain, stats
from modes.core import ModesError, primal
from modes.expression import Expression, ExpressionError, Node, is_variable_name, parse
from modes.forward import tangent
from modes.reverse import record
from modes.rules import PRIMITIVES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The article's example and the point where it is evaluated.
DEFAULT_EXPRESSION = "(a + b) * (b + c)"
DEFAULT_POINT: dict[str, float] = {"a": -1.0, "b": 3.0, "c": 4.0}

_PREFIXES = ("x", "v", "w", "t", "u", "z")
_COUNT_KEYS = ("passes", "ops", "tangent_updates", "adjoint_updates", "sweeps", "tape_length")


class ExplainError(ModesError, ValueError):
    """The point does not fit the expression (a value for a variable it does not use, ...)."""


def fmt(v: float | None) -> str:
    """A number as the tables show it: 6 significant digits, no ``-0``; ``-`` for ``None``."""
    if v is None:
        return "-"
    return f"{v + 0.0:.6g}"


@dataclass(frozen=True)
class NodeRecord:
    """One node of the trace (one tape entry).

    ``kind`` is ``"input"`` or ``"operation"``. For an operation, ``op`` is the operator or
    function as written (``"+"``, ``"*"``, ``"-"`` for negation, ``"sin"``...), ``primitive`` the
    rule-table primitive that ran (``"add"``, ``"mul"``, ``"neg"``, ``"sin"``...), ``operands`` the
    operands in order (node names, or constants written as numbers), ``parents`` the graph
    parents (the operands that are nodes, in order, repeated if used twice as in ``a * a``) and
    ``partials[j]`` the local partial ``d(node)/d(parents[j])`` stored on the tape.
    ``adjoint`` is ``df/d(node)``; ``tangents[s]`` is ``d(node)/ds`` from the forward pass that
    seeds input ``s``.
    """

    index: int
    name: str
    kind: str
    op: str | None
    primitive: str | None
    operands: tuple[str, ...]
    parents: tuple[str, ...]
    partials: tuple[float, ...]
    value: float
    adjoint: float
    tangents: dict[str, float | None] = field(default_factory=dict)
    is_output: bool = False

    @property
    def definition(self) -> str:
        """How the node is computed from its operands: ``"a + b"``, ``"sin(x1)"``, ``"input"``."""
        if self.kind == "input":
            return "input"
        o = self.operands
        if self.op in ("+", "-", "*", "/", "**") and len(o) == 2:
            return f"{o[0]} {self.op} {o[1]}"
        if self.op == "-" and len(o) == 1:
            return f"-{o[0]}"
        return f"{self.op}({', '.join(o)})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "kind": self.kind,
            "op": self.op,
            "primitive": self.primitive,
            "definition": self.definition,
            "operands": list(self.operands),
            "parents": list(self.parents),
            "partials": [_json_float(p) for p in self.partials],
            "value": _json_float(self.value),
            "adjoint": _json_float(self.adjoint),
            "tangents": {k: _json_float(v) for k, v in self.tangents.items()},
            "is_output": self.is_output,
        }


@dataclass(frozen=True)
class Step:
    """One frame of the step-by-step explanation (see :meth:`Explanation.steps`).

    ``phase`` is ``"evaluate"`` (``node`` is computed from its operands), ``"reverse"`` (one
    adjoint update: ``parent``'s adjoint grows by ``partial x adj(node)``, the local partial of
    the edge ``parent -> node`` times the adjoint flowing back from ``node``; ``slot`` tells which
    operand when a node uses the same parent twice, as in ``a * a``) or ``"forward"`` (one
    forward-mode pass with input ``seed`` seeded with 1). The state after the step: ``values``
    of the nodes evaluated so far; ``terms[n]``, the contributions ``n``'s adjoint has received
    so far (``(1.0,)`` for the output's seed) and ``adjoints[n]`` their running sum; ``tangents``
    of every node in a forward pass. ``text`` says it in one line.
    """

    number: int
    phase: str
    node: str
    text: str
    values: dict[str, float]
    parent: str | None = None
    slot: int | None = None
    partial: float | None = None
    contribution: float | None = None
    terms: dict[str, tuple[float, ...]] = field(default_factory=dict)
    adjoints: dict[str, float] = field(default_factory=dict)
    seed: str | None = None
    tangents: dict[str, float | None] = field(default_factory=dict)

    @property
    def before(self) -> float | None:
        """``parent``'s adjoint before this update (``None``: nothing had reached it yet)."""
        if self.parent is None:
            return None
        t = self.terms[self.parent][:-1]
        return _total(t) if t else None

    @property
    def after(self) -> float | None:
        """``parent``'s adjoint after this update (the running sum)."""
        return None if self.parent is None else self.adjoints[self.parent]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "phase": self.phase,
            "node": self.node,
            "parent": self.parent,
            "slot": self.slot,
            "seed": self.seed,
            "partial": _json_float(self.partial),
            "contribution": _json_float(self.contribution),
            "adjoint": _json_float(self.after),
            "text": self.text,
        }


def _total(terms: tuple[float, ...]) -> float:
    """A running adjoint: its terms added left to right, as the engine's sweep adds them."""
    total = 0.0
    for t in terms:
        total += t
    return total


def sum_text(terms: tuple[float, ...], total: float) -> str:
    """A running adjoint as the sum it is: ``"9"`` for one term, ``"2 + 7 = 9"`` for two."""
    if len(terms) <= 1:
        return fmt(total)
    parts = [fmt(terms[0])] + [(f"- {fmt(-t)}" if t < 0 else f"+ {fmt(t)}") for t in terms[1:]]
    return f"{' '.join(parts)} = {fmt(total)}"


@dataclass(frozen=True)
class Explanation:
    """Everything the ``explain`` tool prints and draws for one expression at one point."""

    source: str
    inputs: tuple[str, ...]
    point: dict[str, float]
    nodes: tuple[NodeRecord, ...]
    output: str | None  # the output node's name (None when f is a constant)
    value: float
    gradient: dict[str, float]  # adjoints of the inputs (reverse mode)
    forward_gradient: dict[str, float]  # the output's tangent in each seeded pass (forward mode)
    counts: dict[str, dict[str, int]]  # "forward" / "reverse" -> modes.counting's counts
    notes: tuple[str, ...] = ()

    def node(self, name: str) -> NodeRecord:
        """The record of the node called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def intermediates(self) -> tuple[NodeRecord, ...]:
        return tuple(n for n in self.nodes if n.kind != "input")

    @property
    def point_text(self) -> str:
        return ", ".join(f"{k} = {fmt(v)}" for k, v in self.point.items())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become the strings "nan", "inf", "-inf")."""
        return {
            "expression": self.source,
            "inputs": list(self.inputs),
            "point": {k: _json_float(v) for k, v in self.point.items()},
            "value": _json_float(self.value),
            "output": self.output,
            "gradient": {k: _json_float(v) for k, v in self.gradient.items()},
            "forward_gradient": {k: _json_float(v) for k, v in self.forward_gradient.items()},
            "nodes": [n.as_dict() for n in self.nodes],
            "counts": self.counts,
            "notes": list(self.notes),
        }

    # -- notebooks ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        grad = ", ".join(f"{k}: {fmt(v)}" for k, v in self.gradient.items())
        return (
            f"<Explanation of f = {self.source}"
            + (f" at {self.point_text}" if self.point else "")
            + f": {len(self.nodes)} nodes, value {fmt(self.value)}, gradient {{{grad}}}; "
            "print() it for the tables, .figure() for the graph, .steps() for the sweep>"
        )

    def _repr_html_(self) -> str:
        """Jupyter: the graph inline (SVG) above the trace, tangent and count tables."""
        from modes import notebook

        return notebook.explanation_html(self)

    def _repr_markdown_(self) -> str:
        from modes import notebook

        return notebook.explanation_markdown(self)

    # -- pictures (matplotlib is imported only when one is asked for) ----------------------------
    def figure(
        self, *, seeds: bool = True, size: tuple[float, float] | None = None, dpi: float | None = None
    ) -> Figure:
        """The computation graph as a matplotlib Figure: values, adjoints and local partials,
        with one forward-pass panel per input beside it (``seeds=False``: the graph alone).
        ``size`` is (width, height) in inches (default: 16:9, scaled up for large graphs)."""
        from modes import explain_plot

        return explain_plot.figure(self, seeds=seeds, size=size, dpi=dpi or explain_plot.DPI)

    def save(
        self,
        path: str | PathLike[str],
        *,
        seeds: bool = True,
        size: tuple[float, float] | None = None,
        dpi: float | None = None,
    ) -> Path:
        """Draw the graph to ``path``; the suffix picks the format (``.png``, ``.svg`` with
        editable text, ``.pdf``). Returns the path written."""
        from modes import explain_plot

        fig = self.figure(seeds=seeds, size=size, dpi=dpi)
        return explain_plot.save(fig, path)

    def step_figure(
        self, number: int, *, size: tuple[float, float] | None = None, dpi: float | None = None
    ) -> Figure:
        """Frame ``number`` (1-based) of :meth:`steps` as a matplotlib Figure."""
        from modes import explain_plot

        return explain_plot.step_figure(self, number, size=size, dpi=dpi or explain_plot.DPI)

    def save_steps(
        self,
        out_dir: str | PathLike[str],
        *,
        stem: str = "step",
        formats: tuple[str, ...] = ("png",),
        size: tuple[float, float] | None = None,
        dpi: float | None = None,
    ) -> list[Path]:
        """One numbered frame per step (``out_dir/step-01.png``, ...) in each format."""
        from modes import explain_plot

        return explain_plot.save_frames(self, out_dir, stem, formats, size=size, dpi=dpi or explain_plot.DPI)

    def animate(
        self,
        path: str | PathLike[str],
        *,
        size: tuple[float, float] | None = None,
        dpi: float = 100,
        seconds_per_step: float = 1.5,
    ) -> Path:
        """The steps as one animated GIF at ``path`` (one frame per step)."""
        from modes import explain_plot

        return explain_plot.save_animation(self, path, size=size, dpi=dpi, seconds_per_step=seconds_per_step)

    # -- step by step -------------------------------------------------------------------------
    def steps(self) -> tuple[Step, ...]:
        """The computation one step at a time: what a lecture animates.

        One step per node of the forward evaluation (inputs first, then each operation in tape
        order), one per adjoint update of the reverse sweep (tape order backwards, each node's
        parents in order: exactly the local partial x adjoint products the engine counts), and
        one per forward-mode pass (one seeded input each). The reverse steps replay the recorded
        local partials with the engine's product (:func:`modes.chain.product`); their
        running sums end at the adjoints the engine's sweep returned (checked: a mismatch is a
        note, never silent).
        """
        steps: list[Step] = []
        values: dict[str, float] = {}
        for n in self.nodes:
            values[n.name] = n.value
            if n.kind == "input":
                text = f"{n.name} = {fmt(n.value)} (input)"
            else:
                text = f"{n.name} = {n.definition} = {fmt(n.value)}"
            steps.append(Step(len(steps) + 1, "evaluate", n.name, text, dict(values)))
        if self.output is None:
            return tuple(steps)
        terms: dict[str, tuple[float, ...]] = {}
        for n, slot, p, d, g, terms in _reverse_replay(self.nodes, self.output):
            c = terms[p][-1]
            total = _total(terms[p])
            text = (
                f"adj({p}) += d{n}/d{p} * adj({n}) = {fmt(d)} * {fmt(g)} = {fmt(c)}"
                f"  ->  adj({p}) = {sum_text(terms[p], total)}"
            )
            steps.append(
                Step(
                    len(steps) + 1,
                    "reverse",
                    n,
                    text,
                    dict(values),
                    parent=p,
                    slot=slot,
                    partial=d,
                    contribution=c,
                    terms=terms,
                    adjoints={k: _total(v) for k, v in terms.items()},
                )
            )
        terms = terms or {self.output: (1.0,)}
        final = {k: _total(v) for k, v in terms.items()}
        for s in self.inputs:
            t = {n.name: n.tangents.get(s) for n in self.nodes}
            others = [o for o in self.inputs if o != s]
            zero = f", {' = '.join(f'd{o}' for o in others)} = 0" if others else ""
            text = (
                f"forward pass seeding {s} (d{s} = 1{zero}): "
                + ", ".join(f"d{k} = {fmt(v)}" for k, v in t.items())
                + f"  ->  df/d{s} = {fmt(self.forward_gradient[s])}"
            )
            steps.append(
                Step(
                    len(steps) + 1,
                    "forward",
                    self.output,
                    text,
                    dict(values),
                    terms=dict(terms),
                    adjoints=final,
                    seed=s,
                    tangents=t,
                )
            )
        return tuple(steps)

    def steps_text(self) -> str:
        """The step-by-step trace for a terminal: one numbered line per step, by phase."""
        steps = self.steps()
        heads = {
            "evaluate": "forward evaluation, node by node (the values the tape records)",
            "reverse": f"reverse sweep from f with adj({self.output}) = 1: one adjoint update per edge",
            "forward": "forward mode: one pass per seeded input",
        }
        width = len(str(len(steps)))
        lines = [f"f = {self.source}" + (f" at {self.point_text}" if self.point else "")]
        phase = None
        for st in steps:
            if st.phase != phase:
                phase = st.phase
                lines += ["", heads[phase]]
            lines.append(f"{st.number:>{width}}. {st.text}")
        if self.output is not None:
            grad = ", ".join(f"df/d{k} = {fmt(v)}" for k, v in self.gradient.items())
            lines += ["", f"{len(steps)} steps; gradient {grad}"]
        return "\n".join(lines)

    # -- tables -------------------------------------------------------------------------------
    def trace_table(self) -> str:
        """The Wengert trace: node, definition, value, local partials, adjoint."""
        head = ("node", "definition", "value", "local partials", "adjoint df/dnode", "")
        rows = []
        for n in self.nodes:
            partials = ", ".join(f"d{n.name}/d{p} = {fmt(d)}" for p, d in zip(n.parents, n.partials))
            mark = "<- f" if n.is_output else ""
            rows.append((n.name, n.definition, fmt(n.value), partials, fmt(n.adjoint), mark))
        at = f" at {self.point_text}" if self.point else ""
        title = (
            f"Wengert trace of f = {self.source}{at}\n"
            "(reverse mode: record the operations, then sweep back from f with adjoint df/df = 1)"
        )
        lines = [title, "", *_table(head, rows, right=(2, 4))]
        grad = ", ".join(f"df/d{k} = {fmt(v)}" for k, v in self.gradient.items())
        lines.append("")
        lines.append(
            f"f = {fmt(self.value)}" + (f"; gradient (adjoints of the inputs): {grad}" if grad else "")
        )
        return "\n".join(lines)

    def tangent_table(self) -> str:
        """Forward mode: every node's tangent, one column per seeded input (one pass each)."""
        if not self.inputs:
            return "forward mode: no inputs, nothing to seed"
        head = ("node", "value", *(f"seed {s}" for s in self.inputs))
        rows = []
        for n in self.nodes:
            cells = [fmt(n.tangents.get(s)) for s in self.inputs]
            rows.append((n.name + (" (f)" if n.is_output else ""), fmt(n.value), *cells))
        title = (
            "forward mode: tangents d(node)/d(seed), one pass per seeded input "
            "(seed = 1 for that input, 0 for the others)"
        )
        lines = [title, "", *_table(head, rows, right=tuple(range(1, len(head))))]
        fg = ", ".join(fmt(v) for v in self.forward_gradient.values())
        rg = ", ".join(fmt(v) for v in self.gradient.values())
        lines.append("")
        lines.append(
            f"f's row across the {len(self.inputs)} pass{'es' if len(self.inputs) != 1 else ''}: "
            f"({fg}), the gradient; "
            f"reverse mode's adjoints from one sweep: ({rg})"
        )
        return "\n".join(lines)

    def counts_table(self) -> str:
        """Operation counts of each mode (modes.counting), and what they mean for this f."""
        if not self.counts:
            return "operation counts: f has no inputs, nothing to differentiate"
        fw, rv = self.counts["forward"], self.counts["reverse"]
        n = len(self.inputs)
        head = ("", "forward (chunk 1)", "reverse")
        rows = [
            ("passes through f", str(fw["passes"]), str(rv["passes"])),
            ("primitive evaluations", str(fw["ops"]), str(rv["ops"])),
            ("backward sweeps", str(fw["sweeps"]), str(rv["sweeps"])),
            ("derivative updates", str(fw["tangent_updates"]), str(rv["adjoint_updates"])),
            ("tape length", "-", str(rv["tape_length"])),
        ]
        times = {1: "once", 2: "twice", 3: "thrice"}.get(n, f"{n} times")
        lines = [
            "operation counts per mode (modes.counting; per graph node)",
            "",
            *_table(head, rows, right=(1, 2)),
            "",
            "derivative updates: local partial x tangent products (forward, per pass) or "
            "local partial x adjoint products (reverse)",
            f"forward mode seeds one input per pass, so it runs f {times} to get the {n} "
            f"derivative{'s' if n != 1 else ''}; reverse mode runs f once and sweeps back once.",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        parts = [self.trace_table(), self.tangent_table(), self.counts_table()]
        if self.notes:
            parts.append("notes:\n" + "\n".join(f"- {n}" for n in self.notes))
        return "\n\n".join(parts)


def _reverse_replay(
    nodes: tuple[NodeRecord, ...] | list[NodeRecord], output: str
) -> Iterator[tuple[str, int, str, float, float, dict[str, tuple[float, ...]]]]:
    """The reverse sweep, one adjoint update at a time, over the recorded local partials.

    Yields ``(child, slot, parent, partial, adj(child), terms)`` after each update, where
    ``terms`` maps every node reached so far to the contributions its adjoint has received (a
    fresh dict each time). Same order as the engine (tape order backwards, parents in order),
    same product (:func:`modes.chain.product`: IEEE, except that a node no path reaches, or a
    zero partial the rule table calls structural, contributes exactly zero).
    """
    terms: dict[str, tuple[float, ...]] = {output: (1.0,)}
    reached = {output}
    for n in reversed(nodes):
        if n.name not in terms or not n.partials:
            continue
        g = _total(terms[n.name])
        live = n.name in reached
        prim = PRIMITIVES.get(n.primitive or "")
        structural = prim is not None and prim.structural_zeros
        for slot, (p, d) in enumerate(zip(n.parents, n.partials)):
            terms[p] = (*terms.get(p, ()), float(chain.product(d, g, structural, live)))
            if live and not (structural and d == 0.0):
                reached.add(p)
            yield n.name, slot, p, d, g, dict(terms)


def _json_float(v: float | None) -> float | str | None:
    if v is None or math.isfinite(v):
        return v
    return "nan" if v != v else ("inf" if v > 0 else "-inf")


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], right: tuple[int, ...] = ()) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        out = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    rule = tuple("-" * w if h else "" for h, w in zip(head, widths))
    return [line(head), line(rule), *(line(r) for r in rows)]


# ------------------------------------------------------------------------------------ building


def resolve_point(expr: Expression, at: Mapping[str, float] | None) -> dict[str, float]:
    """The input values in the order the variables first appear in the expression.

    ``at=None`` takes the article's point (``a = -1, b = 3, c = 4``) for the variables used.
    A variable without a value, or a value for a name the expression does not use, is refused.
    """
    given = dict(DEFAULT_POINT) if at is None else dict(at)
    for name, v in given.items():
        if not isinstance(name, str) or not is_variable_name(name):
            raise ExplainError(
                f"{name!r} cannot be a variable name (a function name, a keyword or not a name)"
            )
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ExplainError(f"the value of {name} must be a number, got {v!r}") from None
        if not math.isfinite(fv):
            raise ExplainError(f"the value of {name} must be finite, got {v!r}")
        given[name] = fv
    expr.check_names(given)
    if at is not None:
        unused = [name for name in given if name not in expr.positions]
        if unused:
            raise ExplainError(
                f"value given for {', '.join(unused)}, which the expression does not use "
                f"(its variables: {', '.join(expr.variables) or 'none'})"
            )
    return {name: given[name] for name in expr.variables}


def _prefix(inputs: tuple[str, ...]) -> str:
    """The first prefix that no input name starts with, so ``x1`` is never read as a cousin of
    an input ``x`` (``x * y`` names its product ``v1``; the article's ``a, b, c`` keep ``x1``)."""
    for p in _PREFIXES:
        if not any(name.startswith(p) for name in inputs):
            return p
    for p in _PREFIXES:  # every prefix taken: at least never a name an input could have
        pattern = re.compile(rf"{p}\d+")
        if not any(pattern.fullmatch(name) for name in inputs):
            return p
    return "node"


def _operand(r: Any, rec: Any, names: dict[int, str]) -> str:
    try:
        return names[rec.index_of(r)]
    except ValueError:
        pass
    text = fmt(float(primal(r)))
    return f"({text})" if text.startswith("-") else text


def explain(
    expression: str | Expression | Callable[[Any], Any] = DEFAULT_EXPRESSION,
    at: Mapping[str, float] | Sequence[float] | None = None,
    *,
    counts: bool = True,
    merge: bool = False,
) -> Explanation:
    """Record ``expression`` at ``at`` with both engines and return its annotated trace.

    ``expression`` is a string in the expression language (:mod:`modes.expression`) or a Python
    function ``f(v)`` written with the expression API (operators and :mod:`modes.ops` on the
    list ``v`` of inputs), which is recorded as it runs: ``explain(lambda v: (v[0] + v[1]) *
    (v[1] + v[2]), {"a": -1, "b": 3, "c": 4})`` gives the same trace as the string form.

    ``at`` maps each variable to its value (default: the article's ``a = -1, b = 3, c = 4``); for
    a function it may also be a list of values (the inputs are then named ``x0, x1, ...``). A
    function returning a list of scalars gives a :class:`~modes.explain_jacobian.JacobianExplanation`:
    its Jacobian by forward passes (one per input) and by reverse sweeps (one per output).
    Raises :class:`~modes.expression.ExpressionError` (with a position) for an expression that
    is refused, :class:`ExplainError` for a point that does not fit it. ``counts=False`` skips the
    two extra differentiations that :func:`modes.counting` measures. ``merge=True`` parses a
    string with identical subexpressions merged (``exp(a)`` written twice becomes one node used
    twice); off by default, since the trace as written is the honest one.
    """
    if callable(expression) and not isinstance(expression, (str, Expression)):
        names, x = _callable_point(at)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return _explain_callable(expression, names, x, counts)
    if isinstance(at, Sequence):
        raise ExplainError("give an expression's point as a mapping, e.g. {'a': -1.0, 'b': 3.0}")
    expr = expression if isinstance(expression, Expression) else parse(expression, merge=merge)
    point = resolve_point(expr, at)
    names = tuple(point)
    x = [point[n] for n in names]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if not names:
            value = float(primal(expr.evaluate({})))
            notes = () if math.isfinite(value) else (f"f = {fmt(value)} is not finite",)
            return Explanation(expr.source, (), {}, (), None, value, {}, {}, {}, notes)
        return _explain(expr, names, x, counts)


def _explain(expr: Expression, names: tuple[str, ...], x: list[float], with_counts: bool) -> Explanation:
    # 1. record with the reverse engine, remembering which expression node made each engine value
    made: list[tuple[Node, Any, tuple[Any, ...]]] = []

    def attribute(node: Node, r: Any, args: tuple[Any, ...]) -> None:
        made.append((node, r, args))

    rec = record(lambda v: expr.evaluate(dict(zip(names, v)), attribute), x)
    source_of: dict[int, tuple[Node, tuple[Any, ...]]] = {}
    for node, r, args in made:
        try:
            source_of.setdefault(rec.index_of(r), (node, args))
        except ValueError:  # a constant: no tape entry
            continue
    out_index = rec.output_node
    value = float(primal(rec.value))
    tape_nodes = rec.nodes()

    # 2. one backward sweep from the output, keeping every node's adjoint
    adjoints = rec.adjoints()

    # 3. one forward pass per seeded input, keeping every expression node's dual number
    tangents: dict[str, dict[int, Any]] = {}
    forward_gradient: dict[str, float] = {}
    with stats.counting(memory=False):  # keeps these passes out of a caller's own counting block
        _seed_passes(expr, names, x, tangents, forward_gradient)

    # 4. the records
    input_of = {k: names[i] for i, k in enumerate(rec.input_nodes)}
    prefix = _prefix(names)
    node_names: dict[int, str] = {}
    counter = 0
    for entry in tape_nodes:
        k = entry.index
        if k in input_of:
            node_names[k] = input_of[k]
        else:
            counter += 1
            node_names[k] = f"{prefix}{counter}"

    records = []
    for entry in tape_nodes:
        k = entry.index
        adjoint = float(primal(adjoints[k]))
        if entry.primitive is None:
            seed_tangents = {s: (1.0 if s == input_of[k] else 0.0) for s in names}
            records.append(
                NodeRecord(
                    k,
                    node_names[k],
                    "input",
                    None,
                    None,
                    (),
                    (),
                    (),
                    float(entry.value),
                    adjoint,
                    seed_tangents,
                    k == out_index,
                )
            )
            continue
        prim, parents = entry.primitive, entry.parents
        partials = tuple(float(primal(d)) for d in entry.partials)
        source = source_of.get(k)
        if source is not None:
            node, args = source
            op = node.name if node.kind == "call" else node.op
            operands = tuple(_operand(a, rec, node_names) for a in args)
            seed_tangents = {s: _tangent(tangents[s].get(id(node))) for s in names}
        else:  # a tape entry no expression node returned (a derived function's inner step)
            op, operands = prim.name, tuple(node_names[p] for p in parents)
            seed_tangents = {s: None for s in names}
        records.append(
            NodeRecord(
                k,
                node_names[k],
                "operation",
                op,
                prim.name,
                operands,
                tuple(node_names[p] for p in parents),
                partials,
                float(primal(entry.value)),
                adjoint,
                seed_tangents,
                k == out_index,
            )
        )

    counted = _counts(expr, names, x) if with_counts else {}
    return _explanation(
        expr.source,
        names,
        x,
        records,
        node_names,
        rec.input_nodes,
        out_index,
        value,
        forward_gradient,
        counted,
    )


def _explanation(
    source: str,
    names: tuple[str, ...],
    x: list[float],
    records: list[NodeRecord],
    node_names: list[str],
    input_nodes: list[int],
    out_index: int | None,
    value: float,
    forward_gradient: dict[str, float | None],
    counted: dict[str, Any],
) -> Explanation:
    """The explanation of a scalar f from its node records: the gradient read off the input
    nodes' adjoints, checked against the forward gradient and the counted runs (notes)."""
    gradient = {names[i]: records[k].adjoint for i, k in enumerate(input_nodes)}
    notes = _notes(records, gradient, forward_gradient, counted)
    return Explanation(
        source,
        names,
        dict(zip(names, x)),
        tuple(records),
        node_names[out_index] if out_index is not None else None,
        value,
        gradient,
        forward_gradient,
        {m: c for m, c in counted.items() if m in ("forward", "reverse")},
        tuple(notes),
    )


#: How a recorded primitive is written in a definition (binary operators infix, ``neg`` as ``-``).
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def _callable_point(at: Mapping[str, float] | Sequence[float] | None) -> tuple[tuple[str, ...], list[float]]:
    """Input names and values for a function: a mapping's keys, or ``x0, x1, ...`` for a list."""
    if at is None:
        raise ExplainError("explain(f, at) needs the point: a list of values or a mapping name -> value")
    if isinstance(at, Mapping):
        names = tuple(at)
        for name in names:
            if not isinstance(name, str) or not name.isidentifier():
                raise ExplainError(f"{name!r} cannot be an input name")
        values = list(at.values())
    else:
        values = list(at)
        names = tuple(f"x{i}" for i in range(len(values)))
    if not values:
        raise ExplainError("explain(f, at) needs at least one input")
    x = []
    for name, v in zip(names, values):
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ExplainError(f"the value of {name} must be a number, got {v!r}") from None
        if not math.isfinite(fv):
            raise ExplainError(f"the value of {name} must be finite, got {v!r}")
        x.append(fv)
    return names, x


def _source_name(f: Callable[[Any], Any]) -> str:
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or type(f).__name__
    return "a Python function (lambda)" if name.endswith("<lambda>") else f"{name}(v)"


def _recorded_tangents(f: Callable[[Any], Any], x: list[float], i: int, length: int) -> list[float]:
    """Every tape node's tangent when input ``i`` is seeded (see :func:`forward_pass_nodes`)."""
    return [_tangent(node.value) or 0.0 for node in forward_pass_nodes(f, x, i, length)]


def forward_pass_nodes(f: Callable[[Any], Any], x: list[float], i: int, length: int) -> list[Any]:
    """The tape nodes of ``f`` recorded (reverse engine) inside one forward-mode pass seeding input
    ``i`` (:func:`modes.jvp`), so each node's value is a dual number whose tangent
    :func:`modes.tangent` reads."""
    kept: list[Any] = []

    def inner(v: Any) -> Any:
        rec = record(f, v)
        kept.append(rec)
        return rec.value

    api.jvp(inner, x, [1.0 if j == i else 0.0 for j in range(len(x))])
    nodes = kept[-1].nodes()
    if len(nodes) != length:
        raise ExplainError(
            f"f recorded {len(nodes)} operations in a forward pass but {length} on its own: "
            "its control flow depends on the derivative, so it cannot be drawn as one graph"
        )
    return nodes


def _tape_records(
    tape_nodes: list[Any],
    input_nodes: list[int],
    names: tuple[str, ...],
    tangents: list[list[float]],
    adjoints: list[Any],
    outputs: set[int | None],
) -> tuple[list[NodeRecord], dict[int, str]]:
    """NodeRecords straight from a recording's tape (a function's trace: no expression tree).

    ``tangents[i][k]`` is node ``k``'s tangent in the pass seeding input ``i``; ``adjoints[k]``
    its adjoint; the tape keeps no constants, so ``mul(v1, constant)`` says so.
    """
    input_of = {k: names[i] for i, k in enumerate(input_nodes)}
    prefix = _prefix(names)
    node_names: dict[int, str] = {}
    for entry in tape_nodes:
        if entry.index in input_of:
            node_names[entry.index] = input_of[entry.index]
        else:
            node_names[entry.index] = f"{prefix}{len(node_names) - len(input_of) + 1}"
    records = []
    for entry in tape_nodes:
        k = entry.index
        seeded = {s: float(tangents[i][k]) for i, s in enumerate(names)}
        common = dict(value=float(primal(entry.value)), adjoint=float(primal(adjoints[k])))
        if entry.primitive is None:
            records.append(
                NodeRecord(
                    k,
                    node_names[k],
                    "input",
                    None,
                    None,
                    (),
                    (),
                    (),
                    tangents=seeded,
                    is_output=k in outputs,
                    **common,
                )
            )
            continue
        prim = entry.primitive.name
        parents = tuple(node_names[p] for p in entry.parents)
        if prim in _INFIX and len(parents) == 2:
            op, operands = _INFIX[prim], parents
        elif prim == "neg":
            op, operands = "-", parents
        else:  # a constant operand is not on the tape: say so rather than guess its place
            op = prim
            operands = parents + (("constant",) if prim in _INFIX else ())
        records.append(
            NodeRecord(
                k,
                node_names[k],
                "operation",
                op,
                prim,
                operands,
                parents,
                tuple(float(primal(d)) for d in entry.partials),
                tangents=seeded,
                is_output=k in outputs,
                **common,
            )
        )
    return records, node_names


def _explain_callable(
    f: Callable[[Any], Any], names: tuple[str, ...], x: list[float], with_counts: bool
) -> Explanation:
    rec = record(f, x)
    if rec.out_shape != ():  # a vector f: its Jacobian, by forward passes and by reverse sweeps
        from modes.explain_jacobian import explain_vector

        return explain_vector(f, names, x, with_counts)  # type: ignore[return-value]
    tape_nodes = rec.nodes()
    if any(np.ndim(primal(n.value)) for n in tape_nodes):
        raise ExplainError("explain draws scalar operations; f made array values (write it on the list v)")
    value = float(primal(rec.value))
    out_index = rec.output_node
    adjoints = rec.adjoints() if out_index is not None else [0.0] * len(tape_nodes)
    tangents = [_recorded_tangents(f, x, i, len(tape_nodes)) for i in range(len(names))]
    records, node_names = _tape_records(tape_nodes, rec.input_nodes, names, tangents, adjoints, {out_index})
    forward_gradient = {s: (records[out_index].tangents[s] if out_index is not None else 0.0) for s in names}
    counted: dict[str, Any] = {}
    if with_counts:
        for mode, chunk in (("forward", 1), ("reverse", None)):
            with stats.counting(memory=False) as st:
                _, g = api.value_and_grad(f, x, mode=mode, chunk=chunk)
            counted[mode] = {key: getattr(st, key) for key in _COUNT_KEYS}
            counted[f"{mode}_gradient"] = [float(v) for v in np.atleast_1d(g)]
    return _explanation(
        _source_name(f),
        names,
        x,
        records,
        node_names,
        rec.input_nodes,
        out_index,
        value,
        forward_gradient,
        counted,
    )


def _seed_passes(
    expr: Expression,
    names: tuple[str, ...],
    x: list[float],
    tangents: dict[str, dict[int, Any]],
    forward_gradient: dict[str, float],
) -> None:
    """One forward pass (modes.jvp) per input, keeping each expression node's dual number."""
    for i, seed in enumerate(names):
        duals: dict[int, Any] = {}

        def keep(node: Node, r: Any, args: tuple[Any, ...], duals: dict[int, Any] = duals) -> None:
            duals[id(node)] = r

        direction = [1.0 if j == i else 0.0 for j in range(len(names))]
        _, t = api.jvp(lambda v, keep=keep: expr.evaluate(dict(zip(names, v)), keep), x, direction)
        tangents[seed] = duals
        forward_gradient[seed] = float(t)


def _tangent(r: Any) -> float | None:
    if r is None:
        return None
    t = tangent(r)
    return 0.0 if t is None else float(primal(t))


def _counts(expr: Expression, names: tuple[str, ...], x: list[float]) -> dict[str, Any]:
    """Differentiate once per mode inside ``modes.counting`` (forward: one direction per pass)."""
    f = expr.function(names)
    out: dict[str, Any] = {}
    for mode, chunk in (("forward", 1), ("reverse", None)):
        with stats.counting(memory=False) as s:
            _, g = api.value_and_grad(f, x, mode=mode, chunk=chunk)
        out[mode] = {k: getattr(s, k) for k in _COUNT_KEYS}
        out[f"{mode}_gradient"] = [float(v) for v in np.atleast_1d(g)]
    return out


def _notes(
    records: list[NodeRecord],
    gradient: dict[str, float],
    forward_gradient: dict[str, float],
    counted: dict[str, Any],
) -> list[str]:
    notes = []
    for n in records:
        if not math.isfinite(n.value):
            notes.append(f"{n.name} = {fmt(n.value)}: the value is not finite at this point")
        elif not math.isfinite(n.adjoint):
            notes.append(f"{n.name}'s adjoint is {fmt(n.adjoint)}: f is not differentiable here")

    def differ(a: list[float], b: list[float]) -> bool:
        return not np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True)

    output = next((n.name for n in records if n.is_output), None)
    if output is not None:
        terms = {output: (1.0,)}
        for *_, after in _reverse_replay(records, output):
            terms = after
        for n in records:
            replayed = _total(terms.get(n.name, (0.0,)))
            if differ([replayed], [n.adjoint]):
                notes.append(
                    f"the step-by-step sweep gives adj({n.name}) = {fmt(replayed)}, "
                    f"the engine {fmt(n.adjoint)}"
                )
    rg, fg = list(gradient.values()), list(forward_gradient.values())
    if differ(rg, fg):
        notes.append(f"forward and reverse mode disagree: {fg} vs {rg}")
    for mode in ("forward", "reverse"):
        g = counted.get(f"{mode}_gradient")
        if g is not None and differ(g, rg):
            notes.append(f"modes.grad(mode={mode!r}) gives {g}, the trace gives {rg}")
    return notes


__all__ = [
    "DEFAULT_EXPRESSION",
    "DEFAULT_POINT",
    "ExplainError",
    "Explanation",
    "ExpressionError",
    "NodeRecord",
    "Step",
    "explain",
    "fmt",
    "resolve_point",
]
