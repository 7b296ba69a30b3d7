"""The explain tool's expression language: what it accepts, what it refuses, and where."""

import builtins
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modes
from modes.expression import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    ExpressionError,
    is_variable_name,
    parse,
)

ENV = {"a": 0.7, "b": -1.3, "c": 2.5}


@pytest.mark.parametrize(
    "source, expected",
    [
        ("(a + b) * (b + c)", lambda a, b, c: (a + b) * (b + c)),
        ("a - b - c", lambda a, b, c: (a - b) - c),
        ("a / b / c", lambda a, b, c: (a / b) / c),
        ("-a ** 2", lambda a, b, c: -(a**2)),
        ("2 ** 3 ** 2", lambda a, b, c: 512.0),
        ("a ** -b", lambda a, b, c: a ** (-b)),
        ("--a + +b", lambda a, b, c: a + b),
        ("a * b + c / a - b", lambda a, b, c: a * b + c / a - b),
        ("sin(a) * exp(b) + tanh(c)", lambda a, b, c: math.sin(a) * math.exp(b) + math.tanh(c)),
        ("sqrt(square(a) + log1p(c))", lambda a, b, c: math.sqrt(a * a + math.log1p(c))),
        ("abs(b) + relu(b) + sigmoid(a)", lambda a, b, c: abs(b) + 0.0 + 1 / (1 + math.exp(-a))),
        (" 1.5e1 * .5 + 2. \t\n", lambda a, b, c: 9.5),
        ("negative(cos(a)) / tan(c)", lambda a, b, c: -math.cos(a) / math.tan(c)),
    ],
)
def test_values_follow_python_precedence(source, expected):
    assert parse(source).evaluate(ENV) == pytest.approx(expected(**ENV), rel=1e-14)


def test_numbers_are_floats_and_variables_are_ordered_by_first_appearance():
    e = parse("c * (b + 2) + a * c")
    assert e.variables == ("c", "b", "a")
    assert e.positions == {"c": 0, "b": 5, "a": 14}
    assert type(parse("7").evaluate({})) is float


def test_every_function_of_the_language_is_a_unary_function_of_modes_ops():
    for name, fn in FUNCTIONS.items():
        assert getattr(modes.ops, name) is fn
        assert parse(f"{name}(a)").evaluate({"a": 0.5}) == pytest.approx(fn(0.5))


def test_the_same_expression_runs_on_both_engines():
    f = parse("(a + b) * (b + c)").function(["a", "b", "c"])
    for mode in ("reverse", "forward"):
        np.testing.assert_array_equal(modes.grad(f, [-1.0, 3.0, 4.0], mode=mode), [7.0, 9.0, 2.0])


def test_a_long_flat_sum_is_evaluated_without_recursion():
    n = MAX_LENGTH // 2  # 'a+a+...+a', a tree about a thousand levels deep
    source = "+".join(["a"] * n)
    e = parse(source)
    assert e.evaluate({"a": 1.0}) == n
    assert modes.grad(e.function(["a"]), [2.0]).tolist() == [n]


def test_nothing_reaches_eval_exec_or_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the expression language must not call eval, exec or compile")

    for name in ("eval", "exec", "compile", "__import__"):
        monkeypatch.setattr(builtins, name, refuse)
    assert parse("sin(a) ** 2 + b").evaluate({"a": 0.0, "b": 1.0}) == 1.0
    with pytest.raises(ExpressionError):
        parse("__import__('os').system('true')")


# --------------------------------------------------------------------------- refused, and where

REFUSED = [
    # (source, 0-based position, words the message must contain)
    ("__import__('os')", 0, "unknown function '__import__'"),
    ("a.b", 1, "attribute access"),
    ("(a + b).real", 7, "attribute access"),
    ("lambda: 1", 0, "keyword"),
    ("a if b else c", 2, "keyword"),
    ("True + a", 0, "keyword"),
    ("", 0, "empty"),
    ("   ", 3, "empty"),
    ("foo(a)", 0, "unknown function 'foo'"),
    ("sin", 0, "must be called"),
    ("sin(a, b)", 5, "one argument"),
    ("sin()", 4, "expected a number"),
    ("a +", 3, "ends"),
    ("a b", 2, "unexpected name 'b'"),
    ("2a", 1, "followed by an operator"),
    ("1.2.3", 3, "malformed number"),
    ("1e999", 0, "too large"),
    ("(a + b", 0, "never closed"),
    ("a + b)", 5, "unmatched ')'"),
    ("()", 1, "before ')'"),
    ("a ^ 2", 2, "a ** b"),
    ("a[0]", 1, "indexing"),
    ("'a'", 0, "string"),
    ("a = 1", 2, "'='"),
    ("a; b", 1, "one expression"),
    ("a @ b", 2, "'@'"),
    ("é + a", 0, "unexpected character"),
    ("a + \x00", 4, "unexpected character"),
    ("a * * b", 4, "expected a number, a name or '('"),
]


