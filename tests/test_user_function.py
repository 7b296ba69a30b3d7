"""A plain function as the problem (issue 15 item 12): ``--problem file.py:f`` where ``f(x)``
takes one array gets x drawn for each n, seeded; ``build(n, seed)`` still works; and
``--list-problems`` shows the user's docstring."""

import json
import textwrap

import numpy as np
import pytest
from test_runner import make_fast

from experiments.cli import main
from experiments.problems import ProblemError, draw_input, get_problem

SOURCE = '''
from modes import ops

def f(x):
    """Sum of squared sines of x.

    A second paragraph that --list-problems leaves out.
    """
    return ops.sum(ops.sin(x) ** 2)

def spread(x, scale=2.0):
    return ops.tanh(x * scale)

def build(n, seed):
    """The same sum, from a builder."""
    import numpy as np

    return f, np.full(n, 0.5)

def two_arrays(x, y, z):
    return x
'''


@pytest.fixture
def problem_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent(SOURCE))
    return path


def test_a_plain_function_gets_x_drawn_for_each_n_seeded(problem_file):
    problem, _ = get_problem(f"{problem_file}:f")
    assert problem.description == "Sum of squared sines of x."
    a, b, c = problem.build(5, seed=3), problem.build(5, seed=3), problem.build(5, seed=4)
    np.testing.assert_array_equal(a.x, np.random.default_rng(3).standard_normal(5))
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)
    assert (a.n, a.m, a.kind) == (5, 1, "gradient")
    assert np.array_equal(draw_input(7, 0), np.random.default_rng(0).standard_normal(7))
    jac = get_problem(f"{problem_file}:spread")[0].build(4, 0)  # a default does not count
    assert (jac.n, jac.m, jac.kind) == (4, 4, "jacobian")


def test_a_plain_function_is_timed_and_checked(problem_file, monkeypatch, capsys):
    make_fast(monkeypatch)
    argv = ["--problem", f"{problem_file}:f", "--inputs", "3,6", "--repeat", "3", "--seed", "2", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    cells = doc["cells"]
    assert {c["n"] for c in cells} == {3, 6} and all(c["status"] == "ok" for c in cells)
    rev = [c for c in cells if c["mode"] == "reverse"]
    assert all(c["agrees"] for c in rev)
    assert doc["problem"]["description"] == "Sum of squared sines of x."


def test_the_builder_form_stays(problem_file, monkeypatch, capsys):
    make_fast(monkeypatch)
    assert main(["--problem", f"{problem_file}:build", "--inputs", "3", "--repeat", "3", "-q"]) == 0
    assert get_problem(f"{problem_file}:build")[0].sizes == "decided by the builder"


def test_a_function_of_three_arguments_is_refused(problem_file, capsys):
    with pytest.raises(ProblemError, match="takes 3 arguments without a default"):
        get_problem(f"{problem_file}:two_arrays")
    assert main(["--problem", f"{problem_file}:two_arrays", "--inputs", "3"]) == 2
    assert "give a function f(x) of one array, or a builder build(n, seed)" in capsys.readouterr().err


def test_list_problems_shows_the_users_docstring(problem_file, capsys):
    assert main(["--list-problems", "--problem", f"{problem_file}:f"]) == 0
    out = capsys.readouterr().out
    assert "mine.py:f" in out and "Sum of squared sines of x." in out and "second paragraph" not in out
    assert "rosenbrock" in out  # the catalogue too
    assert main(["--list-problems", "--json", "--problem", f"{problem_file}:build"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[-1]["name"] == "mine.py:build" and rows[-1]["description"] == "The same sum, from a builder."
