"""How many directions one forward pass carries (the chunk), and the cost model behind the default.

Both engines take their chunk from here, so a Jacobian's columns (forward) and rows (reverse,
vector mode) are grouped by the same rule.

The cost model of this engine (measured with ``python -m experiments.engine_speed``): a pass costs
``ops * (a + b * c * s)`` for ``ops`` primitive applications whose values have ``s`` entries,
where ``a`` (the per-operation overhead of Python and of one NumPy call, about a microsecond)
dwarfs ``b`` (a nanosecond or less per tangent entry). A gradient of ``n`` inputs takes
``ceil(n / c)`` passes, so the time ``ceil(n / c) * ops * (a + b c s)`` falls as ``c`` grows until
the per-entry term matters: one pass (``c = n``) is best while the tangent arrays stay small.
ForwardDiff.jl's cap of 12 suits its stack-allocated duals, not NumPy tangents: here it was 5.7x
slower than the best chunk for list Rosenbrock at n = 100 (default 12, best 100) and 4.3x for
array Rosenbrock at n = 1000 (best 250).

So the default is ``c = n``, capped twice:

* speed: one tangent array (``c`` directions of a value with ``s`` entries) at most
  :data:`TANGENT_BYTES`; past it every operation streams its tangent through memory instead of
  cache, and the sweep at n = 1000 (array Rosenbrock, s = n) turned upwards after c ~ 250;
* memory: the input's tangents together (``n * c`` entries, list or array) at most
  :data:`TANGENTS_BYTES`, so a 10^4-input list does not seed 800 MB of unit vectors.

When capped, the passes are balanced (ForwardDiff's leftover rule: ``n = 1000`` with a cap of 262
gives four passes of 250, not 262 + 262 + 262 + 214).
"""

from __future__ import annotations

import numpy as np

#: ForwardDiff.jl's default cap (kept for reference and comparisons; no longer this engine's rule).
CHUNK_THRESHOLD = 12

#: Bytes one tangent array may take before a pass becomes memory-bound (c * s * 8).
TANGENT_BYTES = 2 * 2**20

#: Bytes all of the input's tangents may take together (n * c * 8).
TANGENTS_BYTES = 64 * 2**20


def choose_chunk(n: int, chunk: int | None = None, *, elements: int = 1) -> int:
    """Directions per pass: the cost-model default (module docstring), else ``chunk`` clamped to ``n``.

    ``elements`` is the number of entries of one input value: 1 for a list of floats (one graph
    node per input), ``n`` for one array. Never less than 1, also for ``n = 0`` (an empty input
    still takes one pass to compute the value).
    """
    if chunk is None:
        cap = max(1, min(TANGENT_BYTES // (8 * max(elements, 1)), TANGENTS_BYTES // (8 * max(n, 1))))
        if n <= cap:
            return max(n, 1)
        passes = -(-n // cap)
        return -(-n // passes)
    if isinstance(chunk, (bool, np.bool_)) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    return max(min(int(chunk), n), 1)
