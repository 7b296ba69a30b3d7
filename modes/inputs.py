"""What a user may pass to ``grad``/``jacobian``/... as ``x``, and what ``f`` may return.

``x`` is a float (f receives one engine scalar), a list or tuple of floats (f receives a list of
engine scalars: one graph node per input, as in the article's graph of a, b, c) or a NumPy array
(f receives one engine array). Integers are promoted to float64. Engine values of an enclosing
differentiation are accepted too: that is how derivatives nest.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from modes import rules
from modes.core import DerivativeDropError, Traced, primal, shape_of


class Inputs:
    """A validated ``x``: its kind, its shape, and its entries (made once per call, read only)."""

    __slots__ = ("kind", "shape", "items", "nested")

    def __init__(self, kind: str, shape: tuple[int, ...], items: Any, nested: bool) -> None:
        self.kind = kind  # "scalar" | "list" | "array"
        self.shape = shape
        self.items = items  # list entries for "list", the whole value otherwise
        self.nested = nested  # True when x holds engine values of an enclosing differentiation

    def __repr__(self) -> str:
        return f"Inputs({self.kind!r}, shape={self.shape})"

    @property
    def n(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _float(v: Any, name: str) -> float:
    """``float(v)`` for a real number, naming ``name`` when an integer is too large for float64."""
    try:
        return float(v)
    except OverflowError:
        raise ValueError(
            f"argument '{name}' is an integer too large for a float64 (about 2**{int(v).bit_length()}); "
            "the engines compute in float64"
        ) from None


def _masked(name: str) -> str:
    return (
        f"argument '{name}' is a NumPy masked array: masked arrays are not supported (their mask "
        "would be dropped from the derivative); pass x.filled(...) or the unmasked entries "
        "x.compressed(), or select entries inside f with ops.where(mask, ...)"
    )


_FLOAT = {float}


def parse_inputs(x: Any, name: str = "x") -> Inputs:
    """Validate ``x`` and promote it to float64; raise ``TypeError`` naming ``name`` otherwise."""
    t = type(x)
    if (t is list or t is tuple) and set(map(type, x)) == _FLOAT:  # no entry to convert or check
        return Inputs("list", (len(x),), list(x), False)
    if t is float:
        return Inputs("scalar", (), x, False)
    if isinstance(x, Traced):
        s = shape_of(x)
        return Inputs("array" if s else "scalar", s, x, True)
    if _is_real(x):
        return Inputs("scalar", (), _float(x, name), False)
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(_masked(name))
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            items = list(x.reshape(-1))
            if all(isinstance(v, Traced) or _is_real(v) for v in items) and x.ndim == 1:
                return parse_inputs(items, name)
            raise TypeError(f"argument '{name}': an object array is not a numeric input")
        dt = x.dtype
        if dt != np.float64 and not (np.issubdtype(dt, np.integer) or np.issubdtype(dt, np.floating)):
            raise TypeError(f"argument '{name}' must hold real numbers, got an array of dtype {x.dtype}")
        arr = np.array(x, dtype=np.float64)
        if arr.ndim == 0:
            return Inputs("scalar", (), float(arr), False)
        return Inputs("array", arr.shape, arr, False)
    if isinstance(x, (list, tuple)):
        items = []
        nested = False
        for i, v in enumerate(x):
            if isinstance(v, Traced):
                if shape_of(v) != ():
                    raise TypeError(f"argument '{name}[{i}]' must be a scalar, got shape {shape_of(v)}")
                items.append(v)
                nested = True
            elif _is_real(v):
                items.append(_float(v, f"{name}[{i}]"))
            elif isinstance(v, np.ndarray) and v.ndim == 0 and _is_real(v.item()):
                items.append(float(v))
            else:
                what = type(v).__name__
                hint = ""
                if isinstance(v, (list, tuple, np.ndarray)):
                    hint = " (nested or ragged lists are not inputs: pass a NumPy array)"
                raise TypeError(f"argument '{name}[{i}]' must be a real number, got {what}{hint}")
        if not items:
            raise ValueError(f"argument '{name}' is empty: there is nothing to differentiate with respect to")
        return Inputs("list", (len(items),), items, nested)
    raise TypeError(
        f"argument '{name}' must be a float, a list or tuple of floats, or a NumPy array; "
        f"got {type(x).__name__}"
    )


_STORED = (
    "f stored an engine value into a NumPy array (buf[i] = v), which would drop its derivative: "
    "build arrays from engine values with ops.stack([...]) or ops.concatenate([...]) instead"
)


def call(f: Callable[[Any], Any], arg: Any) -> Any:
    """``f(arg)`` normalised (:func:`normalize_output`), naming the fix for ``buf[i] = v`` inside f.

    NumPy reports ``buf[i] = v`` as "setting an array element with a sequence" and chains the
    engine value's refusal of ``float(v)`` as its cause; that pair is translated here, once per
    call of f, so no operation pays for it.
    """
    try:
        y = f(arg)
    except ValueError as e:
        if isinstance(e.__cause__, DerivativeDropError):
            raise DerivativeDropError(_STORED) from e
        raise
    return y if isinstance(y, Traced) else normalize_output(y)


def normalize_output(y: Any) -> Any:
    """Turn what ``f`` returned into one value (a list or tuple of scalars is stacked)."""
    if isinstance(y, (list, tuple)):
        if not y:
            raise TypeError("f returned an empty sequence")
        return rules.stack(*[normalize_output(v) for v in y], axis=0)
    if isinstance(y, Traced):
        return y
    if _is_real(y):
        return float(y)
    if isinstance(y, np.ndarray) and np.issubdtype(y.dtype, np.number) and not np.iscomplexobj(y):
        return y.astype(np.float64) if y.ndim else float(y)
    kind = getattr(y, "dtype", None)
    kind = kind.kind if isinstance(kind, np.dtype) else {bool: "b", complex: "c"}.get(type(y))
    if kind == "b":
        raise TypeError(
            "f returned a boolean value (a comparison?): comparisons of engine values act on their "
            "values and carry no derivative; return numbers (ops.where(condition, a, b) selects "
            "between values differentiably)"
        )
    if kind == "c":
        raise TypeError(
            "f returned a complex value: complex differentiation is not supported (the engines "
            "differentiate real functions in float64)"
        )
    raise TypeError(
        f"f must return a number, an array or an engine value (or a list of them), got {type(y).__name__}"
    )


def require_scalar(value: Any) -> None:
    """Refuse a non-scalar output where a gradient was asked for, saying what to use instead."""
    s = shape_of(value)
    if s != ():
        raise ValueError(
            f"grad needs f to return a scalar, but f returned an array of shape {s}; "
            "use modes.jacobian(f, x) for vector-valued functions"
        )


def as_plain(value: Any) -> Any:
    """A computed primal returned to the user: a float for scalars, else an ndarray."""
    if type(value) is float:
        return value
    if isinstance(value, Traced):
        return value
    p = primal(value)
    if isinstance(p, np.ndarray) and p.ndim == 0:
        return float(p)
    return p


def parse_direction(v: Any, shape: tuple[int, ...], name: str) -> Any:
    """Validate a direction or cotangent (``v`` of jvp, ``u`` of vjp) against ``shape``.

    Returns a float, a float64 array or (nesting) the engine values as given; raises
    ``TypeError`` naming ``name`` for non-numeric input and ``ValueError`` for a wrong shape.
    """
    if isinstance(v, Traced):
        got = shape_of(v)
    elif isinstance(v, (list, tuple)) and any(isinstance(e, Traced) for e in v):
        for i, e in enumerate(v):
            if not (isinstance(e, Traced) or _is_real(e)):
                raise TypeError(f"argument '{name}[{i}]' must be a real number, got {type(e).__name__}")
        got = (len(v),)
    else:
        if isinstance(v, (str, bytes)) or v is None:
            raise TypeError(f"argument '{name}' must be numeric, got {type(v).__name__}")
        if isinstance(v, np.ma.MaskedArray):
            raise TypeError(_masked(name))
        try:
            arr = np.asarray(v)
        except ValueError:
            raise TypeError(f"argument '{name}' must be numeric (ragged nested lists are not)") from None
        if arr.ndim == 0 and _is_real(v):
            arr = np.asarray(_float(v, name))
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(
                f"argument '{name}' must hold real numbers, got {type(v).__name__} of dtype {arr.dtype}"
            )
        got = arr.shape
        v = float(arr) if arr.ndim == 0 else arr.astype(np.float64)
    if got != shape:
        raise ValueError(f"argument '{name}' has shape {got}, expected {shape}")
    return v
