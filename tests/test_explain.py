"""The explain tool: the article's picture computed, as records, tables, a CLI and a drawing."""

import json
import math

import numpy as np
import pytest

import modes
from experiments import explain_plot
from experiments.explain import main, parse_at
from modes.explain import DEFAULT_EXPRESSION, ExplainError, explain
from modes.expression import ExpressionError, parse

# ------------------------------------------------------------------------- the article's numbers


def test_the_article_example():
    e = explain()  # f = (a + b) * (b + c) at a = -1, b = 3, c = 4
    assert e.source == DEFAULT_EXPRESSION
    assert e.value == 14.0
    assert e.gradient == {"a": 7.0, "b": 9.0, "c": 2.0}
    assert [n.name for n in e.nodes] == ["a", "b", "c", "x1", "x2", "x3"]
    x1, x2, x3 = e.node("x1"), e.node("x2"), e.node("x3")
    # the article's x = a + b = 2 and y = b + c = 7 are x1 and x2; f is x3
    assert (x1.definition, x1.value) == ("a + b", 2.0)
    assert (x2.definition, x2.value) == ("b + c", 7.0)
    assert (x3.definition, x3.value, x3.is_output, e.output) == ("x1 * x2", 14.0, True, "x3")
    # local partials from the tape, one per parent; adjoints after the sweep
    assert (x1.parents, x1.partials) == (("a", "b"), (1.0, 1.0))
    assert (x3.parents, x3.partials) == (("x1", "x2"), (7.0, 2.0))
    assert [n.adjoint for n in e.nodes] == [7.0, 9.0, 2.0, 7.0, 2.0, 1.0]
    # forward mode: one pass per seeded input
    assert {s: x3.tangents[s] for s in "abc"} == {"a": 7.0, "b": 9.0, "c": 2.0}
    assert x1.tangents == {"a": 1.0, "b": 1.0, "c": 0.0}
    assert x2.tangents == {"a": 0.0, "b": 1.0, "c": 1.0}
    assert e.forward_gradient == e.gradient


def test_the_article_operation_counts_back_its_thrice():
    counts = explain().counts
    fw, rv = counts["forward"], counts["reverse"]
    assert (fw["passes"], fw["ops"], fw["sweeps"]) == (3, 9, 0)  # f run thrice, once per input
    assert (rv["passes"], rv["ops"], rv["sweeps"], rv["tape_length"]) == (1, 3, 1, 6)
    assert (fw["tangent_updates"], rv["adjoint_updates"]) == (18, 6)
    assert "thrice" in explain().counts_table()


def test_product_at_minus_two_three():
    e = explain("x*y", {"x": -2, "y": 3})
    assert e.value == -6.0
    assert e.gradient == {"x": 3.0, "y": -2.0}
    assert e.forward_gradient == {"x": 3.0, "y": -2.0}
    assert e.node("x1").partials == (3.0, -2.0)


EXPRESSIONS = [
    ("(a + b) * (b + c)", {"a": -1, "b": 3, "c": 4}),
    ("sin(x) * y + exp(x / y) - x ** 3", {"x": 0.4, "y": -1.7}),
    ("a * a - 2 * a + tanh(-a) / sqrt(b)", {"a": 1.3, "b": 2.2}),
    ("log1p(u * v * w) + sigmoid(u - w) * abs(v) + relu(w) ** 2", {"u": 0.3, "v": -0.8, "w": 1.1}),
    ("x ** y + square(cos(y)) - negative(x)", {"x": 1.5, "y": 0.5}),
]


@pytest.mark.parametrize("source, at", EXPRESSIONS)
def test_tangents_and_adjoints_match_both_modes_of_the_library(source, at):
    e = explain(source, at)
    f = parse(source).function(list(at))
    x = [float(v) for v in at.values()]
    np.testing.assert_allclose(
        list(e.forward_gradient.values()), modes.grad(f, x, mode="forward"), rtol=1e-13
    )
    np.testing.assert_allclose(list(e.gradient.values()), modes.grad(f, x, mode="reverse"), rtol=1e-13)
    assert e.value == pytest.approx(f(x))
    assert not e.notes
    by_name = {n.name: n for n in e.nodes}
    for n in e.nodes:
        # each seeded pass agrees with modes.jvp on that direction ...
        if n.is_output:
            for i, s in enumerate(e.inputs):
                assert n.tangents[s] == pytest.approx(modes.jvp(f, x, np.eye(len(x))[i])[1], rel=1e-13)
        if n.kind == "input":
            continue
        # ... and every node's tangent is the chain rule over the tape's local partials,
        for s in e.inputs:
            chained = sum(d * by_name[p].tangents[s] for p, d in zip(n.parents, n.partials))
            assert n.tangents[s] == pytest.approx(chained, rel=1e-12, abs=1e-15)
    # ... and every adjoint is the chain rule backwards: sum over children of partial x adjoint
    for n in e.nodes:
        if n.is_output:
            continue
        back = sum(d * c.adjoint for c in e.nodes for p, d in zip(c.parents, c.partials) if p == n.name)
        assert n.adjoint == pytest.approx(back, rel=1e-12, abs=1e-15)


