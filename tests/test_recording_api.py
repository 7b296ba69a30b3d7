"""The public way to read a recording: nodes, every adjoint, positions, tangents, printing."""

from __future__ import annotations

import numpy as np
import pytest

import modes
from modes import ops


def article(v):
    a, b, c = v
    return (a + b) * (b + c)


def test_nodes_and_adjoints_are_the_articles_picture():
    rec = modes.record(article, [-1.0, 3.0, 4.0])
    nodes = rec.nodes()
    assert [n.primitive.name if n.primitive else "input" for n in nodes] == ["input"] * 3 + [
        "add",
        "add",
        "mul",
    ]
    assert [n.value for n in nodes] == [-1.0, 3.0, 4.0, 2.0, 7.0, 14.0]
    assert nodes[5].parents == (3, 4) and nodes[5].partials == (7.0, 2.0)
    assert rec.output_node == 5 and rec.input_nodes == [0, 1, 2]
    # df/dnode for every node: b's 9 is 2 (via x1) + 7 (via x2)
    assert rec.adjoints() == [7.0, 9.0, 2.0, 7.0, 2.0, 1.0]
    # the adjoints sweep does not disturb later sweeps of the same recording
    np.testing.assert_array_equal(rec.backward(), [7.0, 9.0, 2.0])
    assert rec.adjoints(2.0) == [14.0, 18.0, 4.0, 14.0, 4.0, 2.0]


def test_adjoints_of_unreached_nodes_are_zero_of_the_nodes_shape():
    rec = modes.record(lambda x: ops.sum(x[:2] * 3.0), np.array([1.0, 2.0, 3.0]))
    adj = rec.adjoints()
    np.testing.assert_array_equal(adj[0], [3.0, 3.0, 0.0])
    rec2 = modes.record(lambda v: v[0] * 2.0 + (v[1] - v[1]) * 0.0, [1.0, 5.0])
    assert rec2.adjoints()[0] == 2.0
    const = modes.record(lambda v: 3.0, [1.0])
    assert const.output_node is None and const.adjoints() == [0.0]


def test_index_of_maps_engine_values_to_tape_positions():
    seen = []

    def f(v):
        y = ops.sin(v[0]) * v[1]
        seen.append(y)
        return y

    rec = modes.record(f, [0.5, 2.0])
    assert rec.index_of(seen[0]) == rec.output_node == 3
    with pytest.raises(ValueError, match="not a value of this recording"):
        rec.index_of(1.0)
    other = modes.record(f, [0.5, 2.0])
    with pytest.raises(ValueError, match="not a value of this recording"):
        rec.index_of(seen[1])
    assert other.index_of(seen[1]) == 3


def test_tangent_reads_a_forward_value_and_nothing_else():
    got = []

    def f(v):
        y = v[0] * v[1]
        got.append(modes.tangent(y))
        return y

    modes.jvp(f, [3.0, 4.0], [1.0, 0.0])
    assert got == [4.0]
    assert modes.tangent(2.0) is None
    rec_values = []
    modes.record(lambda v: rec_values.append(modes.tangent(v[0])) or v[0], [1.0])
    assert rec_values == [None]


def test_a_recording_prints_its_tape():
    rec = modes.record(article, [-1.0, 3.0, 4.0])
    text = str(rec)
    assert "%5 = mul(%3, %4)  14" in text and "%0 = input  -1" in text
    assert repr(rec).startswith("<Recording: 6 tape entries")


def test_a_bare_tape_has_a_readable_repr_and_a_notebook_listing():
    tape = modes.record(article, [-1.0, 3.0, 4.0]).tape
    assert repr(tape) == "<Tape: 6 entries, 3 operations; print() it for the listing>"
    md = tape._repr_markdown_()
    assert md.startswith("```") and "%5 = mul(%3, %4)  14" in md


def test_array_partials_are_evaluated_when_a_sweep_first_needs_them():
    """Issue 14: recording an elementwise op on arrays calls its primitive only; the first sweep
    evaluates its local partial from the rule table, later sweeps reuse it, and a node no sweep
    reaches never evaluates its partial."""
    from modes.core import Primitive

    calls = []

    def partial(x, out):
        calls.append(1)
        return 2.0 * x

    sq = Primitive("square_counted", lambda x: x * x, ("x",), partials=(partial,))
    x = np.array([1.0, 2.0, 3.0])
    rec = modes.record(lambda v: modes.ops.sum(sq(v)) + 0.0 * modes.ops.sum(sq(sq(v))), x)
    assert calls == []
    # the sweep reaches sq(sq(v)) through a zero partial: every partial on the path is evaluated
    np.testing.assert_allclose(rec.backward(), 2.0 * x)
    assert len(calls) == 3
    np.testing.assert_allclose(rec.backward(), 2.0 * x)
    assert len(calls) == 3
    unused = modes.record(lambda v: (modes.ops.sum(v), sq(v))[0], x)
    np.testing.assert_allclose(unused.backward(), np.ones(3))
    assert len(calls) == 3
