"""Notebook-native objects: what Jupyter shows for explanations, recordings, counts and checks,
and the example notebook, executed (so it cannot rot)."""

import re
from pathlib import Path

import pytest

import modes

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "explain.ipynb"
ARTICLE = lambda v: (v[0] + v[1]) * (v[1] + v[2])


def test_an_explanation_shows_its_graph_and_its_tables():
    e = modes.explain()
    page = e._repr_html_()
    assert page.count("<svg") == 1  # the graph, inline
    assert "<text" in page and ">adjoint 9<" in page  # as editable SVG text
    assert page.count("<table") == 3  # trace, tangents, counts
    assert re.search(r">x3 \(f\)</td>.*?>x1 \* x2</td>.*?>14</td>", page, flags=re.S)
    assert "∂x3/∂x1 = 7, ∂x3/∂x2 = 2" in page
    md = e._repr_markdown_()
    assert "| x1 | a + b | 2 | ∂x1/∂a = 1, ∂x1/∂b = 1 | 7 |" in md
    assert "| x3 (f) | 14 | 7 | 9 | 2 |" in md
    text = repr(e)
    assert text.startswith("<Explanation of f = (a + b) * (b + c)") and "gradient {a: 7, b: 9, c: 2}" in text
    constant = modes.explain("2 * 3")
    assert "constant" in constant._repr_html_() and "<svg" not in constant._repr_html_()


def test_a_recording_shows_its_tape_as_a_table():
    rec = modes.record(ARTICLE, [-1.0, 3.0, 4.0])
    page = rec._repr_html_()
    assert "6 tape entries" in page and page.count("<tr>") == 7
    md = rec._repr_markdown_()
    assert "| %5 (f) | mul | %3, %4 | 7, 2 | 14 |" in md
    assert "| %0 | input 0 |  |  | -1 |" in md
    long = modes.record(lambda v: sum(v[i] * v[i] for i in range(100)), [1.0] * 100)
    assert f"... {len(long.nodes()) - 60} more entries" in long._repr_html_()


def test_counts_and_checks_render_as_tables():
    with modes.counting(memory=False) as s:
        modes.grad(ARTICLE, [-1.0, 3.0, 4.0], mode="forward", chunk=1)
    page = s._repr_html_()
    assert "modes: forward" in page and re.search(r"passes through f</td>.*?>3</td>", page, flags=re.S)
    report = modes.check_grads(ARTICLE, [-1.0, 3.0, 4.0])
    page = report._repr_html_()
    assert "all checks passed" in page and page.count("<tr>") == len(report.comparisons) + 1


@pytest.mark.skipif(not NOTEBOOK.exists(), reason="docs/ is not beside the tests (installed copy)")
def test_the_example_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed clean
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("<svg" in h and "<table" in h for h in html)  # the explanation: graph and tables
    assert any("Recording" in h for h in html) and any("all checks passed" in h for h in html)
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the step frame
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "adj(b) = 2 + 7 = 9" in printed
    assert (tmp_path / "article-graph.svg").exists() and (tmp_path / "article-steps.gif").exists()
    assert len(list((tmp_path / "article-steps").glob("step-*.png"))) == 15
