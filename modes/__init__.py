"""compare-modes: forward-mode and reverse-mode automatic differentiation, side by side.

Write a function once with Python operators and :mod:`modes.ops`; differentiate it with
``mode="forward"`` (dual numbers) or ``mode="reverse"`` (a tape swept backwards)::

    import modes
    f = lambda v: (v[0] + v[1]) * (v[1] + v[2])
    modes.grad(f, [-1.0, 3.0, 4.0])                  # array([7., 9., 2.])
    modes.grad(f, [-1.0, 3.0, 4.0], mode="forward")  # the same, in three passes
    c = modes.compile(f, [-1.0, 3.0, 4.0])           # record once ...
    c.grad([0.5, 1.0, 2.0])                          # ... replay at new points (branches guarded)
"""

from modes import ops
from modes.api import grad, jacobian, jvp, value_and_grad, vjp
from modes.check import CheckReport, GradientCheckError, check_grads, finite_difference_jacobian, step_sweep
from modes.checkpoint import CheckpointError, checkpoint, loop
from modes.core import MissingRuleError, MixedTraceError, ModesError, Primitive
from modes.explain import Explanation, explain
from modes.expression import ExpressionError
from modes.forward import CHUNK_THRESHOLD, choose_chunk, tangent
from modes.guard import BranchChangedError, primal
from modes.hessian import hessian, hvp
from modes.replay import Compiled, compile  # noqa: A004 - modes.compile, as issue 13 names it
from modes.reverse import Recording, Tape, record
from modes.rules import PRIMITIVES
from modes.stats import Stats, counting

__version__ = "0.1.0"

__all__ = [
    "Explanation",
    "ExpressionError",
    "explain",
    "CheckReport",
    "CheckpointError",
    "checkpoint",
    "loop",
    "GradientCheckError",
    "Primitive",
    "check_grads",
    "finite_difference_jacobian",
    "hessian",
    "hvp",
    "step_sweep",
    "BranchChangedError",
    "CHUNK_THRESHOLD",
    "Compiled",
    "MissingRuleError",
    "MixedTraceError",
    "ModesError",
    "PRIMITIVES",
    "Recording",
    "Stats",
    "Tape",
    "choose_chunk",
    "compile",
    "counting",
    "grad",
    "jacobian",
    "jvp",
    "ops",
    "primal",
    "record",
    "tangent",
    "value_and_grad",
    "vjp",
]
