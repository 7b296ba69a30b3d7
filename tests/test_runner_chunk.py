"""The runner reports the forward chunk the engine really uses (array inputs have their own default)."""

from __future__ import annotations

import numpy as np

import modes
from experiments.kernels import chunk_for, input_elements, kernel
from experiments.problems import CATALOGUE
from experiments.results import FORWARD_CHUNKED


def test_chunked_cells_use_and_report_the_engines_default_for_arrays():
    inst = CATALOGUE["rosenbrock-array"].build(1000, 0, None, {})
    c = chunk_for(FORWARD_CHUNKED, inst.n, None, input_elements(inst.x))
    assert c == modes.choose_chunk(1000, elements=1000) < 1000
    with modes.counting() as s:
        kernel(inst, FORWARD_CHUNKED, None)()
    assert s.passes == -(-1000 // c)


def test_a_list_input_counts_one_element_per_input():
    assert input_elements([1.0, 2.0]) == 1 and input_elements(np.zeros((3, 4))) == 12
