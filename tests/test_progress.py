"""Live progress on stderr (issue 15 item 11): a bar on a terminal, plain lines elsewhere, both
also under --json (whose stdout stays JSON), nothing under -q; cells done reach the total."""

import io
import json

import pytest
from test_runner import make_fast

from experiments import cli
from experiments.cli import main
from experiments.problems import CATALOGUE
from experiments.runner import Runner, Settings


@pytest.fixture
def eager(monkeypatch):
    """Progress from the first cell on, every cell (the defaults wait a second, then a few)."""
    make_fast(monkeypatch)
    monkeypatch.setattr(cli, "PROGRESS_DELAY_S", 0.0)
    monkeypatch.setattr(cli, "PLAIN_EVERY_S", 0.0)


ARGS = ["--problem", "rosenbrock-array", "--inputs", "3,5", "--repeat", "3"]


def test_plain_progress_lines_when_stderr_is_not_a_terminal_even_with_json(eager, capsys):
    assert main([*ARGS, "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["cells"]) == 8  # stdout is the JSON alone
    lines = err.splitlines()
    assert lines and all(line.startswith("compare-modes: progress: ") for line in lines), lines
    assert lines[0].startswith("compare-modes: progress: 1/8 cells (function n=3 done), ")
    assert "left" in lines[0]
    assert lines[-1].startswith("compare-modes: progress: 8/8 cells (reverse n=5 done), ")
    assert lines[-1].endswith("elapsed")


def test_quiet_means_nothing_on_stderr(eager, capsys):
    assert main([*ARGS, "-q"]) == 0
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_live_bar_on_a_terminal(eager, monkeypatch, capsys):
    screen = _Terminal()
    monkeypatch.setattr(cli.sys, "stderr", screen)
    assert main([*ARGS, "--json"]) == 0
    shown = screen.getvalue().replace("\r", "\n")
    assert "8/8 cells |" in shown and "elapsed, ~" in shown and "left | " in shown
    assert "| timing n=5" in shown  # the current cell
    assert "progress:" not in shown  # no plain lines on a terminal
    json.loads(capsys.readouterr().out)


def test_progress_reaches_the_total_when_a_size_is_dropped(monkeypatch):
    """mlp rounds n = 10 and 11 to the same network: the second size is dropped, and its cells
    are counted as done so the progress still ends at the total."""
    make_fast(monkeypatch)
    seen = []
    s = Settings(problem=CATALOGUE["mlp"], sizes=[10, 11], repeat=3, budget=5.0, memory=False)
    r = Runner(s, progress=lambda done, label: seen.append(done))
    r.run()
    assert r.total == 8 and seen[-1] == 8 and len(r.cells) == 4


def test_progress_reaches_the_total_with_a_chunk_sweep(monkeypatch):
    make_fast(monkeypatch)
    seen = []
    s = Settings(
        problem=CATALOGUE["rosenbrock"], sizes=[6], repeat=3, budget=5.0, memory=False, chunks=[2, 3, 6, 9]
    )
    r = Runner(s, progress=lambda done, label: seen.append(done))
    r.run()
    assert r.total == 4 + 3 * 4 and seen[-1] == r.total and seen == sorted(seen)
