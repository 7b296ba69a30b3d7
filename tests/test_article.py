"""The article's numbers, in both modes and every chunk size."""

import numpy as np
import pytest

import modes
from modes.examples import ARTICLE_POINT, article

X = list(ARTICLE_POINT)

SETTINGS = [("reverse", None), ("forward", None), ("forward", 1), ("forward", 2), ("forward", 3)]


@pytest.mark.parametrize("mode,chunk", SETTINGS)
def test_article_value_and_gradient(mode, chunk):
    value, g = modes.value_and_grad(article, X, mode=mode, chunk=chunk)
    assert value == 14.0
    np.testing.assert_array_equal(g, [7.0, 9.0, 2.0])
    assert g.dtype == np.float64 and g.shape == (3,)


@pytest.mark.parametrize("mode,chunk", SETTINGS[:3] + [("forward", 2)])
def test_product_gradient(mode, chunk):
    g = modes.grad(lambda v: v[0] * v[1], (-2, 3), mode=mode, chunk=chunk)
    np.testing.assert_array_equal(g, [3.0, -2.0])


def test_reverse_tape_of_the_article():
    rec = modes.record(article, X)
    assert len(rec.tape) == 6  # three inputs, two additions, one product
    assert [rec.tape.node(k).primitive.name for k in (3, 4, 5)] == ["add", "add", "mul"]
    assert rec.tape.node(5).parents == (3, 4) and rec.tape.node(5).partials == (7.0, 2.0)
    assert rec.tape.values[3:] == [2.0, 7.0, 14.0]
    assert "%5 = mul(%3, %4)" in str(rec.tape)
    np.testing.assert_array_equal(rec.backward(), [7.0, 9.0, 2.0])
    # the tape is reusable: a second sweep gives the same fresh gradient
    np.testing.assert_array_equal(rec.backward(2.0), [14.0, 18.0, 4.0])


def test_operation_counts_back_the_articles_thrice():
    with modes.counting(memory=False) as fwd:
        modes.grad(article, X, mode="forward", chunk=1)
    with modes.counting(memory=False) as rev:
        modes.grad(article, X, mode="reverse")
    assert fwd.passes == 3 and rev.passes == 1
    assert fwd.ops == 3 * rev.ops == 9
    assert fwd.tangent_updates == 3 * rev.adjoint_updates == 18
    assert rev.tape_length == 6 and rev.sweeps == 1
