"""HIPS autograd: ``autograd.grad`` / ``autograd.jacobian`` (reverse) and n passes of its forward
mode (``make_jvp``); it has no batched forward form and no compiler.

autograd wraps NumPy, so its arrays are NumPy float64 arrays and its BLAS is NumPy's (pinned by
the caller with threadpoolctl).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from experiments.peers.base import Peer, Prepared, settle, stack_columns
from experiments.peers.forms import Form, Namespace
from experiments.problems import GRADIENT
from experiments.results import FORWARD, FUNCTION, REVERSE


class AutogradPeer(Peer):
    name = "autograd"
    module = "autograd"
    dist = "autograd"
    install = "autograd"
    modes = (REVERSE, FORWARD)

    def setup(self) -> None:
        import autograd
        import autograd.numpy  # registers the NumPy primitives' VJPs and JVPs
        from autograd.differential_operators import make_jvp

        self.autograd, self.anp, self.make_jvp = autograd, autograd.numpy, make_jvp
        settle()

    def settings(self) -> dict[str, Any]:
        return {"dtype": "float64 (NumPy)"}

    def namespace(self) -> Namespace:
        anp = self.anp
        from autograd.tracer import getval

        def logsumexp(v: Any) -> Any:
            """Stable log-sum-exp, shifted by the max as a constant (as ``modes.ops.logsumexp`` is)."""
            m = float(np.max(getval(v)))
            return anp.log(anp.sum(anp.exp(v - m))) + m

        return Namespace(
            "autograd",
            lambda a: np.asarray(a, dtype=np.float64),
            anp.sum,
            anp.mean,
            anp.tanh,
            anp.reshape,
            logsumexp,
        )

    def prepare(
        self, form: Form, f: Callable[[Any], Any], x: Any, kind: str, mode: str, limit: float | None = None
    ) -> Prepared:
        self.check_mode(mode)
        n = len(x)
        xa: Any = [float(v) for v in x] if form.scalar_list else np.asarray(x, dtype=np.float64)

        def as_numpy(g: Any) -> np.ndarray:
            if isinstance(g, (list, tuple)):
                return np.array([float(v) for v in g])
            return np.asarray(g, dtype=np.float64)

        def direction(i: int) -> Any:
            e: Any = [0.0] * n if form.scalar_list else np.zeros(n)
            e[i] = 1.0
            return e

        if mode == FUNCTION:
            return Prepared(lambda: f(xa), as_numpy)
        if mode == REVERSE:
            d = self.autograd.grad(f) if kind == GRADIENT else self.autograd.jacobian(f)
            return Prepared(lambda: d(xa), as_numpy, passes=1)
        make_jvp = self.make_jvp

        def passes() -> list[Any]:
            jvp = make_jvp(f)(xa)
            return [jvp(direction(i))[1] for i in range(n)]

        return Prepared(passes, lambda cols: stack_columns(cols, kind), chunk=1, passes=n)
