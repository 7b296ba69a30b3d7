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
