"""A small, safe expression language for the ``explain`` tool: ``(a + b) * (b + c)``, ``sin(x) * y``.

Grammar (Python's precedence and associativity; ``-a ** 2`` is ``-(a ** 2)``)::

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "/") unary)*
    unary      := ("+" | "-") unary | power
    power      := primary ("**" unary)?              (right-associative)
    primary    := NUMBER | NAME | FUNCTION "(" expression ")" | "(" expression ")"

``NUMBER`` is a decimal literal (``2``, ``0.5``, ``.5``, ``1e-3``), always a float, written with
the ASCII digits 0-9 only: no ``_`` separators (``1_000``) and no other Unicode digits (``²``,
``٣``, ``５``), which are refused with a message rather than read as Python's ``float`` would. The
CLI's ``--at`` reads values by the same rule (:func:`parse_number`, which also takes a sign). ``NAME`` is a
variable, ``[A-Za-z_][A-Za-z0-9_]*``, that is not a Python keyword and not a function name.
``FUNCTION`` is one of the unary functions of :mod:`modes.ops` listed in :data:`FUNCTIONS`.

Safety: the source is tokenized and parsed by hand into a small tree of :class:`Node`; nothing ever
reaches ``eval``, ``exec``, ``compile`` or Python's ``ast``, and names are looked up only in
:data:`FUNCTIONS` and in the values the caller supplies. Attribute access, indexing, strings,
lambdas, keywords, calls of unknown functions and anything not in the grammar are refused with an
:class:`ExpressionError` that carries the 0-based ``position`` of the offending character. Size is
bounded: at most :data:`MAX_LENGTH` characters and :data:`MAX_DEPTH` levels of nesting (the
parser checks its depth, so a hostile string cannot exhaust the stack), and evaluation walks the
tree with an explicit stack (a long flat sum is deep as a tree, never as recursion). Numbers are
floats, so arithmetic cannot build huge integers; powers whose exponent exceeds
:data:`MAX_EXPONENT` in magnitude (``9 ** 9 ** 9``) are refused when evaluated.
"""

from __future__ import annotations

import keyword
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from modes import ops, registry
from modes.core import ModesError, primal

#: Longest accepted source, in characters.
MAX_LENGTH = 2000
#: Deepest accepted nesting: parentheses, function calls, unary signs and exponents each add one.
MAX_DEPTH = 64
#: Largest accepted exponent magnitude in ``a ** b`` (checked on the exponent's value).
MAX_EXPONENT = 1024.0


#: The functions an expression may call: those declared ``expression=True`` (``modes/registry.py``).
class _ExpressionFunctions(Mapping[str, Callable[[Any], Any]]):
    """A live view of the registry's functions declared ``expression=True`` (read, never copied)."""

    def __getitem__(self, name: str) -> Callable[[Any], Any]:
        e = registry.PUBLIC.get(name)
        if e is None or not e.expression:
            raise KeyError(name)
        return e.fn

    def __iter__(self) -> Iterator[str]:
        return (name for name, e in registry.PUBLIC.items() if e.expression)

    def __len__(self) -> int:
        return sum(1 for _ in self)


FUNCTIONS: Mapping[str, Callable[[Any], Any]] = _ExpressionFunctions()

#: Binary operators: how each is evaluated (with the primitives of the rule table).
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": ops.add,
    "-": ops.subtract,
    "*": ops.multiply,
    "/": ops.divide,
    "**": ops.power,
}

