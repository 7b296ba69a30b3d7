"""Second derivatives by nesting the two engines: Hessian-vector products four ways.

Nothing here knows a derivative rule: each order is one engine differentiating the other's
gradient, which works because every rule in the table is itself written with primitives and
levels keep the two differentiations apart (``modes/core.py``).

=========================  ==========================================  =========================
order                      how                                         cost of one HVP
=========================  ==========================================  =========================
forward-over-reverse       jvp of the reverse gradient along v         O(1) gradients
reverse-over-forward       reverse gradient of the scalar  <grad f, v>  O(1) gradients
                           computed by one forward pass (a jvp)
reverse-over-reverse       reverse gradient of <reverse grad f, v>     O(1) gradients
forward-over-forward       jvp of the forward gradient along v         O(n): the inner forward
                                                                       gradient takes n / c passes
=========================  ==========================================  =========================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from modes import ops
from modes.api import grad, jacobian, jvp, vjp
from modes.core import shape_of
from modes.inputs import parse_direction, parse_inputs

ORDERS = ("forward-over-reverse", "reverse-over-forward", "reverse-over-reverse", "forward-over-forward")


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}; got {order!r}")


def _inner_product(a: Any, b: Any) -> Any:
    if shape_of(a) == ():
        return a * b
    return ops.sum(a * b)


def hvp(f: Callable[[Any], Any], x: Any, v: Any, *, order: str = "forward-over-reverse") -> Any:
    """Hessian of the scalar function ``f`` at ``x`` times ``v``, shaped like ``x``.

    ``order`` names the outer mode first: ``"forward-over-reverse"`` (the default, as in JAX)
    differentiates the reverse-mode gradient with one forward pass.
    """
    _check_order(order)
    inputs = parse_inputs(x)
    # validated once, the same way for every order (shape x.shape; engine values when nested)
    v = parse_direction(v, inputs.shape, "v")
    if order == "forward-over-reverse":
        return jvp(lambda z: grad(f, z, mode="reverse"), x, v)[1]
    if order == "forward-over-forward":
        return jvp(lambda z: grad(f, z, mode="forward"), x, v)[1]
    if order == "reverse-over-forward":
        return vjp(lambda z: jvp(f, z, v)[1], x, 1.0)[1]
    direction = ops.stack(list(v)) if inputs.kind == "list" and isinstance(v, list) else v
    return vjp(lambda z: _inner_product(grad(f, z, mode="reverse"), direction), x, 1.0)[1]


def hessian(f: Callable[[Any], Any], x: Any, *, order: str = "forward-over-reverse") -> Any:
    """Full Hessian of the scalar function ``f`` at ``x``, shape ``x.shape + x.shape``.

    Built from Hessian-vector products against the unit vectors: the outer mode's Jacobian of
    the inner mode's gradient (forward outer: columns, chunked; reverse outer: one sweep per
    row). For ``reverse-over-forward`` the inner gradient is itself a forward Jacobian.
    """
    _check_order(order)
    outer, inner = order.split("-over-")
    return jacobian(lambda z: grad(f, z, mode=inner), x, mode=outer)
