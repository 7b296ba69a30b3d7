"""``compare-modes report`` and ``--report``: report.md, report.html and figures from saved results."""

import json
import re
import shutil
from pathlib import Path

import pytest
from test_plots import chunk_cells, document, grid_cells, sweep_cells
from test_runner import make_fast

from experiments import report, report_data
from experiments import report_render as rr
from experiments.cli import main
from experiments.report_data import load_run

LINK = re.compile(r"\]\(([^)\s]+)\)")


def save_run(folder: Path, doc) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({**doc, "run_folder": str(folder)}))
    return folder


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    """A run folder holding a synthetic size sweep, reported once."""
    folder = save_run(tmp_path_factory.mktemp("sweep") / "run", document(sweep_cells()))
    report.report_folder(folder)
    return folder


def local_links(folder: Path, text: str) -> list[str]:
    return [t for t in LINK.findall(text) if "://" not in t and not t.startswith("#")]


def test_the_report_has_its_sections_figures_and_table(sweep_folder):
    md = (sweep_folder / report.REPORT_MD).read_text()
    for heading in (
        "## At a glance",
        "## Environment and commands",
        "## Methodology",
        "## Run 1: synthetic",
        "## What the article claims and what we measured",
        "## Mode advice",
    ):
        assert heading in md
    assert "`compare-modes --inputs 10,30,100,300,1000`" in md  # the exact command
    assert "Test CPU" in md and "`0123456789ab`" in md  # machine and source revision
    for kind in ("time", "speedup", "audit", "counts", "memory"):
        assert f"(figures/synthetic-{kind}.png)" in md and f"(figures/synthetic-{kind}.svg)" in md
    # the skipped cell is visible: in the methodology's list and the table's footnote
    assert md.count("predicted 2 s per call; over the budget") == 2
    assert "| 1000 | forward | 1 | 1,000 | - | skipped [1] |" in md
    # the fitted cost model gives the crossover (the synthetic speedup is n / 25)
    n_star = float(re.search(r"forward mode \(chunk 1\) wins below n\* ≈ ([\d.]+)", md).group(1))
    assert 20 <= n_star <= 31
    # the views this run has no data for are named, with the command that makes them
    assert "No chunk-size sweep in this report" in md and "--chunks" in md
    assert "No Jacobian heat map in this report" in md and "--outputs" in md


def test_the_report_links_only_files_that_exist(sweep_folder):
    md = (sweep_folder / report.REPORT_MD).read_text()
    links = local_links(sweep_folder, md)
    assert len(links) >= 11  # five figures twice, results.json
    for target in links:
        assert (sweep_folder / target).is_file(), target
    html = (sweep_folder / report.REPORT_HTML).read_text()
    assert html.count('<img src="data:image/png;base64,') == 5  # self-contained: PNGs embedded
    for target in re.findall(r'(?:href|src)="([^"]+)"', html):
        assert target.startswith("data:image/png") or (sweep_folder / target).is_file(), target


def test_regenerating_from_results_json_gives_the_same_report(sweep_folder, tmp_path):
    files = [
        report.REPORT_MD,
        report.REPORT_HTML,
        *(f"figures/{p.name}" for p in (sweep_folder / "figures").iterdir()),
    ]
    before = {f: (sweep_folder / f).read_bytes() for f in files}
    copy = tmp_path / "again"
    shutil.copytree(sweep_folder, copy)
    for f in files:
        (copy / f).unlink()
    assert main(["report", str(copy), "-q"]) == 0
    for f in files:
        assert (copy / f).read_bytes() == before[f], f


def test_several_runs_make_one_report_with_all_seven_figures(tmp_path):
    folders = [
        save_run(tmp_path / "sweep", document(sweep_cells())),
        save_run(
            tmp_path / "chunks", document(chunk_cells(), command="compare-modes --inputs 200 --chunks 1,2")
        ),
        save_run(tmp_path / "grid", document(grid_cells(), name="tall", kind="jacobian")),
    ]
    out = tmp_path / "together"
    runs = [load_run(f) for f in folders]
    built = report.build(runs, out, report.regenerate_command(runs, out))  # drawn, not saved
    md = rr.markdown(built.blocks)
    assert sorted(stem for stem, _ in built.figures) == [
        "synthetic-audit",
        "synthetic-chunks",
        "synthetic-counts",
        "synthetic-memory",
        "synthetic-speedup",
        "synthetic-time",
        "tall-heatmap",
    ]
    assert "Views not in this report" not in md
    assert "## Run 2: synthetic, chunk sizes at n = 200" in md and "forward-chunked (sweep)" in md
    assert "Jacobian of tall (n inputs, m outputs): reverse mode starts to beat" in md
    assert "forward mode won 6 of 6" not in md  # the grid's own count, below
    assert re.search(r"with more outputs than inputs \(m > n\) forward mode won 3 of 3", md)
    links = local_links(out, md)
    assert {f"figures/{stem}.{ext}" for stem, _ in built.figures for ext in ("png", "svg")} <= set(links)
    assert {f"../{f.name}/results.json" for f in folders} <= set(links)
    assert f"--out {out}" in md.splitlines()[2]  # how to make it again


