"""Failures after a cell's verification call, an unwritable results folder, and a failing user
problem: each cell is caught on its own, measured cells are kept, and each error is said once
(issue 15 items 8 and 9)."""

import csv
import errno
import textwrap

import pytest
from test_runner import make_fast

from experiments import cli, results, runner
from experiments.cli import exit_code, main
from experiments.problems import CATALOGUE
from experiments.results import RunRecord, create_run_folder, load
from experiments.runner import Runner, Settings


@pytest.fixture
def fast(monkeypatch):
    make_fast(monkeypatch)


def _flaky_reverse(monkeypatch, calls_before_failing: int, error: Exception) -> None:
    """Reverse mode's kernel works for its first calls, then raises ``error`` (a function that
    starts raising during timing, or runs out of memory in the memory run)."""
    real = runner.kernel

    def kernel(inst, k, chunk):
        fn = real(inst, k, chunk)
        if k != "reverse":
            return fn
        calls = []

        def flaky():
            calls.append(1)
            if len(calls) > calls_before_failing:
                raise error
            return fn()

        return flaky

    monkeypatch.setattr(runner, "kernel", kernel)


@pytest.mark.parametrize(
    "memory,expected",
    [
        (True, "reverse failed after its verification call: MemoryError: out of memory"),
        (False, "reverse failed while timed (after 0 samples): RuntimeError: stopped working"),
    ],
)
def test_a_cell_failing_after_verification_fails_alone(tmp_path, fast, monkeypatch, memory, expected):
    error = MemoryError("out of memory") if memory else RuntimeError("stopped working")
    _flaky_reverse(monkeypatch, 1, error)
    folder = create_run_folder(tmp_path, "run")
    record = RunRecord({"settings": {}}, folder)
    s = Settings(problem=CATALOGUE["rosenbrock"], sizes=[3, 4], repeat=3, budget=5.0, memory=memory)
    out = Runner(s, record).run()
    assert exit_code(out) == 1 and not out.interrupted
    by = {(c.n, c.mode): c for c in out.cells}
    assert len(by) == 8
    for n in (3, 4):
        assert by[(n, "reverse")].status == "error"
        assert by[(n, "reverse")].reason.startswith(expected), by[(n, "reverse")].reason
        for mode in ("function", "forward", "forward-chunked"):
            assert by[(n, mode)].status == "ok" and by[(n, mode)].time_median_s > 0
    doc = load(folder)
    assert len(doc["cells"]) == 8 and sum(c["status"] == "ok" for c in doc["cells"]) == 6
    assert len(list(csv.DictReader(open(folder / "results.csv")))) == 8


def test_a_failure_after_verification_at_the_cli_is_one_line_and_exit_1(tmp_path, fast, monkeypatch, capsys):
    _flaky_reverse(monkeypatch, 1, RuntimeError("stopped working"))
    argv = ["--inputs", "3,4", "--repeat", "3", "--out", str(tmp_path), "-q"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [ln for ln in captured.err.splitlines() if "stopped working" in ln]
    assert len(lines) == 1 and lines[0].startswith(
        "compare-modes: reverse at n = 3, 4 failed: reverse failed"
    )
    assert lines[0].endswith("RuntimeError: stopped working (test_run_failures.py:38)")
    (folder,) = tmp_path.iterdir()
    doc = load(folder)
    assert doc["status"] == "complete" and len(doc["cells"]) == 8


def test_an_unwritable_results_folder_is_said_once_and_keeps_the_last_good_results(
    tmp_path, fast, monkeypatch, capsys
):
    """The disk stops accepting writes after two cells: the run goes on (the table has every
    cell), results.json keeps those two cells, the message comes once, the exit code is 1."""
    real_fsync, calls = results.os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > 5:  # the header's save, then two cells (CSV row + JSON each)
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(results.os, "fsync", fsync)
    argv = ["--problem", "article", "--inputs", "3", "--repeat", "3", "--out", str(tmp_path)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    said = [ln for ln in captured.err.splitlines() if "cannot write" in ln]
    assert len(said) == 1 and "No space left on device" in said[0] and "keeps the 2 cells" in said[0]
    assert "results saved in" not in captured.err
    (folder,) = tmp_path.iterdir()
    doc = load(folder)
    assert len(doc["cells"]) == 2 and doc["status"] == "partial"
    assert not (folder / "results.json.tmp").exists()
    assert captured.out.count("yes ") == 3  # every cell is in the printed table


def _problem(tmp_path, body):
    path = tmp_path / "prob.py"
    path.write_text(textwrap.dedent(body))
    return f"{path}:build"


def test_a_failing_builder_is_said_once_with_the_hint(tmp_path, fast, capsys):
    spec = _problem(
        tmp_path,
        """
        def build(n, seed):
            raise ValueError("no data for this size")
    """,
    )
    assert main(["--problem", spec, "--inputs", "3,4,5", "--repeat", "3"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("ValueError: no data for this size") == 2  # narrated at n = 3, then the verdict
    assert "n = 4: error: the same as at n = 3" in captured.err
    assert captured.err.count(cli.BUILD_HINT) == 1
    assert captured.out.count("ValueError: no data for this size") == 1  # one footnote
    assert "function, forward, forward-chunked, reverse at n = 3, 4, 5" in captured.out


def test_a_function_failing_under_ad_is_said_once_with_the_hint(tmp_path, fast, capsys):
    spec = _problem(
        tmp_path,
        """
        import math
        def build(n, seed):
            return (lambda v: sum(math.sin(t) for t in v)), [1.0] * n
    """,
    )
    assert main(["--problem", spec, "--inputs", "3,4", "--repeat", "3", "-q"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("DerivativeDropError") == 1
    assert "forward, forward-chunked, reverse at n = 3, 4 failed: DerivativeDropError" in captured.err
    assert captured.err.count(cli.F_HINT) == 1
    assert captured.out.count("DerivativeDropError") == 1
