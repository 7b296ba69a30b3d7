"""Issue 15 item 7: the benchmark regression recipe's threshold comes from measured run-to-run
noise; experiments.bench_noise measures it from two saved runs of the same commit."""

import json

import pytest

from experiments import bench_noise


def saved(tmp_path, name, stats):
    """A pytest-benchmark JSON file holding one benchmark per (name -> (min, median, mean))."""
    doc = {
        "benchmarks": [
            {"fullname": f"t.py::test_mode[{k}]", "stats": {"min": a, "median": m, "mean": mean}}
            for k, (a, m, mean) in stats.items()
        ]
    }
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_noise_per_statistic_and_a_threshold_that_passes_the_same_commit(tmp_path, capsys):
    first = saved(
        tmp_path, "a.json", {"f": (1e-4, 1.1e-4, 1.3e-4), "g": (0.05, 0.06, 0.07), "h": (2e-3, 2e-3, 2e-3)}
    )
    second = saved(
        tmp_path, "b.json", {"f": (1.02e-4, 1.5e-4, 1.3e-4), "g": (0.04, 0.09, 0.07), "h": (2e-3, 2e-3, 2e-3)}
    )
    a, b = bench_noise.load(first), bench_noise.load(second)
    mins = bench_noise.spread(a, b, "min")
    # an unchanged tree may come out slower in either run: larger / smaller - 1
    assert mins.diffs["t.py::test_mode[g]"] == pytest.approx(0.25)
    assert mins.largest == pytest.approx(0.25) and mins.median == pytest.approx(0.02)
    assert mins.threshold() == 40  # 1.5 x 25% = 37.5%, rounded up to a multiple of 5
    for stat in bench_noise.STATS:
        s = bench_noise.spread(a, b, stat)
        worse = {k: b[k][stat] / a[k][stat] - 1 for k in a}
        assert all(w * 100 <= s.threshold() for w in worse.values())  # the same commit passes
    assert bench_noise.spread(a, b, "min", (1e-2, float("inf"))).diffs.keys() == {"t.py::test_mode[g]"}
    assert bench_noise.main([str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "min: median 2%, 90th percentile 25%, largest 25% -> --benchmark-compare-fail=min:40%" in out
    assert "calls of 10 ms or more (1): median 25%, largest 25%" in out


def test_bad_files_get_a_message_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    good = saved(tmp_path, "a.json", {"f": (1, 1, 1)})
    assert bench_noise.main([str(bad), str(good)]) == 2
    assert "cannot read" in capsys.readouterr().err
    other = saved(tmp_path, "b.json", {"g": (1, 1, 1)})
    assert bench_noise.main([str(good), str(other)]) == 2
    assert "no benchmark in common" in capsys.readouterr().err


def test_the_readme_recipe_compares_min_cpu_time_with_a_measured_threshold():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    recipe = readme.split("**Catching a speed regression between commits.**")[1].split(
        "What noise to expect"
    )[0]
    commands = recipe.split("```bash")[1].split("```")[0]
    assert "median:25%" not in commands  # it failed on an unchanged tree
    assert "--benchmark-timer=time.process_time" in commands and "--benchmark-min-rounds=20" in commands
    assert "python -m experiments.bench_noise" in commands and "--benchmark-compare-fail=min:" in commands
    noise = readme.split("What noise to expect")[1].split("\n\n")[1]
    assert "load average" in noise and "(the recipe)" in noise