def test_a_single_size_run_says_which_figures_need_more(tmp_path):
    cells = [c for c in sweep_cells() if c["n"] == 100]
    folder = save_run(tmp_path / "one", document(cells, command="compare-modes --inputs 100"))
    report.report_folder(folder)
    md = (folder / report.REPORT_MD).read_text()
    assert "![" not in md and not (folder / "figures").exists()
    assert "This run measured n = 100 only" in md and "No size sweep in this report" in md
    assert "| 100 | reverse |" in md


def markdown_of(folder: Path) -> str:
    """The report's Markdown, built in memory (figures drawn, not saved)."""
    run = load_run(folder)
    return rr.markdown(report.build([run], folder, report.regenerate_command([run], None)).blocks)


def test_a_partial_run_is_reported_as_partial(tmp_path):
    folder = save_run(tmp_path / "p", document(sweep_cells()[:9], status="partial"))
    assert "**Partial run**" in markdown_of(folder)


def test_bad_paths_get_a_message_and_exit_code_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no results.json" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("{}")
    assert main(["report", str(tmp_path / "x.json")]) == 2
    assert "neither a compare-modes results.json nor a pytest-benchmark JSON file" in capsys.readouterr().err


# ------------------------------------------------------------------------ pytest-benchmark


def benchmark_file(tmp_path: Path) -> Path:
    """A pytest-benchmark JSON file as tests/benchmarks writes it (extra_info names each cell)."""
    benches = []
    for c in sweep_cells():
        if c["status"] != "ok":
            continue
        s = sorted(c["samples_s"])
        stats = {
            "min": s[0],
            "max": s[-1],
            "mean": sum(s) / len(s),
            "stddev": 0.0,
            "rounds": len(s),
            "median": c["time_median_s"],
            "iqr": c["time_iqr_s"],
            "q1": c["time_q1_s"],
            "q3": c["time_q3_s"],
            "iterations": 1,
            "data": c["samples_s"],
        }
        info = {
            k: c[k]
            for k in (
                "problem",
                "kind",
                "n",
                "requested_n",
                "m",
                "mode",
                "chunk",
                "passes",
                "sweeps",
                "ops",
                "peak_bytes",
                "tape_bytes",
                "max_rel_diff",
                "agrees",
                "seed",
            )
        }
        name = f"test_mode[{c['problem']}-{c['n']}-{c['mode']}]"
        benches.append(
            {
                "group": None,
                "name": name,
                "fullname": name,
                "extra_info": info,
                "stats": stats,
                "params": {"problem": c["problem"], "n": c["n"], "mode": c["mode"]},
            }
        )
    doc = {
        "machine_info": {"cpu": {"brand_raw": "Bench CPU", "count": 2}, "python_version": "3.11.7"},
        "commit_info": {"id": "feedbeef", "dirty": False},
        "benchmarks": benches,
        "datetime": "2026-01-01T00:00:00",
        "version": "5.2.3",
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_report_from_a_pytest_benchmark_json_file(tmp_path):
    pytest.importorskip(
        "experiments.benchmark_json",
        reason="the pytest-benchmark converter (experiments/benchmark_json.py) is not in this checkout yet",
    )
    path = benchmark_file(tmp_path)
    (run,) = report_data.load_runs(path)
    assert run.origin == "pytest-benchmark" and run.problem == "synthetic"
    built = report.build([run], tmp_path, report.regenerate_command([run], None))  # drawn, not saved
    md = rr.markdown(built.blocks)
    assert "pytest-benchmark JSON file" in md and "Bench CPU" in md
    assert {"synthetic-time", "synthetic-speedup", "synthetic-audit"} <= {stem for stem, _ in built.figures}
    assert f"Regenerate it with `compare-modes report {path}`" in md
    assert "[bench.json](bench.json)" in md


# -------------------------------------------------------------------------- through a run


def test_report_after_a_run_and_again_from_its_folder(tmp_path, capsys, monkeypatch):
    make_fast(monkeypatch)
    out = tmp_path / "runs"
    assert (
        main(["--problem", "rosenbrock", "--inputs", "4,8", "--repeat", "3", "--out", str(out), "--report"])
        == 0
    )
    err = capsys.readouterr().err
    (folder,) = out.iterdir()
    assert f"report written to {folder / report.REPORT_MD}" in err
    first = (folder / report.REPORT_MD).read_text()
    assert "## Run 1: rosenbrock, n = 4, 8" in first and "(figures/rosenbrock-time.png)" in first
    assert (folder / "figures" / "rosenbrock-time.png").is_file()
    assert markdown_of(folder) == first  # what `compare-modes report FOLDER` writes


def test_chunks_sweeps_the_chunk_size_at_one_n(tmp_path, monkeypatch, capsys):
    make_fast(monkeypatch)
    out = tmp_path / "runs"
    assert main(["--inputs", "8", "--chunks", "1,2,4,16", "--repeat", "3", "--out", str(out), "-q"]) == 0
    (folder,) = out.iterdir()
    doc = json.loads((folder / "results.json").read_text())
    assert doc["settings"]["chunks"] == [1, 2, 4, 16]
    tagged = [c for c in doc["cells"] if c["details"].get("sweep") == "chunk"]
    assert sorted(c["chunk"] for c in tagged) == [2, 4]  # 1 is forward's, 8 (16 clamped) the default chunk
    assert all(c["mode"] == "forward-chunked" and c["agrees"] for c in tagged)
    assert [c["mode"] for c in doc["cells"]].count("reverse") == 1  # the sweep's reverse runs only check
    n, cells = report_data.chunk_sweep(report_data.load_run(folder))
    assert n == 8 and [c["chunk"] for c in cells] == [1, 2, 4, 8]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--inputs", "8,16", "--chunks", "1,2"], "--chunks sweeps the chunk size at one size"),
        (["--inputs", "8", "--chunks", "1,2", "--modes", "forward,reverse"], "keep both in --modes"),
    ],
)
def test_chunks_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_jacobian_sweep_gets_jacobian_sentences_not_gradient_claims(tmp_path):
    # issue 15 item 17: the `tall` report (m = 64) said "at n = 2 reverse mode was 0.0742× faster,
    # not 2×" and drew the cheap-gradient band against reverse mode's 64 sweeps
    from test_plots import grid_cells

    from experiments import plots

    cells = [c for c in grid_cells(ns=(2, 8, 32, 128), ms=(64,))]
    folder = save_run(tmp_path / "tall", document(cells, name="tall", kind="jacobian"))
    report.report_folder(folder)
    md = markdown_of(folder)
    claims = md.split("## What the article claims")[1].split("\n## ")[0]
    assert "not 2×" not in md and "cheap-gradient bound" not in md.replace("No cheap-gradient band", "")
    assert "ideal speedup of reverse mode over forward mode (chunk 1) is n/m" in claims
    assert "at n = 2: 2 forward passes against 64 reverse sweeps, ideal 0.0312×" in claims
    assert "One reverse gradient" not in md and "One reverse sweep costs as much as" in md
    assert "Cheap-gradient audit" not in md and "Cost relative to f" in md
    fig = plots.audit_figure(cells, "tall")
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert labels and not any("cheap-gradient" in t for t in labels)
    gradient = plots.audit_figure(sweep_cells(), "rosenbrock")
    assert any("cheap-gradient" in t.get_text() for leg in gradient.legends for t in leg.get_texts())


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["cells"][0].pop("n"), "cells[0].n"),
        (lambda d: d["cells"][1].update(n="10"), "cells[1].n"),
        (lambda d: d.update(cells={"a": d["cells"][0]}), "cells"),
        (lambda d: d["cells"][2].update(ops=float("nan")), "cells[2].ops"),
        (lambda d: d["cells"][0].update(time_median_s=1e308), "cells[0].time_median_s"),
        (lambda d: d["cells"][0]["samples_s"].__setitem__(1, float("nan")), "cells[0].samples_s[1]"),
        (lambda d: d["cells"].__setitem__(3, [1, 2]), "cells[3]"),
    ],
)
def test_a_malformed_results_json_exits_2_naming_the_field(tmp_path, capsys, edit, field):
    # issue 15 item 10: hand-edited or foreign results.json gave a traceback (or drew nonsense)
    doc = document(sweep_cells())
    edit(doc)
    folder = save_run(tmp_path / "run", doc)
    assert main(["report", str(folder), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert f"{field} is" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_methodology_states_the_real_default_budget():
    # issue 15 item 5: it said 10 s while the default budget is 20 s
    from experiments import budget
    from experiments import report_text as words

    text = words.methodology_runs([(1, {})])
    assert f"budget per cell, {budget.DEFAULT_BUDGET_S:g} s," in text and "10 s" not in text


def test_the_chunked_claim_says_what_the_chunks_were():
    """With c = n (one pass at every n) the speedup over chunked forward mode need not grow: the
    sentence must not claim the growth that a fixed c (ForwardDiff's old rule) would give."""
    from experiments import report_text

    def cells(passes):
        out = []
        for n in (10, 100, 1000):
            samples = [1e-3 * n**0.5] * 5
            out.append(
                {"n": n, "mode": "reverse", "status": "ok", "time_median_s": 1e-3, "samples_s": [1e-3] * 5}
            )
            out.append(
                {
                    "n": n,
                    "mode": "forward-chunked",
                    "status": "ok",
                    "time_median_s": samples[0],
                    "samples_s": samples,
                    "passes": passes(n),
                    "chunk": n // passes(n),
                }
            )
        return out

    one = report_text.claim_chunked(cells(lambda n: 1))
    assert one is not None and "one pass carried every direction" in one and "does not change" not in one
    fixed = report_text.claim_chunked(cells(lambda n: max(1, n // 10)))
    assert fixed is not None and "still grow with n" in fixed
