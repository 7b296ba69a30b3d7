"""The explain tool: the article's picture computed, as records, tables, a CLI and a drawing."""

import json
import math

import numpy as np
import pytest

import modes
from experiments.explain import main, parse_at
from modes import explain_plot
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
    assert e.node("v1").partials == (3.0, -2.0)  # "x1" would read as a cousin of the input x


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
    assert [n["name"] for n in data["nodes"]] == ["x", "y", "v1"]


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
    assert image.shape[:2] == (1080, 1920)  # a 16:9 slide, 12.8 x 7.2 inches at 150 dpi
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
    fig = explain_plot.figure(big, size=(16, 9), dpi=40)  # 79 nodes: drawn compactly, not refused
    assert explain_plot.overlaps(fig) == []


def test_explain_leaves_a_callers_counting_block_alone():
    with modes.counting(memory=False) as s:
        explain()
    assert s.calls == 0 and s.passes == 0


# --------------------------------------------------------------------------------- step by step

STEP_CASES = [
    ("(a + b) * (b + c)", None),
    ("a * a - sin(a) / b", {"a": 0.7, "b": -1.3}),
    (
        "tanh(w1*x1 + w2*x2 + w3*x3 + w4*x4)",
        {f"{p}{i}": 0.1 * i * (1 if p == "w" else -1) for p in "wx" for i in range(1, 5)},
    ),
]


@pytest.mark.parametrize("source, at", STEP_CASES)
def test_steps_are_nodes_then_adjoint_updates_then_passes(source, at):
    e = explain(source, at)
    steps = e.steps()
    updates = e.counts["reverse"]["adjoint_updates"]  # the engine's own count of partial x adjoint
    assert len(steps) == len(e.nodes) + updates + len(e.inputs)
    phases = [s.phase for s in steps]
    assert phases == ["evaluate"] * len(e.nodes) + ["reverse"] * updates + ["forward"] * len(e.inputs)
    assert [s.number for s in steps] == list(range(1, len(steps) + 1))
    # the running sums end at the engine's adjoints, node by node
    last = [s for s in steps if s.phase == "reverse"][-1]
    for n in e.nodes:
        assert last.adjoints.get(n.name, 0.0) == pytest.approx(n.adjoint, rel=1e-15, abs=0)
    # each update adds partial x adjoint(child) to its parent's running sum
    for s in steps:
        if s.phase == "reverse":
            assert s.contribution == pytest.approx(s.partial * s.adjoints[s.node])
            assert s.after == pytest.approx((s.before or 0.0) + s.contribution)
    # each forward pass ends at that input's derivative
    for s in steps[-len(e.inputs) :]:
        assert s.tangents[e.output] == e.gradient[s.seed] or s.tangents[e.output] == pytest.approx(
            e.gradient[s.seed]
        )
    assert not e.notes


def test_the_article_sweep_builds_b_up_as_two_plus_seven():
    e = explain()
    steps = e.steps()
    assert len(steps) == 6 + 6 + 3
    rev = [s for s in steps if s.phase == "reverse"]
    assert [(s.node, s.parent) for s in rev] == [
        ("x3", "x1"),
        ("x3", "x2"),
        ("x2", "b"),
        ("x2", "c"),
        ("x1", "a"),
        ("x1", "b"),
    ]
    assert rev[2].adjoints["b"] == 2.0 and rev[2].before is None
    assert rev[-1].terms["b"] == (2.0, 7.0) and rev[-1].before == 2.0 and rev[-1].after == 9.0
    assert {k: rev[-1].adjoints[k] for k in "abc"} == {"a": 7.0, "b": 9.0, "c": 2.0}
    text = e.steps_text()
    assert "adj(b) += dx1/db * adj(x1) = 1 * 7 = 7  ->  adj(b) = 2 + 7 = 9" in text
    assert "14. forward pass seeding b" in text and "df/db = 9" in text
    assert steps[3].text == "x1 = a + b = 2"


def test_a_constant_has_no_reverse_or_forward_steps():
    assert explain("2 ** 3 + 1").steps() == ()
    ident = explain("a", {"a": 5.0})
    assert [s.phase for s in ident.steps()] == ["evaluate", "forward"]


