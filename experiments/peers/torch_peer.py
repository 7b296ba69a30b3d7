"""PyTorch: ``torch.autograd.grad`` / ``torch.func.jacrev``, n ``torch.func.jvp`` passes (its
forward-mode duals), ``torch.func.jacfwd``; no compiled mode (``torch.compile`` needs a C++
toolchain at run time and compiles per shape; not measured here).

float64 by converting every input and datum with ``dtype=torch.float64``; one thread by
``torch.set_num_threads(1)`` (and one inter-op thread where that can still be set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from experiments.peers.base import Peer, Prepared, settle, stack_columns
from experiments.peers.forms import Form, Namespace
from experiments.problems import GRADIENT
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, REVERSE


class TorchPeer(Peer):
    name = "torch"
    module = "torch"
    dist = "torch"
    install = "torch==2.13.0"
    modes = (REVERSE, FORWARD, FORWARD_CHUNKED)

    def setup(self) -> None:
        import torch
        import torch.func

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before the first parallel work; intra-op is what we time
            pass
        self.torch = torch
        settle()

    def settings(self) -> dict[str, Any]:
        t = self.torch
        return {
            "dtype": "float64",
            "num_threads": t.get_num_threads(),
            "num_interop_threads": t.get_num_interop_threads(),
        }

    def namespace(self) -> Namespace:
        torch = self.torch
        return Namespace(
            "torch",
            lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64),
            torch.sum,
            torch.mean,
            torch.tanh,
            torch.reshape,
            lambda v: torch.logsumexp(v, dim=0),
        )

    def prepare(
        self, form: Form, f: Callable[[Any], Any], x: Any, kind: str, mode: str, limit: float | None = None
    ) -> Prepared:
        self.check_mode(mode)
        torch = self.torch
        n = len(x)

        def as_numpy(g: Any) -> np.ndarray:
            if isinstance(g, (tuple, list)):
                cols = [t.detach().numpy() for t in g]
                return np.array([float(c) for c in cols]) if kind == GRADIENT else np.stack(cols, axis=-1)
            return g.detach().numpy().astype(np.float64, copy=False)

        if form.scalar_list:
            xs = [torch.tensor(v, dtype=torch.float64) for v in x]
            leaves = [t.clone().requires_grad_(True) for t in xs]
            g = lambda *v: f(list(v))  # the function of n scalar arguments torch.func differentiates
            argnums = tuple(range(n))
            zero, one = torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64)

            def direction(i: int) -> tuple[Any, ...]:
                t = [zero] * n
                t[i] = one
                return tuple(t)

            if mode == FUNCTION:
                return Prepared(lambda: f(xs), as_numpy)
            if mode == REVERSE:
                if kind == GRADIENT:
                    return Prepared(lambda: torch.autograd.grad(f(leaves), leaves), as_numpy, passes=1)
                return Prepared(lambda: torch.func.jacrev(g, argnums=argnums)(*xs), as_numpy, passes=1)
            if mode == FORWARD_CHUNKED:
                return Prepared(
                    lambda: torch.func.jacfwd(g, argnums=argnums)(*xs), as_numpy, chunk=n, passes=1
                )
            primals = tuple(xs)
            return Prepared(
                lambda: [torch.func.jvp(g, primals, direction(i))[1] for i in range(n)],
                lambda cols: stack_columns([c.detach().numpy() for c in cols], kind),
                chunk=1,
                passes=n,
            )

        xt = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        leaf = xt.clone().requires_grad_(True)

        def direction_a(i: int) -> Any:
            t = torch.zeros(n, dtype=torch.float64)
            t[i] = 1.0
            return t

        if mode == FUNCTION:
            return Prepared(lambda: f(xt), as_numpy)
        if mode == REVERSE:
            if kind == GRADIENT:
                return Prepared(lambda: torch.autograd.grad(f(leaf), leaf)[0], as_numpy, passes=1)
            return Prepared(lambda: torch.func.jacrev(f)(xt), as_numpy, passes=1)
        if mode == FORWARD_CHUNKED:
            return Prepared(lambda: torch.func.jacfwd(f)(xt), as_numpy, chunk=n, passes=1)
        return Prepared(
            lambda: [torch.func.jvp(f, (xt,), (direction_a(i),))[1] for i in range(n)],
            lambda cols: stack_columns([c.detach().numpy() for c in cols], kind),
            chunk=1,
            passes=n,
        )