#: The digits of a number (``str.isdigit`` and ``re``'s ``\d`` also accept ``²``, ``٣``, ``５``).
_DIGITS = frozenset("0123456789")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SIGNED_NUMBER = re.compile(r"[+-]?" + _NUMBER.pattern)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = frozenset(" \t\r\n")
_REFUSED = {
    ".": "attribute access ('.') is not allowed",
    "'": "string literals are not allowed",
    '"': "string literals are not allowed",
    "[": "indexing ('[') is not allowed",
    "]": "indexing (']') is not allowed",
    "{": "'{' is not allowed",
    "}": "'}' is not allowed",
    ":": "':' is not allowed (no lambdas, slices or annotations)",
    "=": "'=' is not allowed (no assignments or comparisons)",
    "^": "'^' is not an operator here: write powers as a ** b",
    "@": "'@' is not allowed",
    ";": "';' is not allowed: one expression only",
    "%": "'%' is not allowed",
    "\\": "'\\' is not allowed",
}
_EXCERPT = 30  # characters shown on each side of an error position


class ExpressionError(ModesError, ValueError):
    """An expression refused by the parser or by evaluation, with where it went wrong.

    ``position`` is the 0-based offset of the offending character in ``source`` (``column`` is
    the 1-based column). ``str(err)`` names the column; :meth:`excerpt` shows the source around
    it with a caret under the offending character.
    """

    def __init__(self, message: str, position: int, source: str) -> None:
        self.message = message
        self.position = max(0, min(position, len(source)))
        self.source = source
        super().__init__(f"{message} (at column {self.position + 1})")

    @property
    def column(self) -> int:
        return self.position + 1

    def excerpt(self) -> str:
        """Two lines: the source around the error (at most ~60 characters) and a caret under it."""
        lo = max(0, self.position - _EXCERPT)
        hi = min(len(self.source), self.position + _EXCERPT)
        shown = "".join(c if c.isprintable() else " " for c in self.source[lo:hi])
        prefix = "..." if lo > 0 else ""
        suffix = "..." if hi < len(self.source) else ""
        return f"{prefix}{shown}{suffix}\n{' ' * (len(prefix) + self.position - lo)}^"


class Node:
    """One node of the expression tree.

    ``kind`` is ``"number"`` (``value``), ``"name"`` (``name``), ``"unary"`` (``op`` is ``"-"``,
    one child), ``"binary"`` (``op`` in :data:`BINARY`, two children) or ``"call"`` (``name`` is
    the function, one child). ``pos`` is the 0-based offset where the node's text starts, except
    for operators, where it is the operator's own position.
    """

    __slots__ = ("children", "kind", "name", "op", "pos", "value")

    def __init__(
        self,
        kind: str,
        pos: int,
        *,
        op: str | None = None,
        name: str | None = None,
        value: float | None = None,
        children: tuple[Node, ...] = (),
    ) -> None:
        self.kind = kind
        self.pos = pos
        self.op = op
        self.name = name
        self.value = value
        self.children = children

    def __repr__(self) -> str:  # shallow on purpose: trees can be thousands of nodes deep
        what = self.op or self.name or (repr(self.value) if self.kind == "number" else "")
        return f"Node({self.kind} {what} @{self.pos})"


def postorder(root: Node) -> Iterator[Node]:
    """Every node, children before parents, left to right (an explicit stack, no recursion)."""
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or not node.children:
            yield node
            continue
        stack.append((node, True))
        for child in reversed(node.children):
            stack.append((child, False))


