"""experiments/checkpointing.py: the snapshot sweep writes its table, results and figure; bad input exits 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

import modes
from experiments import checkpointing


def test_the_rnn_problem_matches_a_numpy_loop():
    loss, h0 = checkpointing.rnn(30, d=5, seed=1)
    rng = np.random.default_rng(1)
    W = rng.normal(size=(5, 5)) * (0.9 / np.sqrt(5))
    xs = rng.normal(size=(30, 5)) * 0.5
    h = h0
    for t in range(30):
        h = np.tanh(W @ h + xs[t])
    assert loss(h0) == pytest.approx(float(h @ h) / 5, rel=1e-14)
    g = modes.grad(lambda v: loss(v, 3), h0)
    np.testing.assert_allclose(g, modes.finite_difference_jacobian(loss, h0), rtol=1e-6, atol=1e-8)


def test_parse_snapshots():
    assert checkpointing.parse_snapshots("2, 4,all,4,5000", 1000) == [2, 4, None, 1000]
    for bad, why in (("0", ">= 1"), ("two", "not an integer"), ("-3", ">= 1")):
        with pytest.raises(ValueError, match=why):
            checkpointing.parse_snapshots(bad, 10)


def test_a_small_sweep_writes_everything(tmp_path, capsys):
    code = checkpointing.main(
        ["--steps", "12", "--state", "3", "--snapshots", "2,all", "--repeats", "1", "--out", str(tmp_path)]
    )
    assert code == 0
    result = json.loads((tmp_path / "results.json").read_text())
    rows = result["rows"]
    assert set(rows) == {"2", "all", "forward"}
    assert rows["2"]["recomputed_steps"] == rows["2"]["revolve_exact"] <= rows["2"]["bound"]
    assert rows["all"]["recomputed_steps"] == 0 and rows["forward"]["step_evaluations"] == 12
    assert all(r["peak_bytes"] > 0 and r["median_s"] > 0 for r in rows.values())
    assert (tmp_path / "memory-vs-time.png").stat().st_size > 0
    assert (tmp_path / "memory-vs-time.svg").stat().st_size > 0
    assert "| 2 | 12 + " in (tmp_path / "table.md").read_text()
    assert "| 2 | 12 + " in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--snapshots", "0"], ["--snapshots", "x"], ["--steps", "0"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args):
    assert checkpointing.main([*args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "results.json").exists()