def _png_size(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def _nonblank(path):
    from PIL import Image

    with Image.open(path) as im:
        a = np.asarray(im.convert("RGB"), dtype=float) / 255
    return a.std() > 0.05


def test_frames_have_one_image_per_step_of_the_requested_size(tmp_path):
    e = explain()
    frames = e.save_steps(tmp_path / "frames", size=(6.4, 3.6), dpi=50)
    assert [p.name for p in frames] == [f"step-{i:02d}.png" for i in range(1, 16)]
    for p in frames:
        assert _png_size(p) == (320, 180) and _nonblank(p)
    with pytest.raises(ValueError, match=r"\.gif"):
        e.animate(tmp_path / "steps.mp4")
    with pytest.raises(ValueError, match="no steps"):
        explain("3").animate(tmp_path / "c.gif")


def test_every_frame_of_the_article_is_clean_and_highlights_its_edge():
    e = explain()
    for number in (1, 6, 9, 12, 14):
        fig = e.step_figure(number, size=(12.8, 7.2), dpi=40)
        assert explain_plot.overlaps(fig) == []
        texts = [t.get_text() for t in fig.texts]
        assert f"step {number} of 15" in " ".join(texts)
    fig = e.step_figure(12, dpi=40)
    shown = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "adjoint 2 + 7 = 9" in shown  # b's box shows the running sum as it builds up
    assert any("adj(b) = 2 + 7 = 9" in t.get_text() for t in fig.texts)  # and the caption says it
    with pytest.raises(ValueError, match="16"):
        e.step_figure(16)


@pytest.mark.parametrize("ext, magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_save_writes_each_format_at_the_requested_size(tmp_path, ext, magic):
    path = explain().save(tmp_path / f"g.{ext}", size=(8, 4.5), dpi=60)
    data = path.read_bytes()
    assert data.startswith(magic)
    if ext == "png":
        assert _png_size(path) == (480, 270) and _nonblank(path)
    if ext == "svg":
        text = data.decode()
        assert 'width="576pt" height="324pt"' in text
        assert "<text" in text and ">adjoint 9<" in text  # labels are editable text, not outlines
    with pytest.raises(ValueError, match="format"):
        explain().save(tmp_path / "g.bmp")


def test_cli_steps_prints_the_trace_and_draws_frames_and_a_gif(tmp_path, capsys):
    from PIL import Image

    assert (
        main(["--steps", "--out", str(tmp_path), "--size", "6.4x3.6", "--dpi", "50", "--format", "svg"]) == 0
    )
    out, err = capsys.readouterr()
    assert "12. adj(b) += dx1/db * adj(x1) = 1 * 7 = 7  ->  adj(b) = 2 + 7 = 9" in out
    assert f"wrote 15 frames to {tmp_path / 'article-graph-steps'}" in err
    assert 'width="460.8pt" height="259.2pt"' in (tmp_path / "article-graph.svg").read_text()
    assert not (tmp_path / "article-graph.png").exists()
    assert len(list((tmp_path / "article-graph-steps").glob("step-*.svg"))) == 15
    with Image.open(tmp_path / "article-graph-steps.gif") as im:  # one frame per step, 1.5 s each
        assert (im.format, im.size, im.n_frames, im.info["duration"]) == ("GIF", (320, 180), 15, 1500)
    assert main(["--steps", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["steps"]) == 15 and data["steps"][11]["adjoint"] == 9.0


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--format", "bmp"], "unknown format"),
        (["--format", ","], "at least one"),
        (["--size", "12x"], "WIDTHxHEIGHT"),
        (["--size", "0x5"], "between"),
        (["--dpi", "0"], "--dpi"),
    ],
)
def test_cli_slide_options_are_checked(capsys, argv, words):
    assert main(argv) == 2
    assert words in capsys.readouterr().err


# ------------------------------------------------------------------------------- slide layouts

NET8 = "tanh(w1*x1 + w2*x2 + w3*x3 + w4*x4)"
POLY20 = " + ".join(["1"] + [f"{k + 1} * x ** {k}" for k in range(1, 20)])


@pytest.mark.parametrize(
    "source, at",
    [
        (
            NET8,
            {f"{p}{i}": round(0.3 * i - (0.5 if p == "x" else 0.1), 2) for p in "wx" for i in range(1, 5)},
        ),
        (POLY20, {"x": 0.9}),
    ],
)
def test_crowded_graphs_draw_without_overlapping_labels(source, at):
    e = explain(source, at)
    assert len(e.inputs) in (8, 1) and len(e.nodes) > 15
    fig = explain_plot.figure(e, dpi=40)
    assert explain_plot.overlaps(fig) == []
    w, h = fig.get_size_inches()
    assert w / h == pytest.approx(16 / 9, rel=0.01)  # landscape, slide-shaped
    if len(e.inputs) == 8:  # every forward pass gets its panel
        titles = [ax.get_title() for ax in fig.axes]
        assert sum("seeding" in t for t in titles) == 8
    slide = explain_plot.figure(e, size=(12.8, 7.2), dpi=40)  # forced onto one slide: still clean
    assert explain_plot.overlaps(slide) == []


# ------------------------------------------------------------------------- any Python function


@pytest.mark.parametrize(
    "source, f, at",
    [
        ("(a + b) * (b + c)", lambda v: (v[0] + v[1]) * (v[1] + v[2]), {"a": -1.0, "b": 3.0, "c": 4.0}),
        (
            "sin(x) * y + exp(x / y) - tanh(x * y)",
            lambda v: modes.ops.sin(v[0]) * v[1] + modes.ops.exp(v[0] / v[1]) - modes.ops.tanh(v[0] * v[1]),
            {"x": 0.4, "y": -1.7},
        ),
        ("-(a * a) + log(a)", lambda v: -(v[0] * v[0]) + modes.ops.log(v[0]), {"a": 1.5}),
    ],
)
def test_a_function_and_its_string_form_give_the_same_trace(source, f, at):
    from_string, from_function = explain(source, at), explain(f, at)
    assert [n.as_dict() for n in from_function.nodes] == [n.as_dict() for n in from_string.nodes]
    assert from_function.gradient == from_string.gradient
    assert from_function.forward_gradient == from_string.forward_gradient
    assert from_function.counts == from_string.counts
    assert [s.text for s in from_function.steps()] == [s.text for s in from_string.steps()]
    assert not from_function.notes


def test_a_function_at_a_list_names_its_inputs_and_shows_constants_honestly():
    e = explain(lambda v: 2 * modes.ops.sin(v[0]) * v[1] - v[0] ** 2, [0.5, 2.0])
    assert e.inputs == ("x0", "x1") and [n.name for n in e.intermediates][:2] == ["v1", "v2"]
    assert e.node("v2").definition == "mul(v1, constant)"  # the tape does not keep constants
    expected = 2 * math.cos(0.5) * 2.0 - 2 * 0.5
    assert e.gradient["x0"] == pytest.approx(expected) and e.forward_gradient["x0"] == pytest.approx(expected)
    assert e.figure(size=(6.4, 3.6), dpi=40) is not None
    with pytest.raises(ExplainError, match="a scalar or a list of scalars"):
        explain(lambda v: np.stack([np.stack([v[0], v[1]]), np.stack([v[1], v[0]])]), [1.0, 2.0])
    with pytest.raises(ExplainError, match="needs the point"):
        explain(lambda v: v[0])
    with pytest.raises(ExplainError, match="mapping"):
        explain("a + b", [1.0, 2.0])


@pytest.mark.parametrize(
    "source, at, nodes, merged_nodes",
    [
        ("exp(a) * exp(a) + exp(a)", {"a": 0.5}, 6, 4),
        ("sin(x * y) / (x * y) + (x * y) ** 2", {"x": 0.3, "y": 1.7}, 9, 7),
        ("a + b", {"a": 1.0, "b": 2.0}, 3, 3),
    ],
)
def test_merging_identical_subexpressions_keeps_every_number(source, at, nodes, merged_nodes):
    written, merged = explain(source, at), explain(source, at, merge=True)
    assert (len(written.nodes), len(merged.nodes)) == (nodes, merged_nodes)
    assert merged.value == written.value
    for k in at:
        assert merged.gradient[k] == pytest.approx(written.gradient[k], rel=1e-14)
        assert merged.forward_gradient[k] == pytest.approx(written.gradient[k], rel=1e-14)
    assert not merged.notes
    assert parse(source, merge=True).evaluate(at) == parse(source).evaluate(at)


def test_cli_merge(capsys):
    assert main(["exp(a) * exp(a)", "--at", "a=0", "--merge"]) == 0
    out = capsys.readouterr().out
    assert "x2    x1 * x1" in out and "x3" not in out


# ------------------------------------------------------------------------------ vector outputs


def test_a_vector_function_explains_its_jacobian_by_passes_and_by_sweeps():
    from modes.explain_jacobian import JacobianExplanation

    f = lambda v: [v[0] * v[1], modes.ops.sin(v[0]), v[0] + v[1], v[1] * v[1]]  # 2 inputs, 4 outputs
    je = explain(f, {"a": 0.5, "b": 2.0})
    assert isinstance(je, JacobianExplanation)
    assert je.outputs == ("x1", "x2", "x3", "x4") and je.inputs == ("a", "b")
    oracle = modes.jacobian(f, [0.5, 2.0], mode="reverse")
    np.testing.assert_allclose(je.jacobian, oracle, rtol=1e-15)
    np.testing.assert_allclose(je.forward_jacobian, modes.jacobian(f, [0.5, 2.0], mode="forward"), rtol=1e-15)
    assert je.jacobian[1] == (math.cos(0.5), 0.0)
    # each sweep's adjoints of the inputs are a row; each pass's tangents of the outputs a column
    assert [je.adjoints["x4"][s] for s in je.inputs] == [0.0, 4.0]
    assert [je.node(o).tangents["b"] for o in je.outputs] == [0.5, 0.0, 1.0, 4.0]
    assert (je.counts["forward"]["passes"], je.counts["reverse"]["sweeps"]) == (2, 4)
    assert je.verdict.startswith("forward mode wins: 2 passes")
    assert "x2  0.877583     0" in str(je) and not je.notes
    fig = je.figure(size=(12.8, 7.2), dpi=40)
    titles = [ax.get_title() for ax in fig.axes]
    assert sum(t.startswith("pass") for t in titles) == 2 and sum(t.startswith("sweep") for t in titles) == 4
    assert explain_plot.overlaps(fig) == []
    assert "<svg" in je._repr_html_() and "forward mode wins" in je._repr_html_()


def test_one_output_in_a_list_is_reverse_modes_case():
    je = explain(lambda v: [(v[0] + v[1]) * (v[1] + v[2])], {"a": -1.0, "b": 3.0, "c": 4.0})
    assert je.jacobian == ((7.0, 9.0, 2.0),) and je.forward_jacobian == ((7.0, 9.0, 2.0),)
    assert je.verdict.startswith("reverse mode wins: 1 sweep")