class Expression:
    """A parsed expression: its source, its tree, its variables; evaluate it with any engine."""

    def __init__(self, source: str, root: Node) -> None:
        self.source = source
        self.root = root
        first: dict[str, int] = {}
        for node in postorder(root):
            if node.kind == "name" and node.name not in first:
                first[node.name] = node.pos  # type: ignore[index]
        ordered = sorted(first.items(), key=lambda kv: kv[1])
        #: Variable names in order of first appearance in the source.
        self.variables: tuple[str, ...] = tuple(name for name, _ in ordered)
        #: Where each variable first appears (0-based offset).
        self.positions: dict[str, int] = dict(ordered)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __str__(self) -> str:
        return self.source

    def check_names(self, available: Mapping[str, Any] | set[str]) -> None:
        """Raise :class:`ExpressionError` at the first variable that has no value."""
        for name in self.variables:
            if name not in available:
                raise ExpressionError(
                    f"no value given for variable '{name}'", self.positions[name], self.source
                )

    def evaluate(
        self,
        env: Mapping[str, Any],
        on_node: Callable[[Node, Any, tuple[Any, ...]], None] | None = None,
    ) -> Any:
        """The expression's value with variables from ``env`` (floats or engine values).

        Operations go through :mod:`modes.ops`, so engine values are recorded or differentiated.
        ``on_node(node, result, operand_results)`` is called after each operation node.
        """
        self.check_names(env)
        results: dict[int, Any] = {}
        for node in postorder(self.root):
            if id(node) in results:  # a merged subexpression (parse(..., merge=True)): computed once
                continue
            kind = node.kind
            if kind == "number":
                r = node.value
            elif kind == "name":
                r = env[node.name]  # type: ignore[index]
            else:
                args = tuple(results[id(c)] for c in node.children)
                if kind == "unary":
                    r = ops.negative(args[0])
                elif kind == "call":
                    r = FUNCTIONS[node.name](args[0])  # type: ignore[index]
                else:
                    if node.op == "**":
                        self._check_exponent(node, args[1])
                    r = BINARY[node.op](*args)  # type: ignore[index]
                if on_node is not None:
                    on_node(node, r, args)
            results[id(node)] = r
        return results[id(self.root)]

    def _check_exponent(self, node: Node, exponent: Any) -> None:
        e = primal(exponent)
        try:
            big = abs(float(e)) > MAX_EXPONENT
        except (TypeError, ValueError):
            return
        if big:
            raise ExpressionError(
                f"exponent {float(e):.6g} is too large: '**' accepts exponents of magnitude at "
                f"most {MAX_EXPONENT:g}",
                node.pos,
                self.source,
            )

    def function(self, names: list[str] | tuple[str, ...]) -> Callable[[Any], Any]:
        """``f(v)`` for :func:`modes.grad` and friends: ``v[i]`` is the value of ``names[i]``."""
        names = tuple(names)
        self.check_names(set(names))

        def f(v: Any) -> Any:
            return self.evaluate(dict(zip(names, v)))

        return f


# ------------------------------------------------------------------------------------- parsing


class _Token:
    __slots__ = ("kind", "pos", "text", "value")

    def __init__(self, kind: str, text: str, pos: int, value: float | None = None) -> None:
        self.kind = kind  # "number" | "name" | "op" | "end"
        self.text = text
        self.pos = pos
        self.value = value

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the expression"
        if self.kind == "name":
            return f"name '{self.text}'"
        if self.kind == "number":
            return f"number {self.text}"
        return f"'{self.text}'"


