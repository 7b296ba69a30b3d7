"""The problem catalogue: one list of test functions shared by the tests, benchmarks, CLI and reports.

A :class:`Problem` names a function family and knows which input counts ``n`` it accepts; its
builder returns an :class:`Instance` (the function written in the expression API, its input, and a
reference derivative where one can be derived in closed form) for a given ``n`` and seed.

Gradient problems (``R^n -> R``) are timed as gradients, Jacobian problems (``R^n -> R^m``) as
Jacobians. A user adds their own with ``--problem path/to/file.py:function``, where ``function``
is either the function itself, taking one array (as perfplot's kernels take ``setup(n)``'s)::

    def f(x):
        '''One-line description (shown by --list-problems).'''
        return ops.sum(ops.sin(x) ** 2)

whose input is drawn for each n as :func:`draw_input` says (``x`` of n standard-normal entries
from ``numpy.random.default_rng(seed)``: the same for a given n and ``--seed``), or a builder,
for full control of the input and a reference derivative::

    def build(n: int, seed: int):
        '''One-line description (shown by --list-problems).'''
        ...
        return f, x               # or (f, x, reference): reference is the exact derivative at x

They are told apart by the parameters without a default: one is a function, two a builder.
``x`` is a list of floats (one graph node per input) or a NumPy array (one engine array); the
``n`` actually used is the size of ``x``. ``f`` returning a scalar makes a gradient problem,
returning an array a Jacobian problem (``reference`` then has shape ``f(x).shape + x.shape``).
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from experiments import adbench
from modes import ops
from modes.examples import ARTICLE_GRADIENT, ARTICLE_POINT, article

GRADIENT = "gradient"
JACOBIAN = "jacobian"
DEFAULT_PROBLEM = "rosenbrock"


class ProblemError(Exception):
    """A problem that cannot be built or found; ``usage`` says whether the user asked for it wrongly."""

    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Instance:
    """One built problem: ``f``, its input ``x`` (``n`` inputs, ``m`` outputs) and a reference."""

    f: Callable[[Any], Any]
    x: Any
    n: int
    m: int
    kind: str
    reference: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: f written in plain NumPy, where the problem has one: the baseline speed ratios are taken
    #: against (``f`` on a NumPy array still goes through ``modes.ops``' dispatch).
    plain: Callable[[Any], Any] | None = None


Builder = Callable[[int, int, "int | None", Mapping[str, Any]], Instance]


@dataclass(frozen=True)
class Problem:
    """A family of functions indexed by the input count ``n``.

    ``min_n``/``fixed_n`` say which ``n`` the builder accepts; a builder may round ``n`` to the
    nearest size it can make (the instance reports the ``n`` used). ``footprint(n, m)``
    is a lower bound on the bytes the instance's inputs and data take, checked before building.
    ``options`` are ``NAME:key=value`` settings the builder understands, with their defaults.
    """

    name: str
    description: str
    kind: str
    sizes: str
    build_fn: Builder
    min_n: int = 1
    fixed_n: int | None = None
    footprint: Callable[[int, int], int] = lambda n, m: 8 * n
    #: what a user builder's size means, as it names its first parameter (``build(steps, seed)``:
    #: "steps"); None when it is the input count or unnamed (``n``, ``size``). Reports label a
    #: ``--sizes`` run's size axis with it.
    size_name: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    default_outputs: Callable[[int], int] | None = None

    def size_error(self, n: int) -> str | None:
        """Why ``n`` is not an accepted input count, or None if it is."""
        if self.fixed_n is not None and n != self.fixed_n:
            why = "" if self.sizes.startswith("n =") else f" ({self.sizes})"
            return f"problem '{self.name}' takes n = {self.fixed_n} only{why}, not n = {n}"
        if n < self.min_n:
            return f"problem '{self.name}' needs n >= {self.min_n} ({self.sizes}), got n = {n}"
        return None

    def outputs_for(self, n: int, outputs: int | None) -> int | None:
        """The output count to build with: ``outputs`` if given, else the problem's default."""
        if self.kind != JACOBIAN:
            return None
        if outputs is not None:
            return outputs
        return self.default_outputs(n) if self.default_outputs else None

    def build(
        self, n: int, seed: int = 0, outputs: int | None = None, options: Mapping[str, Any] | None = None
    ) -> Instance:
        """The instance of size ``n`` (raises :class:`ProblemError` if ``n`` is not accepted)."""
        why = self.size_error(n)
        if why:
            raise ProblemError(why)
        return self.build_fn(n, seed, self.outputs_for(n, outputs), {**self.options, **(options or {})})