def test_records_name_operands_and_constants():
    e = explain("2 * a - a / (-4) + a * a", {"a": 3.0})
    defs = [n.definition for n in e.intermediates]
    assert defs == ["2 * a", "a / (-4)", "x1 - x2", "a * a", "x3 + x4"]
    aa = e.node("x4")
    assert aa.parents == ("a", "a") and aa.partials == (3.0, 3.0)  # one edge per operand
    assert e.node("x1").primitive == "mul" and e.node("x1").op == "*"
    assert e.gradient["a"] == pytest.approx(2 + 0.25 + 6)


def test_intermediate_names_never_clash_with_inputs():
    e = explain("x1 * x2 + x1", {"x1": 2.0, "x2": 5.0})
    assert [n.name for n in e.intermediates] == ["v1", "v2"]
    assert e.gradient == {"x1": 6.0, "x2": 2.0}


def test_default_point_unknown_names_and_unused_values():
    assert explain("a * c").point == {"a": -1.0, "c": 4.0}  # the article's values for a, b, c
    with pytest.raises(ExpressionError, match="no value given for variable 'z'") as info:
        explain("a + z")
    assert info.value.position == 4
    with pytest.raises(ExplainError, match="does not use"):
        explain("a + b", {"a": 1.0, "b": 2.0, "d": 3.0})
    with pytest.raises(ExplainError, match="finite"):
        explain("a", {"a": math.nan})
    with pytest.raises(ExplainError, match="variable name"):
        explain("a", {"a": 1.0, "sin": 2.0})


def test_constants_outputs_that_are_inputs_and_points_outside_the_domain():
    c = explain("2 ** 3 + 1")
    assert (c.value, c.nodes, c.gradient, c.output) == (9.0, (), {}, None)
    ident = explain("a", {"a": 5.0})
    assert (ident.output, ident.gradient, ident.forward_gradient) == ("a", {"a": 1.0}, {"a": 1.0})
    bad = explain("log(a) + sqrt(b)", {"a": -1.0, "b": -1.0})
    assert bad.gradient["a"] == -1.0 and math.isnan(bad.gradient["b"])  # strong zero: a's stays finite
    assert any("not finite" in n for n in bad.notes)
    json.dumps(bad.as_dict(), allow_nan=False)  # non-finite numbers are written as strings


def test_tables_show_every_node():
    e = explain()
    trace = e.trace_table()
    for row in ("x1    a + b           2  dx1/da = 1, dx1/db = 1", "x3    x1 * x2        14", "<- f"):
        assert row in trace
    tangents = e.tangent_table()
    assert "x3 (f)     14       7       9       2" in tangents


# ------------------------------------------------------------------------------------------ CLI


def test_cli_default_prints_the_three_tables(capsys):
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert "Wengert trace of f = (a + b) * (b + c) at a = -1, b = 3, c = 4" in out
    assert "x2    b + c           7  dx2/db = 1, dx2/dc = 1                   2" in out
    assert "seed a  seed b  seed c" in out
    assert "passes through f                       3        1" in out
    assert err == ""


@pytest.mark.parametrize(
    "expr, column",
    [
        ("__import__('os')", 1),
        ("a.b", 2),
        ("lambda: 1", 1),
        ("9**9**9", 2),
        ("", 1),
        ("a + q", 5),
        ("bogus(a)", 1),
    ],
)
def test_cli_refuses_hostile_expressions_with_exit_2_and_a_caret(capsys, expr, column):
    assert main([expr]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"(at column {column})" in err
    assert "\n" + " " * (column - 1) + "^" in err
    assert "Traceback" not in err


def test_cli_refuses_ten_to_the_five_nested_parentheses(capsys):
    assert main(["(" * 10**5 + "a" + ")" * 10**5]) == 2
    err = capsys.readouterr().err
    assert "too long" in err and len(err) < 1000


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--bogus"], "unrecognized arguments"),
        (["--at", "a"], "not NAME=VALUE"),
        (["--at", "a=one"], "not a number"),
        (["--at", "a=inf"], "finite"),
        (["--at", "a=1,a=2"], "twice"),
        (["--at", "sin=1"], "not a variable name"),
        (["a*b", "--at", "a=1,b=2,c=3"], "does not use"),
        (["--name", "../x", "--out", "somewhere"], "plain file name"),
    ],
)
def test_cli_usage_errors_exit_2(capsys, argv, words):
    assert main(argv) == 2
    assert words in capsys.readouterr().err


