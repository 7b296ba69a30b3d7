"""Beyond one machine (issue 15 item 14): ``--shard K/N`` splits a run's sizes deterministically,
``compare-modes merge`` joins the shards into one run (refusing mixes unless --force), and the
report of a merged run names every machine."""

import json

import pytest
from test_runner import make_fast

from experiments.cli import main
from experiments.results import load
from experiments.runner import shard_of


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
def test_shards_partition_the_sizes_deterministically(count):
    groups = [(n, None) for n in (2, 3, 5, 10, 30, 100, 300)]
    parts = [shard_of(groups, (k, count)) for k in range(1, count + 1)]
    assert sorted(g for p in parts for g in p) == sorted(groups)  # every size once
    assert sum(len(p) for p in parts) == len(groups)
    assert parts == [shard_of(groups, (k, count)) for k in range(1, count + 1)]  # the same every time
    assert all(p == sorted(p) for p in parts)
    assert shard_of(groups, None) == groups


def _shards(tmp_path, *extra):
    out = tmp_path / "parts"
    for k in (1, 2):
        argv = ["--problem", "rosenbrock-array", "--inputs", "3,4,5", "--repeat", "3", "-q"]
        assert main([*argv, "--shard", f"{k}/2", "--out", str(out), *extra]) == 0
    return sorted(out.iterdir())


def test_shards_merge_into_one_run_whose_report_names_every_machine(tmp_path, monkeypatch, capsys):
    make_fast(monkeypatch)
    one, two = _shards(tmp_path)
    assert "shard1of2" in one.name and "shard2of2" in two.name
    assert {c["n"] for c in load(one)["cells"]} == {3, 5} and {c["n"] for c in load(two)["cells"]} == {4}
    assert load(one)["settings"]["shard"] == [1, 2]
    merged = tmp_path / "merged"
    assert main(["merge", str(one), str(two), "--out", str(merged)]) == 0
    doc = load(merged)
    assert doc["status"] == "complete" and doc["settings"]["shard"] is None
    assert doc["settings"]["sizes"] == [3, 4, 5] and len(doc["cells"]) == 12
    assert [c["n"] for c in doc["cells"]][::4] == [3, 4, 5]
    parts = doc["merged_from"]
    assert [p["shard"] for p in parts] == [[1, 2], [2, 2]] and all(p["host"] for p in parts)
    assert parts[0]["sizes"] == ["n = 3", "n = 5"]
    assert "at n = 3" in doc["summary"][0] and "at n = 4" in doc["summary"][0]
    assert (merged / "results.csv").read_text().count("\n") == 13
    capsys.readouterr()
    assert main(["report", str(merged)]) == 0
    md = (merged / "report.md").read_text()
    assert "merges 2 runs" in md and f"{parts[0]['host']} (" in md and "shard 2/2" in md
    assert main(["merge", str(one), str(two), "--out", str(merged)]) == 2  # never over a merged run
    assert "already holds a results.json" in capsys.readouterr().err


def test_merge_refuses_a_mix_unless_forced(tmp_path, monkeypatch, capsys):
    make_fast(monkeypatch)
    (one,) = [p for p in _shards(tmp_path) if "shard1" in p.name]
    other = tmp_path / "other"
    argv = ["--problem", "rosenbrock-array", "--inputs", "4", "--repeat", "4", "-q", "--out", str(other)]
    assert main(argv) == 0
    (two,) = other.iterdir()
    capsys.readouterr()
    assert main(["merge", str(one), str(two), "--out", str(tmp_path / "m1")]) == 2
    err = capsys.readouterr().err
    assert "measured different things (repeat: 3 vs 4)" in err and "--force" in err and "Traceback" not in err
    assert not (tmp_path / "m1" / "results.json").exists()
    assert main(["merge", str(one), str(two), "--out", str(tmp_path / "m2"), "--force"]) == 0
    assert main(["merge", str(one), str(one), "--out", str(tmp_path / "m3")]) == 2
    assert "is in both" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--shard", "3/2"], "needs K/N with 1 <= K <= N"),
        (["--shard", "0/2"], "needs K/N with 1 <= K <= N"),
        (["--shard", "a/b"], "needs K/N with 1 <= K <= N"),
        (["--shard", "3/3"], "--shard 3/3 gets no size: the run has 2 size(s) to share among 3"),
        (["--inputs", "10", "--chunks", "2,4", "--shard", "1/2"], "a chunk sweep (--chunks) has one"),
    ],
)
def test_bad_shards_are_usage_errors(argv, message, capsys):
    base = [] if "--inputs" in argv else ["--inputs", "10,20"]
    assert main([*base, *argv]) == 2
    assert message in capsys.readouterr().err


def test_merge_of_something_else_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "y" / "results.json").parent.mkdir()
    (tmp_path / "y" / "results.json").write_text(json.dumps({"schema_version": 1, "cells": {}}))
    assert main(["merge", str(tmp_path / "x"), str(tmp_path / "y"), "--out", str(tmp_path / "o")]) == 2
    assert "no results.json at" in capsys.readouterr().err
