"""``compare-modes`` through ``main(argv)``: bad input gets a message and an exit code, good input data."""

import json
import sys
import textwrap
import types

import pytest
from test_runner import make_fast

from experiments import budget, cli
from experiments.cli import main, sweep_sizes
from experiments.problems import CATALOGUE
from experiments.results import SCHEMA_VERSION, load

# (argv, exit code, what the message must say); "{file}" is an existing regular file,
# "{raises}" a problem file whose import raises, "{tmp}" a fresh folder
BAD_INPUTS = [
    (["--inputs", "0"], 2, "argument --inputs: must be at least 1, got 0"),
    (["--inputs", "-5"], 2, "argument --inputs: must be at least 1, got -5"),
    (["--inputs", "abc"], 2, "argument --inputs: 'abc' is not a number"),
    (["--inputs", "1.5"], 2, "argument --inputs: '1.5' is not a whole number"),
    (["--inputs", ""], 2, "argument --inputs: needs a number"),
    ([], 2, "--inputs N is required"),
    (["--inputs", "10000000000000"], 2, "would fit"),
    (["--problem", "article", "--inputs", "10"], 2, "takes n = 3 only"),
    (["--problem", "rosenbrok", "--inputs", "10"], 2, "known problems: article, rosenbrock"),
    (["--problem", "{tmp}/missing.py:build", "--inputs", "10"], 2, "does not exist"),
    (
        ["--problem", "{raises}:build", "--inputs", "10"],
        1,
        "RuntimeError: no data here (line 2 of raises.py)",
    ),
    (["--inputs", "10", "--out", "{file}"], 2, "is a file, not a folder"),
    (["--inputs", "10", "--budget", "0"], 2, "argument --budget: must be a positive number, got 0"),
    (["--inputs", "10", "--budget", "0.5"], 2, "too short to time anything"),
    (["--inputs", "10", "--budget", "soon"], 2, "argument --budget: 'soon' is not a number"),
    (["--inputs", "10", "--repeat", "0"], 2, "argument --repeat: must be at least 1, got 0"),
    (["--inputs", "10", "--chunk", "-1"], 2, "argument --chunk: must be at least 1, got -1"),
    (["--inputs", "10", "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
    (["--inputs", "10", "--modes", "sideways"], 2, "unknown mode 'sideways'"),
    (["--inputs", "10,100", "--sweep"], 2, "--sweep makes its own list"),
    (["--inputs", "10", "--chunk", "4", "--modes", "reverse"], 2, "leaves forward-chunked out"),
    (["--inputs", "10", "--outputs", "5"], 2, "--outputs is for Jacobian problems"),
    (["--list-problems", "--inputs", "10"], 2, "--list-problems lists the catalogue"),
]


def materialise(argv, tmp_path):
    """Fill the placeholders of a BAD_INPUTS command line with real paths under ``tmp_path``."""
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "raises.py").write_text("import math\nraise RuntimeError('no data here')\n")
    subs = {
        "{file}": str(tmp_path / "a-file"),
        "{raises}": str(tmp_path / "raises.py"),
        "{tmp}": str(tmp_path),
    }
    out = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        out.append(a)
    return out


@pytest.fixture
def fast(monkeypatch):
    make_fast(monkeypatch)


@pytest.mark.parametrize(
    "argv,code,message", BAD_INPUTS, ids=[" ".join(a) or "(none)" for a, _, _ in BAD_INPUTS]
)
def test_bad_input_gets_a_message_and_an_exit_code(argv, code, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(materialise(argv, tmp_path)) == code
    out, err = capsys.readouterr()
    assert message in err
    assert "Traceback" not in err and out == ""
    assert err.startswith("compare-modes: ")


def test_the_default_budget_fits_one_long_call(capsys):
    """The default budget is long enough for one forward chunk-1 gradient of scalar Rosenbrock at
    n = 1000 (10-20 s on a 2-core machine), and short enough for the run to stay under a minute."""
    assert budget.LONG_CALL_S <= 1.0 and 15.0 <= budget.DEFAULT_BUDGET_S <= 25.0
    assert not budget.hopeless(15.0, budget.DEFAULT_BUDGET_S)
    ns = cli.build_parser().parse_args(["--inputs", "1000"])
    assert ns.budget == budget.DEFAULT_BUDGET_S
    assert cli._settings(ns).budget == budget.DEFAULT_BUDGET_S


def test_a_budget_too_short_says_what_a_cell_needs(capsys):
    assert main(["--inputs", "10", "--budget", "1"]) == 2
    err = capsys.readouterr().err
    assert "--budget 1 is too short to time anything: a cell needs at least 1.1 s" in err
    assert "or one whole call of at least 1 s for a long one" in err
    ns = cli.build_parser().parse_args(["--inputs", "10", "--budget", "1", "--repeat", "1"])
    assert cli._settings(ns).budget == 1.0  # one sample of a short call needs 0.7 s


def test_a_size_too_large_to_finish_in_the_budget(capsys, fast):
    """Scalar Rosenbrock at n = 300,000: no mode fits 2 s; the message says what would fit."""
    assert main(["--inputs", "300000", "--budget", "2", "-q"]) == 2
    out, err = capsys.readouterr()
    assert "nothing could be measured at n = 300000" in err and "would fit" in err and out == ""


def test_article_table_and_sentence(capsys, fast):
    assert main(["--problem", "article", "--inputs", "3", "--repeat", "3"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("article: ")
    assert "mode" in lines[1] and "passes" in lines[1] and "median" in lines[1] and "peak mem" in lines[1]
    assert sum(1 for line in lines if line.startswith("3  ")) == 4
    assert any("faster than" in line and "at n = 3; ideal n/c = 3." in line for line in lines)
    assert err.startswith("compare-modes: article at n = 3")


def test_json_prints_only_json(capsys, fast):
    assert main(["--problem", "rosenbrock-array", "--inputs", "5", "--repeat", "3", "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["status"] == "complete" and err == ""
    assert {c["mode"] for c in doc["cells"]} == {"function", "forward", "forward-chunked", "reverse"}
    env = doc["environment"]
    for key in ("cpu_model", "cpu_count", "os", "python", "numpy", "modes", "command_line", "thread_pools"):
        assert key in env
    assert doc["command"]["line"].startswith("compare-modes --problem rosenbrock-array")
    assert all(p["num_threads"] == 1 for p in env["thread_pools"])


def test_out_makes_a_new_folder_every_run(tmp_path, capsys, fast):
    argv = ["--problem", "article", "--inputs", "3", "--repeat", "3", "-q", "--out", str(tmp_path / "runs")]
    assert main(argv) == 0 and main(argv) == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    for f in folders:
        assert (
            load(f)["status"] == "complete" and (f / "results.csv").exists() and not (f / "PARTIAL").exists()
        )


def test_a_sweep_goes_under_results_without_out(tmp_path, monkeypatch, capsys, fast):
    monkeypatch.chdir(tmp_path)
    assert main(["--inputs", "3,4", "--repeat", "3", "--modes", "reverse"]) == 0
    (folder,) = (tmp_path / "results" / "runs").iterdir()
    doc = load(folder)
    assert sorted({c["n"] for c in doc["cells"]}) == [3, 4]
    assert "results saved in" in capsys.readouterr().err


def test_single_size_without_out_only_prints(tmp_path, monkeypatch, capsys, fast):
    monkeypatch.chdir(tmp_path)
    assert main(["--problem", "article", "--inputs", "3", "--repeat", "3", "-q"]) == 0
    assert not (tmp_path / "results").exists()


def test_sweep_sizes():
    assert sweep_sizes(1000, 2) == [10, 32, 100, 316, 1000]
    assert sweep_sizes(5, 2) == [5]
    assert sweep_sizes(40, 2) == [13, 40]


def test_list_problems(capsys):
    assert main(["--list-problems"]) == 0
    out = capsys.readouterr().out
    for name in CATALOGUE:
        assert name in out
    assert main(["--list-problems", "--json"]) == 0
    assert {p["name"] for p in json.loads(capsys.readouterr().out)} == set(CATALOGUE)


def test_help_and_version(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--inputs" in out and "exit codes" in out
    assert f"(default {budget.DEFAULT_BUDGET_S:g})" in " ".join(out.split())
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("compare-modes ")


def _problem_file(tmp_path, body):
    path = tmp_path / "prob.py"
    path.write_text(textwrap.dedent(body))
    return f"{path}:build"


def test_disagreement_exits_with_3(tmp_path, capsys, fast):
    spec = _problem_file(
        tmp_path,
        """
        import numpy as np
        rng = np.random.default_rng(0)
        def build(n, seed):
            return (lambda v: sum(v) * rng.normal()), np.ones(n)
    """,
    )
    assert main(["--problem", spec, "--inputs", "4", "--repeat", "3", "-q"]) == 3
    err = capsys.readouterr().err
    assert "forward and reverse mode disagree at n = 4" in err


def test_a_function_failing_under_ad_exits_with_1(tmp_path, capsys, fast):
    spec = _problem_file(
        tmp_path,
        """
        def build(n, seed):
            def f(v):
                if isinstance(v[0], float):
                    return sum(v)
                raise ValueError("plain floats only")
            return f, [1.0] * n
    """,
    )
    assert main(["--problem", spec, "--inputs", "3", "--repeat", "3", "-q"]) == 1
    err = capsys.readouterr().err
    assert "ValueError: plain floats only (prob.py:6)" in err and "Traceback" not in err


def test_interrupted_run_keeps_partial_results(tmp_path, capsys, fast):
    spec = _problem_file(
        tmp_path,
        """
        def build(n, seed):
            if n == 4:
                raise KeyboardInterrupt
            return (lambda v: sum(x * x for x in v)), [1.0] * n
    """,
    )
    code = main(["--problem", spec, "--inputs", "3,4", "--repeat", "3", "-q", "--out", str(tmp_path / "o")])
    assert code == 130
    (folder,) = (tmp_path / "o").iterdir()
    doc = load(folder)
    assert (
        doc["status"] == "partial" and "interrupted" in doc["status_reason"] and (folder / "PARTIAL").exists()
    )
    assert {c["n"] for c in doc["cells"]} == {3}
    assert "partial results saved in" in capsys.readouterr().err


def test_explain_is_dispatched(monkeypatch):
    seen = []
    fake = types.SimpleNamespace(main=lambda argv: seen.append(argv) or 0)
    monkeypatch.setitem(sys.modules, "experiments.explain", fake)
    assert main(["explain", "a*b", "--at", "a=1,b=2"]) == 0
    assert seen == [["a*b", "--at", "a=1,b=2"]]


def test_run_returns_the_folder_for_later_steps(tmp_path, fast, capsys):
    """The seam for reports: ``cli.run`` hands back the finished run folder."""
    ns = cli.build_parser().parse_args(
        ["--problem", "article", "--inputs", "3", "--repeat", "3", "-q", "--out", str(tmp_path)]
    )
    result = cli.run(ns, ["--inputs", "3"])
    assert result.exit_code == 0 and result.folder.parent == tmp_path
    assert load(result.folder)["cells"] == result.record.cells
