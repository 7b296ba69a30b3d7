"""JAX: ``jax.grad`` / ``jax.jacrev``, n ``jax.jvp`` passes, ``jax.jacfwd``, each also under ``jax.jit``.

float64 through ``jax_enable_x64``; one thread through ``XLA_FLAGS`` (Eigen's thread pool off, one
intra-op thread), which XLA reads when its CPU backend starts, so :meth:`JaxPeer.setup` sets them
before that. Every kernel blocks until its result is ready (JAX dispatches asynchronously). A jit
mode is compiled ahead of time (``jit(g).lower(x).compile()``), timed apart as ``compile_s``; its
kernel calls the compiled executable only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from experiments.environment import package_version
from experiments.peers.base import JIT, Peer, Prepared, compiled, settle, stack_columns
from experiments.peers.forms import Form, Namespace
from experiments.problems import GRADIENT
from experiments.results import FORWARD, FORWARD_CHUNKED, FUNCTION, REVERSE

#: XLA's CPU flags for one thread.
XLA_ONE_THREAD = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")


class JaxPeer(Peer):
    name = "jax"
    module = "jax"
    dist = "jax"
    install = "jax jaxlib"
    modes = (REVERSE, FORWARD, FORWARD_CHUNKED, REVERSE + JIT, FORWARD + JIT, FORWARD_CHUNKED + JIT)

    def setup(self) -> None:
        flags = os.environ.get("XLA_FLAGS", "")
        missing = [f for f in XLA_ONE_THREAD if f.split("=")[0] not in flags]
        if missing:
            os.environ["XLA_FLAGS"] = " ".join([flags, *missing]).strip()
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        import jax

        jax.config.update("jax_enable_x64", True)
        self.jax = jax
        settle()

    def settings(self) -> dict[str, Any]:
        return {
            "jax_enable_x64": bool(self.jax.config.jax_enable_x64),
            "XLA_FLAGS": os.environ.get("XLA_FLAGS"),
            "jaxlib": package_version("jaxlib"),
            "backend": self.jax.default_backend(),
        }

    def namespace(self) -> Namespace:
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp

        return Namespace(
            "jax",
            lambda a: jnp.asarray(a, dtype=jnp.float64),
            jnp.sum,
            jnp.mean,
            jnp.tanh,
            jnp.reshape,
            logsumexp,
        )

    def prepare(
        self, form: Form, f: Callable[[Any], Any], x: Any, kind: str, mode: str, limit: float | None = None
    ) -> Prepared:
        self.check_mode(mode)
        jax = self.jax
        jnp = jax.numpy
        block = jax.block_until_ready
        n = len(x)
        if form.scalar_list:
            xj: Any = [jnp.asarray(v, dtype=jnp.float64) for v in x]
            zero, one = jnp.zeros((), jnp.float64), jnp.ones((), jnp.float64)

            def direction(i: int) -> Any:
                t = [zero] * n
                t[i] = one
                return t

            def as_numpy(g: Any) -> np.ndarray:
                cols = [np.asarray(c, dtype=np.float64) for c in g]
                return np.array([float(c) for c in cols]) if kind == GRADIENT else np.stack(cols, axis=-1)
        else:
            xj = jnp.asarray(x, dtype=jnp.float64)

            def direction(i: int) -> Any:
                e = np.zeros(n)
                e[i] = 1.0
                return jnp.asarray(e)

            def as_numpy(g: Any) -> np.ndarray:
                return np.asarray(g, dtype=np.float64)

        base, jit = (mode[: -len(JIT)], True) if mode.endswith(JIT) else (mode, False)
        if base == FUNCTION:
            run, cs = _compile(jax, f, (xj,), limit) if jit else (f, None)
            return Prepared(lambda: block(run(xj)), lambda v: np.asarray(v, dtype=np.float64), compile_s=cs)
        if base == REVERSE:
            g: Callable[[Any], Any] = jax.grad(f) if kind == GRADIENT else jax.jacrev(f)
            run, cs = _compile(jax, g, (xj,), limit) if jit else (g, None)
            return Prepared(lambda: block(run(xj)), as_numpy, passes=1, compile_s=cs)
        if base == FORWARD_CHUNKED:
            g = jax.jacfwd(f)
            run, cs = _compile(jax, g, (xj,), limit) if jit else (g, None)
            return Prepared(lambda: block(run(xj)), as_numpy, chunk=n, passes=1, compile_s=cs)

        # forward: n JVP passes, one input direction each
        def one_jvp(v: Any, t: Any) -> Any:
            return jax.jvp(f, (v,), (t,))[1]

        jvp, cs = _compile(jax, one_jvp, (xj, direction(0)), limit) if jit else (one_jvp, None)

        def passes() -> list[Any]:
            return block([jvp(xj, direction(i)) for i in range(n)])

        return Prepared(passes, lambda cols: stack_columns(cols, kind), chunk=1, passes=n, compile_s=cs)


def _compile(
    jax: Any, g: Callable[..., Any], args: tuple[Any, ...], limit: float | None
) -> tuple[Callable[..., Any], float]:
    """``jit(g)`` traced and compiled ahead of time for ``args``, and how long that took."""
    return compiled(lambda: jax.jit(g).lower(*args).compile(), limit)