class _Parser:
    """Recursive descent with an explicit depth bound; tokens are read on demand, left to right.

    Reading tokens lazily makes the first error reported the leftmost one in reading order, so
    ``__import__('os')`` is refused as an unknown function at column 1, before its quote.
    """

    def __init__(self, source: str) -> None:
        self.src = source
        self.i = 0
        self.tok = self._next()

    # -- tokens -------------------------------------------------------------------------------
    def error(self, message: str, pos: int) -> ExpressionError:
        return ExpressionError(message, pos, self.src)

    def _next(self) -> _Token:
        src, i, n = self.src, self.i, len(self.src)
        while i < n and src[i] in _SPACE:
            i += 1
        if i >= n:
            self.i = i
            return _Token("end", "", i)
        c = src[i]
        if c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            m = _NUMBER.match(src, i)
            if m is None:  # pragma: no cover - the test above guarantees a match
                raise self.error("malformed number", i)
            text = m.group()
            end = m.end()
            if end < n and src[end] == ".":
                raise self.error("malformed number: a second '.'", end)
            if end < n and src[end] == "_":
                raise self.error("'_' separators are not accepted in numbers (write 1000, not 1_000)", end)
            if end < n and _other_digit(src[end]):
                raise self.error(_digit_message(src[end]), end)
            if end < n and (src[end].isalnum() or src[end] == "_"):
                raise self.error(
                    "a number must be followed by an operator or ')' (write 2 * a for a product)", end
                )
            value = float(text)
            if not math.isfinite(value):
                raise self.error(f"number {text[:20]}{'...' if len(text) > 20 else ''} is too large", i)
            self.i = end
            return _Token("number", text, i, value)
        if _other_digit(c):
            raise self.error(_digit_message(c), i)
        if c.isalpha() or c == "_":
            m = _NAME.match(src, i)
            if m is None:  # a non-ASCII letter
                raise self.error(f"unexpected character {c!r}: names use ASCII letters, digits and '_'", i)
            self.i = m.end()
            return _Token("name", m.group(), i)
        if c == "*" and src.startswith("**", i):
            self.i = i + 2
            return _Token("op", "**", i)
        if c in "+-*/(),":
            self.i = i + 1
            return _Token("op", c, i)
        if c in _REFUSED:
            raise self.error(_REFUSED[c], i)
        raise self.error(f"unexpected character {c!r}", i)

    def advance(self) -> _Token:
        tok = self.tok
        self.tok = self._next()
        return tok

    def at(self, text: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == text

    def deeper(self, depth: int, pos: int) -> int:
        if depth >= MAX_DEPTH:
            raise self.error(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", pos)
        return depth + 1

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.expression(0)
        if self.tok.kind != "end":
            tok = self.tok
            if tok.kind == "op" and tok.text == ")":
                raise self.error("unmatched ')'", tok.pos)
            if tok.kind == "name" and keyword.iskeyword(tok.text):
                raise self.error(f"'{tok.text}' is a Python keyword: keywords are not allowed", tok.pos)
            raise self.error(f"unexpected {tok.describe()}: expected an operator or the end", tok.pos)
        return node

    def expression(self, depth: int) -> Node:
        left = self.term(depth)
        while self.at("+") or self.at("-"):
            op = self.advance()
            right = self.term(depth)
            left = Node("binary", op.pos, op=op.text, children=(left, right))
        return left

    def term(self, depth: int) -> Node:
        left = self.unary(depth)
        while self.at("*") or self.at("/"):
            op = self.advance()
            right = self.unary(depth)
            left = Node("binary", op.pos, op=op.text, children=(left, right))
        return left

    def unary(self, depth: int) -> Node:
        if self.at("-") or self.at("+"):
            op = self.advance()
            operand = self.unary(self.deeper(depth, op.pos))
            return operand if op.text == "+" else Node("unary", op.pos, op="-", children=(operand,))
        return self.power(depth)

    def power(self, depth: int) -> Node:
        base = self.primary(depth)
        if self.at("**"):
            op = self.advance()
            exponent = self.unary(self.deeper(depth, op.pos))
            return Node("binary", op.pos, op="**", children=(base, exponent))
        return base

    def primary(self, depth: int) -> Node:
        tok = self.tok
        if tok.kind == "number":
            self.advance()
            return Node("number", tok.pos, value=tok.value)
        if tok.kind == "name":
            return self.name(depth)
        if self.at("("):
            self.advance()
            inner = self.expression(self.deeper(depth, tok.pos))
            self.close(tok)
            return inner
        if tok.kind == "end":
            what = (
                "empty expression"
                if not self.src.strip()
                else "expected a number, a name or '(' but the expression ends"
            )
            raise self.error(what, tok.pos)
        if self.at(")"):
            raise self.error("expected a number, a name or '(' before ')'", tok.pos)
        raise self.error(f"expected a number, a name or '(', got {tok.describe()}", tok.pos)

    def name(self, depth: int) -> Node:
        tok = self.tok
        name = tok.text
        if keyword.iskeyword(name):
            raise self.error(f"'{name}' is a Python keyword: keywords are not allowed", tok.pos)
        self.advance()
        if self.at("("):
            if name not in FUNCTIONS:
                raise self.error(
                    f"unknown function '{name}' (functions: {', '.join(sorted(FUNCTIONS))})", tok.pos
                )
            paren = self.advance()
            arg = self.expression(self.deeper(depth, paren.pos))
            if self.at(","):
                raise self.error(f"{name}() takes exactly one argument", self.tok.pos)
            self.close(paren)
            return Node("call", tok.pos, name=name, children=(arg,))
        if name in FUNCTIONS:
            raise self.error(f"function '{name}' must be called, as in {name}(x)", tok.pos)
        return Node("name", tok.pos, name=name)

    def close(self, opening: _Token) -> None:
        if self.at(")"):
            self.advance()
            return
        if self.tok.kind == "end":
            raise self.error("'(' is never closed", opening.pos)
        raise self.error(
            f"expected ')' to close the '(' at column {opening.pos + 1}, got {self.tok.describe()}",
            self.tok.pos,
        )


def _other_digit(c: str) -> bool:
    """A character Unicode calls a digit or a number that is not one of 0-9 (``²``, ``٣``, ``½``)."""
    return c not in _DIGITS and (c.isdigit() or c.isnumeric())


def _digit_message(c: str) -> str:
    if unicodedata.decomposition(c).startswith("<super>"):
        return f"superscript {c!r} is not a power here: write powers as x ** 2"
    return f"{c!r} is not accepted in a number: numbers use the ASCII digits 0-9"


def parse_number(text: str) -> float | None:
    """``text`` as a number by the language's rule (a sign allowed, spaces around), else ``None``.

    The one digit rule of ``explain``, shared with the CLI's ``--at``: ASCII digits 0-9, an
    optional fraction and exponent, no ``_`` separators, no other Unicode digits, no ``inf``/``nan``.
    """
    m = _SIGNED_NUMBER.fullmatch(text.strip(" \t"))
    return float(m.group()) if m else None


def parse(source: str, *, merge: bool = False) -> Expression:
    """Parse ``source`` into an :class:`Expression`; raise :class:`ExpressionError` if refused.

    ``merge=True`` merges identical subexpressions, so ``exp(a) * exp(a)`` evaluates ``exp(a)``
    once (one graph node used twice). Off by default: the trace as written is the honest one.
    """
    if not isinstance(source, str):
        raise TypeError(f"an expression must be a string, got {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is too long ({len(source)} characters; at most {MAX_LENGTH})", MAX_LENGTH, source
        )
    root = _Parser(source).parse()
    return Expression(source, _merge(root) if merge else root)


def _merge(root: Node) -> Node:
    """The tree with identical subtrees shared (one :class:`Node` object each): a DAG.

    Two subtrees are identical when they have the same kind, operator or name, value and
    identical children; the first one met (leftmost, innermost) is kept, so positions in error
    messages point at the first occurrence. An explicit stack, like every walk here.
    """
    canonical: dict[tuple[Any, ...], Node] = {}
    key_of: dict[int, tuple[Any, ...]] = {}
    for node in postorder(root):
        if id(node) in key_of:
            continue
        kids = tuple(canonical[key_of[id(c)]] for c in node.children)
        node.children = kids
        key = (node.kind, node.op, node.name, node.value, *(id(c) for c in kids))
        key_of[id(node)] = key
        canonical.setdefault(key, node)
    return canonical[key_of[id(root)]]


def is_variable_name(name: str) -> bool:
    """Whether ``name`` can be a variable of an expression (not a keyword or a function)."""
    return _NAME.fullmatch(name) is not None and not keyword.iskeyword(name) and name not in FUNCTIONS


__all__ = [
    "BINARY",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "Expression",
    "ExpressionError",
    "Node",
    "is_variable_name",
    "parse",
    "parse_number",
    "postorder",
]
