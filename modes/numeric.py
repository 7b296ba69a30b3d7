"""Value functions of the primitives on plain numbers, with NumPy's semantics.

Python floats take the fast ``math`` path; anything ``math`` refuses (``log(-1)``, ``1/0``,
overflow) falls back to NumPy so every input gets NumPy's answer (nan/inf and a RuntimeWarning),
whether it arrived as a float or as an array. Arrays go straight to NumPy.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

#: What ``math`` raises where NumPy answers nan or inf (with a RuntimeWarning).
MATH_ERRORS = _MATH_ERRORS = (ValueError, OverflowError, ZeroDivisionError)


def unary(math_fn: Callable[[float], float], np_fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A one-argument kernel: ``math_fn`` for Python floats, ``np_fn`` otherwise or on error.

    ``kernel.scalar`` is ``math_fn``: the float path, which raises where NumPy would warn (the
    compiled replay of ``modes/replay.py`` calls it directly and falls back to the kernel then).
    """

    def kernel(x: Any) -> Any:
        if type(x) is float:
            try:
                return math_fn(x)
            except _MATH_ERRORS:
                return float(np_fn(np.float64(x)))
        return np_fn(x)

    kernel.__name__ = np_fn.__name__
    kernel.scalar = math_fn  # type: ignore[attr-defined]
    return kernel


