"""Issue 11: the explain parser raises only ExpressionError, and digits follow one rule everywhere.

The rule (``modes/expression.py``): numbers are written with the ASCII digits 0-9 only, with no
``_`` separators, in expressions and in the CLI's ``--at`` alike.
"""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.explain import parse_at
from modes.expression import ExpressionError, parse, parse_number


@pytest.mark.parametrize(
    "source, position, words",
    [
        ("x²", 1, "superscript"),
        ("2 * x³ + 1", 5, "superscript"),
        ("x ** ²", 5, "superscript"),
        ("٣ * x", 0, "ASCII digits"),  # ARABIC-INDIC DIGIT THREE: float() would read it as 3
        ("x + ５", 4, "ASCII digits"),  # FULLWIDTH DIGIT FIVE
        ("1_000 * x", 1, "'_'"),
        ("½ * x", 0, "ASCII digits"),
    ],
)
def test_unicode_digits_and_separators_are_refused_with_their_position(source, position, words):
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert info.value.position == position
    assert words in info.value.message


@pytest.mark.parametrize("text", ["٣", "５", "1_000", "²", "0x10", " 1e3x"])
def test_at_follows_the_same_digit_rule(text):
    with pytest.raises(ValueError, match=r"--at: the value of a"):
        parse_at([f"a={text}"])
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text, value",
    [("2", 2.0), ("-1", -1.0), ("+0.5", 0.5), (".5", 0.5), ("1e-3", 1e-3), ("-2.5E2", -250.0), (" 3 ", 3.0)],
)
def test_numbers_read_the_same_in_expressions_and_at(text, value):
    assert parse_number(text) == value
    assert parse_at([f"a={text}"]) == {"a": value}
    assert parse(f"({text.strip()}) + 0").evaluate({}) == value


#: Characters that exercise every branch of the tokenizer, plus any Unicode character.
ALPHABET = st.one_of(
    st.sampled_from(list("0123456789.eE+-*/(),_ axyzsincoexp²³٣５½'\"[]{}:=^@;%\\\t\n")),
    st.characters(),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(ALPHABET, max_size=40))
def test_parse_raises_only_expression_error(source):
    try:
        expr = parse(source)
    except ExpressionError as err:
        assert 0 <= err.position <= len(source)
        err.excerpt()
        return
    env = dict.fromkeys(expr.variables, 0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            value = expr.evaluate(env)
        except ExpressionError:
            return
    assert isinstance(value, float) or math.isnan(value)


@settings(max_examples=500, deadline=None)
@given(st.text(ALPHABET, max_size=20))
def test_at_raises_only_value_error(text):
    try:
        parse_at([f"a={text}"])
    except ValueError as err:
        assert str(err).startswith("--at:")
