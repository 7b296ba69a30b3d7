"""Vector outputs: a function ``f(v) -> [f1, ..., fm]`` explained as the Jacobian it has, built
both ways: forward mode by columns (one pass per input, each node's tangent) and reverse mode by
rows (one recording, then one backward sweep per output, each node's adjoint).

That is the lecture's "when does forward mode win" slide, computed: with ``n`` inputs and ``m``
outputs forward mode runs ``n`` passes and reverse mode ``m`` sweeps. :func:`modes.explain`
returns a :class:`JacobianExplanation` when ``f`` returns a list of scalars.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modes import api, stats
from modes.core import primal
from modes.explain import (
    _COUNT_KEYS,
    ExplainError,
    NodeRecord,
    _source_name,
    _table,
    _tangent,
    _tape_records,
    fmt,
    forward_pass_nodes,
)
from modes.reverse import record

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class JacobianExplanation:
    """A vector-valued ``f`` at one point: its graph and its Jacobian, by columns and by rows.

    ``outputs`` are the output nodes' names in order (``f1 ... fm``). A vector ``f`` has one
    adjoint per output, so each record's ``adjoint`` is nan and ``adjoints[out][node]`` holds the
    adjoint of ``node`` in the sweep seeded at output ``out``; ``tangents[s]`` on each record is
    its tangent in the forward pass seeding input ``s``. ``jacobian[j][i]`` comes from reverse
    mode (row ``j`` from sweep ``j``), ``forward_jacobian[j][i]`` from forward mode (column ``i``
    from pass ``i``); a disagreement is a note.
    """

    source: str
    inputs: tuple[str, ...]
    point: dict[str, float]
    outputs: tuple[str, ...]
    nodes: tuple[NodeRecord, ...]
    value: tuple[float, ...]
    jacobian: tuple[tuple[float, ...], ...]
    forward_jacobian: tuple[tuple[float, ...], ...]
    adjoints: dict[str, dict[str, float]]
    counts: dict[str, dict[str, int]]
    notes: tuple[str, ...] = ()

    def node(self, name: str) -> NodeRecord:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def point_text(self) -> str:
        return ", ".join(f"{k} = {fmt(v)}" for k, v in self.point.items())

    @property
    def verdict(self) -> str:
        """Which mode needs fewer trips through the graph here, and why."""
        n, m = len(self.inputs), len(self.outputs)
        passes = f"{n} pass{'es' if n != 1 else ''} (one per input)"
        sweeps = f"{m} sweep{'s' if m != 1 else ''} (one per output)"
        if n < m:
            return f"forward mode wins: {passes} vs {sweeps}"
        if m < n:
            return f"reverse mode wins: {sweeps} vs {passes}"
        return f"a tie in trips: {passes} vs {sweeps}"

    def jacobian_table(self) -> str:
        head = ("", *(f"d/d{s}" for s in self.inputs))
        rows = [(o, *(fmt(v) for v in row)) for o, row in zip(self.outputs, self.jacobian)]
        return "\n".join(_table(head, rows, right=tuple(range(1, len(head)))))

    def __str__(self) -> str:
        fw, rv = self.counts.get("forward", {}), self.counts.get("reverse", {})
        lines = [
            f"Jacobian of f = {self.source} at {self.point_text} ({len(self.outputs)} outputs x "
            f"{len(self.inputs)} inputs)",
            "",
            self.jacobian_table(),
            "",
            "forward mode builds it by columns: one pass per input; reverse mode by rows: one "
            "recording, then one backward sweep per output",
        ]
        if fw and rv:
            lines.append(
                f"counted: forward {fw['passes']} passes, {fw['tangent_updates']} tangent updates; reverse "
                f"{rv['passes']} recording, {rv['sweeps']} sweeps, {rv['adjoint_updates']} adjoint updates"
            )
        lines.append(self.verdict)
        if self.notes:
            lines += ["notes:", *(f"- {n}" for n in self.notes)]
        return "\n".join(lines)

    def figure(self, *, size: tuple[float, float] | None = None, dpi: float | None = None) -> Figure:
        """Forward passes (top row, tangents in green) against reverse sweeps (bottom row,
        adjoints in red): one panel per trip through the graph."""
        from modes import explain_plot

        return explain_plot.jacobian_figure(self, size=size, dpi=dpi or explain_plot.DPI)

    def save(
        self, path: str | PathLike[str], *, size: tuple[float, float] | None = None, dpi: float | None = None
    ) -> Path:
        """Draw :meth:`figure` to ``path`` (``.png``, ``.svg`` or ``.pdf``)."""
        from modes import explain_plot

        return explain_plot.save(self.figure(size=size, dpi=dpi), path)

    def _repr_html_(self) -> str:
        from modes import notebook

        svg = notebook.figure_svg(self.figure(size=(9.6, 5.4), dpi=72))
        head = ["", *(f"d/d{s}" for s in self.inputs)]
        rows = [[o, *(fmt(v) for v in row)] for o, row in zip(self.outputs, self.jacobian)]
        return (
            f"<h4>Jacobian of f = {self.source} at {self.point_text}</h4>{svg}"
            + notebook.html_table(head, rows, right=tuple(range(1, len(head))))
            + f"<p>{self.verdict}</p>"
        )


def explain_vector(
    f: Callable[[Any], Any], names: tuple[str, ...], x: list[float], with_counts: bool = True
) -> JacobianExplanation:
    """Record a list-valued ``f`` and build its :class:`JacobianExplanation`."""
    rec = record(f, x)
    tape = rec.nodes()
    last = tape[-1] if tape else None
    if (
        len(rec.out_shape) != 1
        or rec.output_node is None
        or last is None
        or last.primitive is None
        or last.primitive.name != "stack"
        or last.index != rec.output_node
        or any(np.ndim(primal(n.value)) for n in tape[:-1])
    ):
        raise ExplainError(
            "explain draws f returning a scalar or a list of scalars computed from the inputs "
            f"(this f returns shape {rec.out_shape})"
        )
    scalar = tape[:-1]
    out_nodes = list(last.parents)
    m, n = len(out_nodes), len(names)
    sweeps = [rec.adjoints([1.0 if j == i else 0.0 for j in range(m)]) for i in range(m)]
    tangents = [_tangents(f, x, i, len(tape)) for i in range(n)]
    records, node_names = _tape_records(
        scalar, rec.input_nodes, names, tangents, [math.nan] * len(scalar), set(out_nodes)
    )
    outputs = tuple(node_names[k] for k in out_nodes)
    input_index = rec.input_nodes
    jac = tuple(tuple(float(primal(sweeps[j][input_index[i]])) for i in range(n)) for j in range(m))
    fjac = tuple(tuple(tangents[i][k] for i in range(n)) for k in out_nodes)
    adjoints = {
        outputs[j]: {node_names[e.index]: float(primal(sweeps[j][e.index])) for e in scalar} for j in range(m)
    }
    counted: dict[str, dict[str, int]] = {}
    notes = []
    if with_counts:
        for mode, chunk in (("forward", 1), ("reverse", None)):
            with stats.counting(memory=False) as st:
                J = api.jacobian(f, x, mode=mode, chunk=chunk)
            counted[mode] = {key: getattr(st, key) for key in _COUNT_KEYS}
            if not np.allclose(
                np.asarray(J, dtype=float), np.asarray(jac), rtol=1e-12, atol=1e-12, equal_nan=True
            ):
                notes.append(f"modes.jacobian(mode={mode!r}) differs from the traced Jacobian")
    if not np.allclose(np.asarray(fjac), np.asarray(jac), rtol=1e-12, atol=1e-12, equal_nan=True):
        notes.append("forward and reverse mode disagree on the Jacobian")
    return JacobianExplanation(
        _source_name(f),
        names,
        dict(zip(names, x)),
        outputs,
        tuple(records),
        tuple(float(v) for v in np.asarray(primal(rec.value), dtype=float)),
        jac,
        fjac,
        adjoints,
        counted,
        tuple(notes),
    )


def _tangents(f: Callable[[Any], Any], x: list[float], i: int, length: int) -> list[float]:
    """Every scalar node's tangent in the forward pass seeding input ``i`` (the last tape entry
    stacks the outputs into one array: it is not a node of the drawing)."""
    return [(_tangent(node.value) or 0.0) for node in forward_pass_nodes(f, x, i, length)[:-1]]


__all__ = ["JacobianExplanation", "explain_vector"]
