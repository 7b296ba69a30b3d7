"""experiments.benchmark_json: a pytest-benchmark JSON file as results.json's cells.

Synthetic files pin the mapping field by field; one real ``--benchmark-json`` run of
tests/benchmarks (the article's problem, a few milliseconds of timing) checks the whole seam.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import benchmark_json as bj
from experiments.results import CELL_FIELDS, SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "tests" / "benchmarks"


def bench(problem, n, mode, median, *, data=True, extra=True, **info):
    """One benchmark entry as pytest-benchmark 5 writes it (times in seconds per call)."""
    samples = [median * f for f in (0.9, 0.95, 1.0, 1.05, 1.3)]
    stats = {
        "min": min(samples),
        "max": max(samples),
        "mean": sum(samples) / 5,
        "stddev": 0.1 * median,
        "rounds": 5,
        "median": median,
        "iqr": 0.1 * median,
        "q1": 0.95 * median,
        "q3": 1.05 * median,
        "iqr_outliers": 1,
        "stddev_outliers": 1,
        "outliers": "1;1",
        "ld15iqr": samples[0],
        "hd15iqr": samples[-1],
        "ops": 1 / median,
        "total": sum(samples),
        "iterations": 1,
    }
    if data:
        stats["data"] = samples
    chunk = {"forward": 1, "forward-chunked": min(n, 12)}.get(mode)
    extra_info = (
        {
            "problem": problem,
            "kind": "gradient",
            "n": n,
            "requested_n": n,
            "m": 1,
            "mode": mode,
            "chunk": chunk,
            "seed": 0,
            "details": {},
            "problem_description": f"{problem} described",
            "problem_sizes": "any n >= 2",
            **info,
        }
        if extra
        else {}
    )
    name = f"test_mode[{problem}-{n}-{mode}]"
    return {
        "group": None,
        "name": name,
        "fullname": f"tests/benchmarks/test_bench_modes.py::{name}",
        "params": {"problem": problem, "n": n, "mode": mode},
        "param": f"{problem}-{n}-{mode}",
        "extra_info": extra_info,
        "stats": stats,
        "options": {
            "disable_gc": False,
            "timer": "perf_counter",
            "min_rounds": 5,
            "max_time": 1.0,
            "min_time": 5e-06,
            "warmup": False,
        },
    }


MACHINE = {
    "node": "box",
    "processor": "",
    "machine": "x86_64",
    "python_implementation": "CPython",
    "python_version": "3.11.7",
    "release": "6.1",
    "system": "Linux",
    "cpu": {"brand_raw": "Test CPU", "count": 2},
}
COMMIT = {
    "id": "abc123",
    "time": "2026-01-01T00:00:00+00:00",
    "dirty": False,
    "project": "main",
    "branch": "main",
}


def write(tmp_path, benchmarks, machine=MACHINE, name="bench.json", **top):
    doc = {
        "machine_info": machine,
        "commit_info": COMMIT,
        "benchmarks": benchmarks,
        "datetime": "2026-01-01T00:00:00+00:00",
        "version": "5.2.3",
        **top,
    }
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def rosenbrock_file(tmp_path, **kw):
    return write(
        tmp_path,
        [
            bench(
                "rosenbrock",
                100,
                "reverse",
                0.004,
                passes=1,
                sweeps=1,
                ops=792,
                adjoint_updates=1584,
                tape_length=892,
                **kw,
            ),
            bench("rosenbrock", 100, "forward", 0.400, passes=100, ops=79200, tangent_updates=158400, **kw),
            bench("rosenbrock", 100, "function", 0.0001, passes=1, **kw),
            bench("rosenbrock", 100, "forward-chunked", 0.080, passes=9, ops=7128, **kw),
            bench("logsumexp", 10, "reverse", 0.0005, passes=1, sweeps=1, ops=4, **kw),
        ],
    )


def test_cells_carry_results_fields_times_and_counts(tmp_path):
    doc = bj.load_benchmark_json(rosenbrock_file(tmp_path))
    assert doc["schema_version"] == SCHEMA_VERSION and doc["status"] == "complete"
    cells = doc["cells"]
    assert all(list(c) == list(CELL_FIELDS) for c in cells)
    # problems in file order, then n, then the table order of the modes
    assert [(c["problem"], c["mode"]) for c in cells] == [
        ("rosenbrock", "function"),
        ("rosenbrock", "forward"),
        ("rosenbrock", "forward-chunked"),
        ("rosenbrock", "reverse"),
        ("logsumexp", "reverse"),
    ]
    fw = cells[1]
    assert (fw["n"], fw["requested_n"], fw["m"], fw["chunk"], fw["passes"]) == (100, 100, 1, 1, 100)
    assert (fw["ops"], fw["tangent_updates"], fw["status"]) == (79200, 158400, "ok")
    assert fw["time_median_s"] == 0.4 and fw["loops"] == 1
    assert fw["time_q1_s"] == pytest.approx(0.38) and fw["time_q3_s"] == pytest.approx(0.42)
    assert fw["time_iqr_s"] == pytest.approx(0.04)
    assert fw["samples_s"] == pytest.approx([0.36, 0.38, 0.4, 0.42, 0.52])
    assert "5 rounds" in fw["note"]
    rev = cells[3]
    assert (rev["sweeps"], rev["adjoint_updates"], rev["tape_length"], rev["chunk"]) == (1, 1584, 892, None)
    assert rev["details"]["benchmark"].endswith("test_mode[rosenbrock-100-reverse]")
    json.dumps(doc, allow_nan=False)  # as strict as results.json


def test_ratios_and_speedups_within_one_problem_and_n(tmp_path):
    cells = {(c["problem"], c["mode"]): c for c in bj.load_benchmark_json(rosenbrock_file(tmp_path))["cells"]}
    rev = cells["rosenbrock", "reverse"]
    assert rev["function_time_s"] == 0.0001
    assert rev["ratio_to_function"] == pytest.approx(40.0)
    assert rev["speedup_vs_forward"] == pytest.approx(100.0)
    assert rev["speedup_vs_forward_chunked"] == pytest.approx(20.0)
    assert cells["rosenbrock", "function"]["ratio_to_function"] is None
    # logsumexp n = 10 has no function or forward cell: nothing to compare with
    lse = cells["logsumexp", "reverse"]
    assert lse["function_time_s"] is None and lse["speedup_vs_forward"] is None


def test_environment_from_machine_info_and_commit_info(tmp_path):
    env = bj.load_benchmark_json(rosenbrock_file(tmp_path))["environment"]
    assert env["cpu_model"] == "Test CPU" and env["cpu_count"] == 2 and env["python"] == "3.11.7"
    assert env["os"] == "Linux 6.1" and env["machine"] == "x86_64"
    assert env["git"] == {"commit": "abc123", "dirty": False, "branch": "main"}
    assert env["pytest_benchmark"]["machine_info"]["node"] == "box"


def test_environment_prefers_compare_modes_own_block(tmp_path):
    own = {
        "cpu_model": "Own CPU",
        "thread_pools": [{"num_threads": 1}],
        "command_line": "pytest tests/benchmarks",
        "git": {"commit": "def456", "dirty": True},
    }
    doc = bj.load_benchmark_json(
        write(tmp_path, [bench("article", 3, "reverse", 1e-4)], compare_modes={"environment": own})
    )
    env = doc["environment"]
    assert env["cpu_model"] == "Own CPU" and env["thread_pools"] == [{"num_threads": 1}]
    assert env["git"]["commit"] == "def456" and env["git"]["branch"] == "main"
    assert doc["command"]["line"] == "pytest tests/benchmarks"
    assert doc["command"]["argv"] == ["pytest", "tests/benchmarks"]


def test_one_problem_per_record(tmp_path):
    path = rosenbrock_file(tmp_path)
    assert bj.problems_in(path) == ["rosenbrock", "logsumexp"]
    whole = bj.load_benchmark_json(path)
    assert whole["problem"] is None and whole["problems"] == ["rosenbrock", "logsumexp"]
    one = bj.load_benchmark_json(path, problem="rosenbrock")
    assert {c["problem"] for c in one["cells"]} == {"rosenbrock"} and len(one["cells"]) == 4
    assert one["problem"] == {
        "name": "rosenbrock",
        "description": "rosenbrock described",
        "kind": "gradient",
        "sizes": "any n >= 2",
        "options": {},
    }
    runs = bj.load_benchmark_runs(path)
    assert [r["problem"]["name"] for r in runs] == ["rosenbrock", "logsumexp"]
    with pytest.raises(bj.BenchmarkJSONError, match=r"no benchmark of problem 'mlp'.*rosenbrock, logsumexp"):
        bj.load_benchmark_json(path, problem="mlp")


def test_saved_without_data_and_params_only(tmp_path):
    """--benchmark-save keeps no samples unless --benchmark-save-data; a benchmark without our
    extra_info falls back on its params (problem, n, mode)."""
    path = write(tmp_path, [bench("rosenbrock", 10, "forward", 0.002, data=False, extra=False)])
    (cell,) = bj.load_benchmark_json(path)["cells"]
    assert cell["samples_s"] == [] and cell["time_median_s"] == 0.002
    assert (cell["problem"], cell["n"], cell["mode"], cell["kind"], cell["m"]) == (
        "rosenbrock",
        10,
        "forward",
        "gradient",
        1,
    )
    assert cell["ops"] is None and cell["chunk"] is None


def test_foreign_benchmarks_are_ignored_and_named(tmp_path):
    other = {
        "name": "test_sort",
        "fullname": "tests/test_x.py::test_sort",
        "params": None,
        "extra_info": {},
        "stats": {"median": 1.0},
        "options": {},
    }
    doc = bj.load_benchmark_json(write(tmp_path, [other, bench("article", 3, "reverse", 1e-4)]))
    assert len(doc["cells"]) == 1 and doc["ignored_benchmarks"] == ["tests/test_x.py::test_sort"]
    with pytest.raises(bj.BenchmarkJSONError, match=r"no compare-modes benchmark.*1 other"):
        bj.load_benchmark_json(write(tmp_path, [other], name="other.json"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot read"),
        (json.dumps({"schema_version": 1, "cells": []}), "not a pytest-benchmark JSON file"),
        (json.dumps({"benchmarks": []}), "holds no compare-modes benchmark"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(bj.BenchmarkJSONError, match=message):
        bj.load_benchmark_json(path)
    assert issubclass(bj.BenchmarkJSONError, ValueError)


def test_the_converter_imports_no_engine():
    code = "import sys, experiments.benchmark_json; print(sorted(m for m in sys.modules if m.split('.')[0] == 'modes'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(
    not BENCHMARKS.is_dir(), reason="tests/benchmarks is not beside the tests (installed copy)"
)
def test_a_real_benchmark_run_converts(tmp_path):
    """pytest tests/benchmarks --benchmark-json on the article's problem, then the converter."""
    out = tmp_path / "article.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCHMARKS),
        "-q",
        "-p",
        "no:cacheprovider",
        "-k",
        "article",
        "--benchmark-only",
        "--benchmark-max-time=0.01",
        "--benchmark-min-rounds=3",
        f"--benchmark-json={out}",
    ]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    doc = bj.load_benchmark_json(out)
    cells = {c["mode"]: c for c in doc["cells"]}
    assert list(cells) == ["function", "forward", "forward-chunked", "reverse"]
    assert doc["problem"]["name"] == "article" and doc["problem"]["sizes"] == "n = 3 only"
    # the README's counts: forward chunk 1 takes 3 passes, 9 primitive evaluations, 18 tangent updates;
    # reverse one pass, 3 evaluations, 6 adjoint updates
    fw, rev = cells["forward"], cells["reverse"]
    assert (fw["passes"], fw["ops"], fw["tangent_updates"], fw["chunk"]) == (3, 9, 18, 1)
    assert (rev["passes"], rev["sweeps"], rev["ops"], rev["adjoint_updates"]) == (1, 1, 3, 6)
    assert cells["forward-chunked"]["passes"] == 1 and cells["forward-chunked"]["chunk"] == 3
    for c in cells.values():
        assert c["time_median_s"] > 0 and len(c["samples_s"]) >= 3 and c["peak_bytes"] > 0
        if c["mode"] != "function":
            assert c["agrees"] is True and c["ref_rel_diff"] == 0.0
            assert c["ratio_to_function"] > 1 and math.isfinite(c["speedup_vs_forward"])
    env = doc["environment"]
    assert env["thread_pools"] is not None and env["command_line"].startswith("pytest ")
    assert env["pytest_benchmark"]["machine_info"]["compare_modes_blas_threads"] == 1
    assert doc["settings"]["threads"] == 1 and doc["settings"]["max_time"] == 0.01
    assert env["git"] is None or "commit" in env["git"]
