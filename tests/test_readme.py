"""The README's Python examples run as written (so the documentation stays true)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests (installed copy)")
def test_readme_python_examples_run():
    blocks = python_blocks()
    assert blocks, "the README has no Python example"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
        if "modes.grad(f, [-1.0, 3.0, 4.0])" in block:  # the library example: the article's f
            assert list(namespace["modes"].grad(namespace["f"], [-1.0, 3.0, 4.0])) == [7.0, 9.0, 2.0]


@pytest.mark.skipif(not (README.parent / ".git").exists(), reason="not a git checkout")
def test_files_the_readme_commands_create_are_git_ignored():
    # issue 15 item 13: following the README left bench.json and its report folder untracked
    import subprocess

    text = README.read_text()
    made = re.findall(r"--benchmark-json=(\S+)", text)
    made += [f"{d}/report.md" for d in re.findall(r"compare-modes report \S+ --out (\S+)", text)]
    made = [p for p in made if not p.startswith(("results", "DIR"))]
    assert made, "the README's commands create no files?"
    for p in made:
        ignored = subprocess.run(["git", "check-ignore", "-q", p], cwd=README.parent, check=False)
        assert ignored.returncode == 0, f"{p} (created by a README command) is not git-ignored"
