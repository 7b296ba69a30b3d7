"""The installed ``compare-modes`` script, run as a real subprocess from outside the repository."""

import json
import os
import shutil
import subprocess

import pytest
from test_cli import BAD_INPUTS, materialise

from experiments import budget

SCRIPT = shutil.which("compare-modes")
pytestmark = pytest.mark.skipif(SCRIPT is None, reason="compare-modes is not installed (pip install -e .)")


def run(argv, cwd, timeout=120):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [SCRIPT, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "argv,code,message", BAD_INPUTS, ids=[" ".join(a) or "(none)" for a, _, _ in BAD_INPUTS]
)
def test_bad_input_through_the_script(argv, code, message, tmp_path):
    p = run(materialise(argv, tmp_path), tmp_path)
    assert p.returncode == code, p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_a_real_run_prints_json(tmp_path):
    """Real timing with the default budget: tiny cells take what they need, not the budget."""
    p = run(
        ["--problem", "article", "--inputs", "3", "--repeat", "3", "--modes", "reverse", "--json"], tmp_path
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # stdout is JSON only
    # stderr: nothing but progress lines (printed once a run passes a second, as on a slow machine)
    assert doc["status"] == "complete"
    assert all(line.startswith("compare-modes: progress:") for line in p.stderr.splitlines()), p.stderr
    assert doc["settings"]["budget"] == budget.DEFAULT_BUDGET_S and doc["elapsed_s"] < 15
    assert [(c["mode"], c["status"]) for c in doc["cells"]] == [("function", "ok"), ("reverse", "ok")]
    assert doc["cells"][1]["ref_rel_diff"] == 0.0


def test_help(tmp_path):
    p = run(["--help"], tmp_path)
    assert p.returncode == 0 and "usage: compare-modes" in p.stdout and p.stderr == ""