@pytest.mark.parametrize("source, position, words", REFUSED)
def test_malformed_and_hostile_expressions_are_refused_with_their_position(source, position, words):
    with pytest.raises(ExpressionError) as info:
        parse(source)
    err = info.value
    assert err.position == position
    assert err.column == position + 1
    assert words in err.message
    assert f"column {position + 1}" in str(err)
    _shown, caret = err.excerpt().split("\n")
    assert caret == " " * (len(caret) - 1) + "^"


def test_ten_thousand_nested_parentheses_are_refused_by_length():
    source = "(" * 10**5 + "a" + ")" * 10**5
    with pytest.raises(ExpressionError, match="too long") as info:
        parse(source)
    assert info.value.position == MAX_LENGTH
    assert len(info.value.excerpt()) < 200  # the message stays short


def test_a_huge_string_is_refused_before_any_work():
    with pytest.raises(ExpressionError, match="too long"):
        parse("a+" * 5_000_000)


@pytest.mark.parametrize("opening, offset", [("(", 0), ("-", 0), ("sin(", 3), ("1**", 1)])
def test_nesting_is_bounded_exactly_at_max_depth(opening, offset):
    closing = ")" if opening.endswith("(") else ""
    ok = opening * MAX_DEPTH + "a" + closing * MAX_DEPTH
    parse(ok).evaluate({"a": 1.0})
    deep = opening * (MAX_DEPTH + 1) + "a" + closing * (MAX_DEPTH + 1)
    with pytest.raises(ExpressionError, match="nested too deeply") as info:
        parse(deep)
    # the error points at the opening (or operator) that goes one level too deep
    assert info.value.position == MAX_DEPTH * len(opening) + offset


def test_huge_powers_are_refused_when_evaluated():
    e = parse("9**9**9")  # syntactically fine
    with pytest.raises(ExpressionError, match=r"exponent 3\.8742e\+08 is too large") as info:
        e.evaluate({})
    assert info.value.position == 1  # the '**' whose exponent (9**9) is too large
    with np.errstate(over="ignore"):  # at the bound: float overflow to inf, no huge integers
        assert parse(f"2 ** {MAX_EXPONENT:g}").evaluate({}) == math.inf
    with pytest.raises(ExpressionError, match="too large"):
        parse("a ** b").evaluate({"a": 2.0, "b": -2000.0})


def test_unknown_variables_are_refused_at_their_first_position():
    e = parse("a * zeta + zeta")
    with pytest.raises(ExpressionError, match="no value given for variable 'zeta'") as info:
        e.evaluate({"a": 1.0})
    assert info.value.position == 4
    with pytest.raises(ExpressionError):
        e.function(["a"])


def test_variable_names():
    assert is_variable_name("x1") and is_variable_name("_t") and is_variable_name("alpha")
    for bad in ("sin", "lambda", "None", "1x", "a.b", "", "é"):
        assert not is_variable_name(bad)


def test_non_strings_are_a_type_error():
    with pytest.raises(TypeError):
        parse(b"a + b")


# ---------------------------------------------------------------------------- property: round trip

_leaf = st.one_of(
    st.sampled_from(["a", "b", "c"]).map(lambda n: (n, ENV[n])),
    st.floats(0.25, 4.0).map(lambda v: (repr(v), v)),
)


def _extend(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*"]), children).map(
        lambda t: (
            f"({t[0][0]} {t[1]} {t[2][0]})",
            {"+": t[0][1] + t[2][1], "-": t[0][1] - t[2][1], "*": t[0][1] * t[2][1]}[t[1]],
        )
    )
    unary = st.tuples(st.sampled_from(["sin", "tanh", "-"]), children).map(
        lambda t: (
            (f"-{t[1][0]}", -t[1][1]) if t[0] == "-" else (f"{t[0]}({t[1][0]})", getattr(math, t[0])(t[1][1]))
        )
    )
    return st.one_of(binary, unary)


@settings(max_examples=60, deadline=None)
@given(st.recursive(_leaf, _extend, max_leaves=12))
def test_random_expressions_evaluate_like_python(case):
    source, expected = case
    assert parse(source).evaluate(ENV) == pytest.approx(expected, rel=1e-12, abs=1e-12)