def binary(py_fn: Callable[[Any, Any], Any], np_fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A two-argument kernel: ``py_fn`` (``kernel.scalar``) for two Python scalars, else ``np_fn``."""

    def kernel(x: Any, y: Any) -> Any:
        tx, ty = type(x), type(y)
        if (tx is float or tx is int) and (ty is float or ty is int):
            try:
                return py_fn(x, y)
            except _MATH_ERRORS:
                return float(np_fn(np.float64(x), np.float64(y)))
        return np_fn(x, y)

    kernel.__name__ = np_fn.__name__
    kernel.scalar = py_fn  # type: ignore[attr-defined]
    return kernel


def _py_sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _np_sigmoid(x: Any) -> Any:
    # exp of a non-positive number only: no overflow, full relative accuracy in both tails
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _py_relu(x: float) -> float:
    return x if (x > 0.0 or x != x) else 0.0


def _np_relu(x: Any) -> Any:
    return np.maximum(x, 0.0)


def _py_max(x: float, y: float) -> float:
    return float(np.maximum(x, y)) if (x != x or y != y) else (x if x >= y else y)


def _py_min(x: float, y: float) -> float:
    return float(np.minimum(x, y)) if (x != x or y != y) else (x if x <= y else y)


sin = unary(math.sin, np.sin)
cos = unary(math.cos, np.cos)
tan = unary(math.tan, np.tan)
exp = unary(math.exp, np.exp)
log = unary(math.log, np.log)
log1p = unary(math.log1p, np.log1p)
sqrt = unary(math.sqrt, np.sqrt)
tanh = unary(math.tanh, np.tanh)
sinh = unary(math.sinh, np.sinh)
cosh = unary(math.cosh, np.cosh)
sigmoid = unary(_py_sigmoid, _np_sigmoid)
relu = unary(_py_relu, _np_relu)
absolute = unary(abs, np.abs)
divide = binary(operator.truediv, np.divide)
power = binary(math.pow, np.power)
maximum = binary(_py_max, np.maximum)
minimum = binary(_py_min, np.minimum)


def _py_sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else x * 0.0)  # 0.0 for +-0, nan for nan


def _py_integral(fn: Callable[[float], int]) -> Callable[[float], float]:
    """``math.floor``-like functions return ints; the engines' scalar type is float."""

    def kernel(x: float) -> float:
        return float(fn(x))  # inf and nan raise, and fall back to NumPy

    return kernel


def _py_logaddexp(x: float, y: float) -> float:
    if x == y:  # also +-inf with itself: the NumPy answer, no inf - inf
        return x + math.log(2.0)
    m = x if x > y else y
    return m + math.log1p(math.exp(-abs(x - y)))


def _py_logaddexp2(x: float, y: float) -> float:
    if x == y:
        return x + 1.0
    m = x if x > y else y
    return m + math.log1p(2.0 ** -abs(x - y)) / math.log(2.0)


def _py_fmax(x: float, y: float) -> float:
    return y if x != x else (x if (y != y or x >= y) else y)


def _py_fmin(x: float, y: float) -> float:
    return y if x != x else (x if (y != y or x <= y) else y)


def _py_remainder(x: float, y: float) -> float:
    if y == 0.0 or x != x or y != y or abs(x) == math.inf or abs(y) == math.inf:
        raise ValueError  # NumPy's answer for the corner cases
    return x % y


sign = unary(_py_sign, np.sign)
floor = unary(_py_integral(math.floor), np.floor)
ceil = unary(_py_integral(math.ceil), np.ceil)
rint = unary(_py_integral(round), np.rint)  # round() on a float rounds half to even, like rint
trunc = unary(_py_integral(math.trunc), np.trunc)
arcsin = unary(math.asin, np.arcsin)
arccos = unary(math.acos, np.arccos)
arctan = unary(math.atan, np.arctan)
arcsinh = unary(math.asinh, np.arcsinh)
arccosh = unary(math.acosh, np.arccosh)
arctanh = unary(math.atanh, np.arctanh)
expm1 = unary(math.expm1, np.expm1)
exp2 = unary(math.exp2, np.exp2)
log2 = unary(math.log2, np.log2)
log10 = unary(math.log10, np.log10)
cbrt = unary(math.cbrt, np.cbrt)
sinc = unary(lambda x: float(np.sinc(x)), np.sinc)
hypot = binary(math.hypot, np.hypot)
arctan2 = binary(math.atan2, np.arctan2)
logaddexp = binary(_py_logaddexp, np.logaddexp)
logaddexp2 = binary(_py_logaddexp2, np.logaddexp2)
remainder = binary(_py_remainder, np.remainder)
fmod = binary(math.fmod, np.fmod)
fmax = binary(_py_fmax, np.fmax)
fmin = binary(_py_fmin, np.fmin)


#: Below this |x|, 1 - tanh(x)^2 is accurate to a few ulps (1 - t^2 >= 0.07): no cosh needed.
SECH2_DIRECT = 2.0


def sech2(x: Any, t: Any) -> Any:
    """``1 / cosh(x)^2`` given ``t = tanh(x)``: ``1 - t^2`` where that does not cancel, else via cosh.

    The cheap form serves the common case; cosh is evaluated only where |x| >= SECH2_DIRECT, where
    ``1 - t^2`` would lose relative accuracy (it is 0 for |x| > 19, though sech^2 is a normal float).
    """
    if type(x) is float:
        if abs(x) < SECH2_DIRECT:
            return 1.0 - t * t
        try:
            return 1.0 / math.cosh(x) ** 2
        except OverflowError:
            return 0.0
    x = np.asarray(x, dtype=float)
    r = 1.0 - np.asarray(t, dtype=float) ** 2
    ax = np.abs(x)
    if ax.ndim == 0:
        return 1.0 / np.cosh(x) ** 2 if ax >= SECH2_DIRECT else r
    if not ax.size or np.maximum.reduce(ax, axis=None) < SECH2_DIRECT:  # the common case
        return r
    far = ax >= SECH2_DIRECT  # (a nan entry is not far: 1 - t^2 is nan there too)
    if far.any():
        with np.errstate(over="ignore"):
            r[far] = 1.0 / np.cosh(x[far]) ** 2
    return r


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """``np.reshape`` (the ndarray method when it can: no dispatch); a 0-d result is a float."""
    r = (x if type(x) is np.ndarray else np.asarray(x)).reshape(shape)
    return r if shape else as_float_array(r)


def transpose(x: Any, axes: tuple[int, ...]) -> Any:
    """``np.transpose`` (the ndarray method when it can: no dispatch)."""
    return x.transpose(axes) if type(x) is np.ndarray else np.transpose(x, axes)


def tensordot(a: Any, b: Any, axes: int) -> Any:
    """``np.tensordot(a, b, axes)``; operands of one or two dimensions contracted over one axis go
    straight to ``np.dot`` (the BLAS call tensordot itself makes after reshaping, without its
    Python-level bookkeeping, which costs more than the product of a small matrix), and an outer
    product (``axes=0``) to ``np.multiply.outer``."""
    if type(a) is np.ndarray and type(b) is np.ndarray:
        if axes == 1 and 0 < a.ndim <= 2 and 0 < b.ndim <= 2:
            return np.dot(a, b)
        if axes == 0:
            return np.multiply.outer(a, b)  # every entry one product, as tensordot's dot makes it
    return as_float_array(np.tensordot(a, b, axes=axes))


def as_float_array(x: Any) -> Any:
    """NumPy result normalised: 0-d arrays become Python floats, the engines' scalar type."""
    if type(x) is np.ndarray and x.ndim == 0:
        return float(x)
    if type(x) is np.float64:
        return float(x)
    return x