def test_cli_help_and_json(capsys):
    assert main(["--help"]) == 0
    assert "--at" in capsys.readouterr().out
    assert main(["x*y", "--at", "x=-2", "--at", "y=3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["gradient"] == {"x": 3.0, "y": -2.0}
    assert [n["name"] for n in data["nodes"]] == ["x", "y", "x1"]


def test_parse_at():
    assert parse_at(["a=-1,b=3", " c = 4 "]) == {"a": -1.0, "b": 3.0, "c": 4.0}


def test_cli_failure_to_write_exits_1(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["--out", str(blocker / "sub")]) == 1
    assert "cannot draw" in capsys.readouterr().err


# -------------------------------------------------------------------------------------- drawing


def test_cli_draws_a_nonblank_png_of_the_expected_size_and_an_svg(tmp_path, capsys):
    from matplotlib.image import imread

    assert main(["--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    png, svg = tmp_path / "article-graph.png", tmp_path / "article-graph.svg"
    assert f"wrote {png}" in err and f"wrote {svg}" in err
    image = imread(png)
    w, h = explain_plot.figure_size(explain())
    assert image.shape[:2] == (round(h * explain_plot.DPI), round(w * explain_plot.DPI))
    rgb = image[..., :3]
    assert rgb.std() > 0.05  # not blank
    # both label colours are there: some pixels blue (values), some red (adjoints)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    assert np.any((b > 0.6) & (r < 0.35)) and np.any((r > 0.6) & (b < 0.35) & (g < 0.35))
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


def test_layered_layout_of_the_article():
    lay = explain_plot.layered_layout(explain())
    assert {k: y for k, (_, y) in lay.pos.items()} == {"a": 0, "b": 0, "c": 0, "x1": 1, "x2": 1, "x3": 2}
    assert lay.pos["a"][0] < lay.pos["b"][0] < lay.pos["c"][0]
    assert lay.pos["x1"][0] < lay.pos["x2"][0]
    assert lay.bends == {}


def test_edges_that_skip_layers_are_routed_through_bends():
    e = explain("sin(a) * a + a", {"a": 0.5})  # x1 = sin(a), x2 = x1 * a, x3 = x2 + a
    lay = explain_plot.layered_layout(e)
    assert [y for _, y in lay.bends[("a", "x3")]] == [1.0, 2.0]  # around x1 and x2
    assert [y for _, y in lay.bends[("a", "x2")]] == [1.0]  # around x1
    assert ("x1", "x2") not in lay.bends and ("a", "x1") not in lay.bends


def test_graphviz_layout_reads_dot_plain_output(monkeypatch):
    e = explain()
    plain = "\n".join(
        ["graph 1 4 3"]
        + [
            f"node {n} {x} {y} 0.75 0.5 {n} solid box black lightgrey"
            for n, x, y in [
                ("a", 0.5, 0.25),
                ("b", 1.5, 0.25),
                ("c", 2.5, 0.25),
                ("x1", 1.0, 1.25),
                ("x2", 2.0, 1.25),
                ("x3", 1.5, 2.25),
            ]
        ]
        + ["stop"]
    )

    class Done:
        stdout = plain

    monkeypatch.setattr(explain_plot.subprocess, "run", lambda *a, **k: Done())
    pos = explain_plot.graphviz_layout(e, dot="/usr/bin/dot")
    assert pos == {
        "a": (-1.0, 0.0),
        "b": (0.0, 0.0),
        "c": (1.0, 0.0),
        "x1": (-0.5, 1.0),
        "x2": (0.5, 1.0),
        "x3": (0.0, 2.0),
    }

    def broken(*a, **k):
        raise OSError("no dot")

    monkeypatch.setattr(explain_plot.subprocess, "run", broken)
    assert explain_plot.graphviz_layout(e, dot="/usr/bin/dot") is None
    assert explain_plot.layout(e, engine="graphviz").pos == explain_plot.layered_layout(e).pos  # fallback


def test_figures_for_odd_graphs(tmp_path):
    assert explain_plot.figure(explain("a * a", {"a": 2.0}), seeds=False) is not None  # a double edge
    assert explain_plot.figure(explain("3")) is not None  # a constant: no graph
    big = explain("+".join(f"q{i}" for i in range(40)), {f"q{i}": 1.0 for i in range(40)})
    with pytest.raises(ValueError, match="at most"):
        explain_plot.figure(big)


def test_explain_leaves_a_callers_counting_block_alone():
    with modes.counting(memory=False) as s:
        explain()
    assert s.calls == 0 and s.passes == 0