# ----------------------------------------------------------------------------- the functions


def rosenbrock(v: list) -> Any:
    """Rosenbrock's function as a scalar Python loop: one graph node per input and operation."""
    total = 0.0
    for i in range(len(v) - 1):
        total = total + 100.0 * (v[i + 1] - v[i] ** 2) ** 2 + (1.0 - v[i]) ** 2
    return total


def rosenbrock_array(x: Any) -> Any:
    """Rosenbrock's function written with array operations: a handful of graph nodes for any n."""
    a, b = x[:-1], x[1:]
    return ops.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)


def rosenbrock_gradient(x: np.ndarray) -> np.ndarray:
    """The closed-form gradient of Rosenbrock's function."""
    a, b = x[:-1], x[1:]
    g = np.zeros_like(x)
    g[:-1] = -400.0 * a * (b - a * a) - 2.0 * (1.0 - a)
    g[1:] += 200.0 * (b - a * a)
    return g


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


# ------------------------------------------------------------------------------- builders


def _build_article(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    return Instance(article, list(ARTICLE_POINT), 3, 1, GRADIENT, np.array(ARTICLE_GRADIENT))


def _rosenbrock_point(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=n)


def _build_rosenbrock(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    x = _rosenbrock_point(n, seed)
    return Instance(rosenbrock, [float(v) for v in x], n, 1, GRADIENT, rosenbrock_gradient(x))


def _build_rosenbrock_array(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    x = _rosenbrock_point(n, seed)
    return Instance(rosenbrock_array, x, n, 1, GRADIENT, rosenbrock_gradient(x))


MLP_FEATURES = 8
MLP_BATCH = 64


def mlp_hidden(n: int, features: int = MLP_FEATURES) -> int:
    """Hidden units whose parameter count ``h (features + 2) + 1`` is closest to ``n`` (at least 1)."""
    return max(1, round((n - 1) / (features + 2)))


def _build_mlp(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    return mlp_instance(n, seed)


def mlp_instance(n: int, seed: int = 0, features: int = MLP_FEATURES, batch: int = MLP_BATCH) -> Instance:
    """The mlp problem with about ``n`` parameters; ``features`` and ``batch`` size its data (the
    catalogue's are small, ``experiments.engine_speed`` times a wider one on a larger batch)."""
    d = features
    h = mlp_hidden(n, d)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(batch, d))
    y = np.sin(X.sum(axis=1))
    params = np.concatenate(
        [
            rng.normal(size=h * d) / math.sqrt(d),
            rng.normal(size=h) * 0.1,
            rng.normal(size=h) / math.sqrt(h),
            rng.normal(size=1) * 0.1,
        ]
    )

    def loss(p: Any) -> Any:
        """Mean squared error of a one-hidden-layer tanh network on a fixed batch."""
        W1 = ops.reshape(p[0 : d * h], (d, h))
        b1, w2, b2 = p[d * h : d * h + h], p[d * h + h : d * h + 2 * h], p[-1]
        r = ops.tanh(X @ W1 + b1) @ w2 + b2 - y
        return ops.sum(r * r) / batch

    W1, b1 = params[: d * h].reshape(d, h), params[d * h : d * h + h]
    w2, b2 = params[d * h + h : d * h + 2 * h], params[-1]
    hidden = np.tanh(X @ W1 + b1)
    dpred = 2.0 * (hidden @ w2 + b2 - y) / batch
    dz = np.outer(dpred, w2) * (1.0 - hidden**2)
    ref = np.concatenate([(X.T @ dz).ravel(), dz.sum(axis=0), hidden.T @ dpred, [dpred.sum()]])

    def loss_np(p: np.ndarray) -> float:
        """The same loss in plain NumPy."""
        r = np.tanh(X @ p[: d * h].reshape(d, h) + p[d * h : d * h + h]) @ p[d * h + h : d * h + 2 * h]
        r = r + p[-1] - y
        return float(np.sum(r * r) / batch)

    details = {"features": d, "hidden": h, "batch": batch}
    return Instance(loss, params, params.size, 1, GRADIENT, ref, details, plain=loss_np)


def _build_logsumexp(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    x = np.random.default_rng(seed).normal(size=n)
    return Instance(ops.logsumexp, x, n, 1, GRADIENT, _softmax(x))


GMM_POINTS = 1000
GMM_DIMENSIONS = (2, 10, 20, 32, 64, 128)  # ADBench's D values


def gmm_params_count(d: int, k: int) -> int:
    """Parameters of a GMM with ``k`` components in ``d`` dimensions: K(1 + D + D(D+1)/2)."""
    return k * (1 + d + d * (d + 1) // 2)


def gmm_shape(n: int, d: int | None = None) -> tuple[int, int]:
    """(D, K) whose parameter count is closest to ``n``; D from ADBench's values unless given."""
    best: tuple[int, int, int] | None = None
    for dim in (d,) if d else GMM_DIMENSIONS:
        per = gmm_params_count(dim, 1)
        k = max(1, round(n / per))
        err = abs(k * per - n)
        if best is None or err < best[0]:
            best = (err, dim, k)
    assert best is not None
    return best[1], best[2]


def _build_gmm(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    if opts.get("file"):
        path = _gmm_data_path(str(opts["file"]))
        data = adbench.read_gmm(path)
        source = str(path.name)
    else:
        d, k = gmm_shape(n, int(opts["D"]) if opts.get("D") else None)
        data = adbench.synthetic_gmm(d, k, int(opts["N"]), seed=seed)
        source = "synthetic"
    x = adbench.gmm_params(data)
    details = {"D": data.D, "K": data.K, "N": data.N, "data": source}
    return Instance(lambda p: adbench.gmm_objective(p, data), x, int(x.size), 1, GRADIENT, None, details)


def _gmm_footprint(n: int, m: int) -> int:
    d, k = gmm_shape(n)
    return 8 * GMM_POINTS * k * d * d * 4


TALL_RATIO = 10


def _build_tall(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
    m = m if m is not None else TALL_RATIO * n
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n)) / math.sqrt(n)
    b = rng.normal(size=m)
    x = rng.normal(size=n)

    def tall(v: Any) -> Any:
        """y = tanh(A v + b): n inputs, m outputs."""
        return ops.tanh(A @ v + b)

    J = (1.0 - np.tanh(A @ x + b) ** 2)[:, None] * A
    return Instance(tall, x, n, m, JACOBIAN, J, {"outputs": m})


CATALOGUE: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem(
            "article",
            "the article's f = (a+b)(b+c) at (a, b, c) = (-1, 3, 4)",
            GRADIENT,
            "n = 3 only",
            _build_article,
            min_n=3,
            fixed_n=3,
        ),
        Problem(
            "rosenbrock",
            "Rosenbrock's function as a scalar Python loop (one graph node per input)",
            GRADIENT,
            "any n >= 2",
            _build_rosenbrock,
            min_n=2,
            footprint=lambda n, m: 32 * n,
        ),
        Problem(
            "rosenbrock-array",
            "Rosenbrock's function written with array operations",
            GRADIENT,
            "any n >= 2",
            _build_rosenbrock_array,
            min_n=2,
        ),
        Problem(
            "mlp",
            f"squared-error loss of a one-hidden-layer tanh network ({MLP_FEATURES} features, "
            f"batch {MLP_BATCH}); n = its parameter count",
            GRADIENT,
            f"any n >= 1, rounded to h*{MLP_FEATURES + 2}+1",
            _build_mlp,
        ),
        Problem(
            "logsumexp",
            "log-sum-exp of n inputs; its gradient is the softmax",
            GRADIENT,
            "any n >= 1",
            _build_logsumexp,
        ),
        Problem(
            "gmm",
            f"ADBench's Gaussian mixture objective ({GMM_POINTS} points); n = K(1+D+D(D+1)/2); "
            "options gmm:D=10, gmm:N=2000, gmm:file=gmm_1k_d2_K5.txt",
            GRADIENT,
            "any n >= 1, rounded to a (D, K) size",
            _build_gmm,
            footprint=_gmm_footprint,
            options={"D": None, "N": GMM_POINTS, "file": None},
        ),
        Problem(
            "tall",
            f"y = tanh(A x + b) from n inputs to m = {TALL_RATIO}n outputs (or --outputs M): "
            "a Jacobian where forward mode wins",
            JACOBIAN,
            "any n >= 1",
            _build_tall,
            footprint=lambda n, m: 8 * n * m * 3,
            default_outputs=lambda n: TALL_RATIO * n,
        ),
    )
}


def parse_options(text: str, problem: Problem) -> dict[str, Any]:
    """``key=value,key=value`` settings for ``problem`` (values that look like integers become int)."""
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not value:
            raise ProblemError(f"problem option '{item}' is not of the form key=value")
        if key not in problem.options:
            allowed = ", ".join(problem.options) or "none"
            raise ProblemError(f"problem '{problem.name}' has no option '{key}' (options: {allowed})")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
        if isinstance(out[key], int) and out[key] < 1:
            raise ProblemError(f"problem option {key} must be a positive integer, got {value}")
    return out


def get_problem(spec: str) -> tuple[Problem, dict[str, Any]]:
    """The problem named by ``spec``: a catalogue name (``NAME`` or ``NAME:key=value,...``) or a
    user file ``path/to/file.py:function``; returns the problem and its options."""
    path, colon, rest = spec.rpartition(":") if ".py:" in spec else (spec, "", "")
    if colon and path.endswith(".py"):
        return load_user_problem(path, rest), {}
    if spec.endswith(".py"):
        raise ProblemError(f"a problem file needs a function name: --problem {spec}:FUNCTION")
    name, _, opts = spec.partition(":")
    if name not in CATALOGUE:
        raise ProblemError(
            f"unknown problem '{name}'; known problems: {', '.join(CATALOGUE)} "
            "(or path/to/file.py:function for your own)"
        )
    problem = CATALOGUE[name]
    options = parse_options(opts, problem)
    if problem.name == "gmm" and options.get("file"):
        problem = _gmm_file_problem(problem, str(options["file"]))
    return problem, options


def _gmm_data_path(file: str) -> Path:
    path = Path(file).expanduser()
    if not path.exists():
        path = adbench.DATA_DIR / file
    if not path.is_file():
        known = sorted(p.name for p in adbench.DATA_DIR.glob("gmm_*.txt"))
        raise ProblemError(f"gmm data file '{file}' not found (shipped files: {', '.join(known)})")
    return path


def _gmm_file_problem(problem: Problem, file: str) -> Problem:
    """The gmm problem fixed to an ADBench data file: n is that file's parameter count."""
    path = _gmm_data_path(file)
    try:
        d, k, _ = (int(t) for t in path.read_text().split()[:3])
    except ValueError:
        raise ProblemError(f"gmm data file '{file}' does not start with 'D K N'") from None
    n = gmm_params_count(d, k)
    return replace(
        problem, fixed_n=n, min_n=n, sizes=f"the parameter count of {path.name}", footprint=lambda n, m: 8 * n
    )


# --------------------------------------------------------------------------- user problems


def _user_error(path: Path, what: str, exc: BaseException) -> ProblemError:
    """The user's own error message and the line of their file it came from (not our traceback)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    where = f" (line {frames[-1].lineno} of {path.name})" if frames else ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f" (line {exc.lineno} of {path.name})"
    return ProblemError(f"{what}: {type(exc).__name__}: {exc}{where}", usage=False)


def load_user_problem(file: str, function: str) -> Problem:
    """A :class:`Problem` from a user's builder ``function`` in ``file`` (see the module docstring)."""
    path = Path(file).expanduser()
    if not path.is_file():
        raise ProblemError(
            f"problem file '{file}' does not exist"
            if not path.exists()
            else f"problem file '{file}' is not a file"
        )
    if not function.isidentifier():
        raise ProblemError(f"'{function}' is not a function name (use --problem {file}:FUNCTION)")
    path = path.resolve()
    module_name = f"compare_modes_user_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ProblemError(f"cannot load problem file '{file}' as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # the file's folder on sys.path while it loads, as pytest does for test files: a problem file
    # can import a helper module beside it without PYTHONPATH=.
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise _user_error(path, f"problem file '{file}' raised an error while loading", e) from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    builder = getattr(module, function, None)
    if not callable(builder):
        found = sorted(
            k for k, v in vars(module).items() if callable(v) and getattr(v, "__module__", "") == module_name
        )
        raise ProblemError(
            f"'{file}' has no function '{function}'"
            + (f" (functions there: {', '.join(found)})" if found else "")
        )
    name = f"{path.name}:{function}"
    takes = _required_arguments(builder)
    if takes not in (1, 2):
        raise ProblemError(
            f"{name} takes {takes if takes is not None else 'an unknown number of'} arguments without "
            "a default: give a function f(x) of one array, or a builder build(n, seed)"
        )
    doc = inspect.getdoc(builder) or ""
    summary = " ".join(doc.split("\n\n")[0].split())  # the docstring's first paragraph

    if takes == 1:

        def draw(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
            return _user_instance((builder, draw_input(n, seed)), name, path)

        description = summary or f"{function}(x) from {path.name}"
        return Problem(name, description, "user", "any n >= 1; x drawn: n standard-normal entries", draw)

    def build(n: int, seed: int, m: int | None, opts: Mapping[str, Any]) -> Instance:
        try:
            made = builder(n, seed)
        except Exception as e:
            raise _user_error(path, f"{name}({n}, {seed}) raised an error", e) from None
        return _user_instance(made, name, path)

    description = summary or f"user problem {function} from {path.name}"
    return Problem(name, description, "user", BUILDER_SIZES, build, size_name=_size_name(builder))


#: A user builder's ``sizes``: it decides what its first argument means (--inputs or --sizes).
BUILDER_SIZES = "decided by the builder"


def draw_input(n: int, seed: int) -> np.ndarray:
    """The input a plain function ``f(x)`` is timed at for size n: n entries drawn from the
    standard normal distribution by ``numpy.random.default_rng(seed)`` (a 1-D float64 array, the
    same for the same n and seed)."""
    return np.random.default_rng(seed).standard_normal(n)


#: A builder's first parameter named so says nothing about what its size means.
UNNAMED_SIZES = ("n", "size", "s")


def _size_name(builder: Callable[..., Any]) -> str | None:
    """The name of a builder's first parameter (its size: ``steps``, ``batch``), None when it is
    a generic one (:data:`UNNAMED_SIZES`) or cannot be read."""
    try:
        params = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError):
        return None
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        return None
    name = params[0].name.strip("_").replace("_", " ")
    return None if not name or name.lower() in UNNAMED_SIZES else name


def _required_arguments(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` needs (those without a default); None if unknown."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional and p.default is inspect.Parameter.empty for p in params)


def _user_instance(made: Any, name: str, path: Path) -> Instance:
    """Check what a user builder returned and turn it into an :class:`Instance`."""
    if not isinstance(made, tuple) or len(made) not in (2, 3) or not callable(made[0]):
        raise ProblemError(
            f"{name} must return (f, x) or (f, x, reference), got {type(made).__name__}", usage=False
        )
    f, x = made[0], made[1]
    ref = made[2] if len(made) == 3 else None
    try:
        plain = np.asarray(x, dtype=float)
        y = f(x)
    except Exception as e:
        raise _user_error(path, f"{name}: f(x) raised an error", e) from None
    if plain.ndim != 1 or plain.size == 0:
        raise ProblemError(
            f"{name}: x must be a non-empty list of floats or a 1-D array, got shape {plain.shape}",
            usage=False,
        )
    shape = np.shape(y)
    kind = GRADIENT if shape == () else JACOBIAN
    m = int(np.prod(shape)) if shape else 1
    reference = None if ref is None else np.asarray(ref, dtype=float)
    return Instance(f, x, int(plain.size), m, kind, reference)
