"""Public names of the expression API, and the NumPy functions that reach them: declared once, derived.

A primitive of the rule table declares its public name, the NumPy ufunc or function that should
reach it on engine values and whether the explain parser may call it (``Primitive(...,
public=..., numpy=..., expression=...)`` in ``modes/rules.py``); a function of ``modes/ops.py``
derived from primitives declares the same with :func:`public`. Everything else is read from the
tables here: the names of :mod:`modes.ops` and its ``__all__``, NumPy dispatch on engine values
(``modes/value.py``) and the functions an explain expression may call (``modes/expression.py``).
So adding an elementwise primitive is one declaration plus its value kernel; nothing can be
reachable one way and forgotten another.

This module imports nothing from the rest of the package: it sits below the rule table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class PublicFunction:
    """One public function of the expression API and how it is reached."""

    name: str  # its name in modes.ops
    fn: Callable[..., Any]
    numpy: tuple[Any, ...]  # NumPy ufuncs / functions that dispatch to it on engine values
    expression: bool  # may the explain parser call it as ``name(x)``?


#: Every public function of modes.ops, by name, in declaration order.
PUBLIC: dict[str, PublicFunction] = {}
#: NumPy ufunc -> the function that handles it on engine values (``__array_ufunc__``).
UFUNCS: dict[np.ufunc, Callable[..., Any]] = {}
#: NumPy function -> the function that handles it on engine values (``__array_function__``).
FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {}


def declare(
    name: str, fn: Callable[..., Any], numpy: Any = (), *, expression: bool = False
) -> PublicFunction:
    """Register ``fn`` as ``modes.ops.<name>``, reached by each NumPy function in ``numpy``.

    Raises ``ValueError`` when the name or a NumPy function is already taken by another function:
    two declarations of one name would make the table say two things.
    """
    numpy = tuple(numpy) if isinstance(numpy, (tuple, list)) else (numpy,)
    old = PUBLIC.get(name)
    if old is not None and old.fn is not fn:
        raise ValueError(f"modes.ops.{name} is declared twice ({old.fn!r} and {fn!r})")
    for np_fn in numpy:
        table: dict[Any, Any] = UFUNCS if isinstance(np_fn, np.ufunc) else FUNCTIONS
        taken = table.get(np_fn)
        if taken is not None and taken is not fn:
            raise ValueError(f"numpy.{np_fn.__name__} already dispatches to {taken!r}")
    entry = PublicFunction(name, fn, numpy, expression)
    PUBLIC[name] = entry
    for np_fn in numpy:
        (UFUNCS if isinstance(np_fn, np.ufunc) else FUNCTIONS)[np_fn] = fn
    return entry


def public(name: str | None = None, *, numpy: Any = (), expression: bool = False) -> Callable[[F], F]:
    """Decorator form of :func:`declare` for the derived functions of ``modes/ops.py``."""

    def register(fn: F) -> F:
        declare(name or fn.__name__.rstrip("_"), fn, numpy, expression=expression)
        return fn

    return register


def numpy_name(np_fn: Any) -> str:
    """The dotted name a user writes for a NumPy function: ``numpy.linalg.eigvalsh``, ``numpy.sin``."""
    module = getattr(np_fn, "__module__", None) or "numpy"
    if module.startswith("numpy.") and not module.startswith(("numpy.linalg", "numpy.fft", "numpy.random")):
        module = "numpy"  # numpy._core.fromnumeric.sum is numpy.sum to the user
    return f"{module}.{np_fn.__name__}"
