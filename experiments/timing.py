"""Wall-clock timing of kernels (zero-argument callables), done the way the design notes ask.

* the loop count per sample comes from :meth:`timeit.Timer.autorange` (at least 0.2 s a sample);
* a kernel is warmed up before it is timed (the caller's verification call is its warm-up),
  except a call long enough to need none (``experiments.budget.LONG_CALL_S``): its verification
  call, timed like a sample by :func:`timed_call`, is then its first sample (``Plan.samples``);
* the repeats of the kernels being compared are interleaved, round by round, so both halves of
  a ratio see the same machine; the order rotates each round;
* ``gc.collect()`` runs before every sample, outside the timed region (``timeit`` turns the
  collector off while it times);
* every raw sample is kept (seconds per call); summaries are the median and interquartile range
  (the IQR, and the quartiles, are None below :data:`IQR_MIN_SAMPLES` samples: one number has no
  spread, and the "quartiles" of two are only interpolations between them).

A call can be given a time limit: on POSIX, in the main thread, a ``SIGALRM`` interrupts it with
:class:`TimeLimitExceeded`, so a hopeless call cannot hang a run.
"""

from __future__ import annotations

import gc
import math
import signal
import threading
import time
import timeit
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: ``timeit.Timer.autorange`` grows the loop count until one sample takes at least this long.
AUTORANGE_S = 0.2

Kernel = Callable[[], Any]


class TimeLimitExceeded(BaseException):
    """A timed call ran past its limit and was interrupted (a BaseException: user code's
    ``except Exception`` does not swallow it)."""


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with :class:`TimeLimitExceeded` after ``seconds`` (no-op if None or
    where alarms are unavailable)."""
    if seconds is None or not math.isfinite(seconds) or not _can_alarm():
        yield
        return

    def _expired(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded(f"did not finish within {seconds:.3g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed_call(fn: Kernel, limit: float | None = None) -> tuple[float, Any]:
    """One call of ``fn`` after a ``gc.collect()``, the collector off as under ``timeit``:
    (seconds, what it returned)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        with time_limit(limit):
            start = time.perf_counter()
            out = fn()
            elapsed = time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed, out


def probe_time(fn: Kernel, limit: float | None = None, again_below: float = 0.25) -> float:
    """Seconds per call, measured cheaply for predictions: one call; a call under ``again_below``
    once more, the faster kept; a call under a millisecond in ``timeit`` batches of about a
    millisecond, the fastest of three kept."""
    t, _ = timed_call(fn, limit)
    if t < 1e-3:
        number = max(1, math.ceil(1e-3 / max(t, 1e-7)))
        with time_limit(limit):
            return min(timeit.Timer(fn).repeat(3, number)) / number
    if t < again_below:
        t = min(t, timed_call(fn, limit)[0])
    return t


def loops_for(fn: Kernel, first_call_s: float, limit: float | None = None) -> tuple[int, float]:
    """Calls per sample by ``timeit``'s autorange, and the seconds per call it saw. A call that
    already took ``AUTORANGE_S`` gives 1 without calling again (autorange's own first step would
    time that one call and stop there)."""
    if first_call_s >= AUTORANGE_S:
        return 1, first_call_s
    with time_limit(limit):
        number, total = timeit.Timer(fn).autorange()
    return number, total / number


#: Fewer samples than this have no quartiles: the 25th and 75th percentiles of two numbers are
#: points on the line between them, not a measured spread.
IQR_MIN_SAMPLES = 3


@dataclass
class Summary:
    """Median and quartiles of a list of per-call samples (seconds); below
    :data:`IQR_MIN_SAMPLES` samples the quartiles and the IQR are None (not 0, and not an
    interpolation: one or two samples say nothing reliable about the spread)."""

    median: float
    q1: float | None
    q3: float | None

    @property
    def iqr(self) -> float | None:
        return None if self.q1 is None or self.q3 is None else self.q3 - self.q1

    @classmethod
    def of(cls, samples: list[float]) -> Summary:
        if len(samples) < IQR_MIN_SAMPLES:
            return cls(float(np.median(np.asarray(samples, dtype=float))), None, None)
        q1, med, q3 = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
        return cls(float(med), float(q1), float(q3))


@dataclass
class Plan:
    """How to time one kernel: ``loops`` calls per sample, up to ``repeats`` samples, spending at
    most ``allowance`` seconds of its own sampling time (other kernels' samples do not count).
    ``samples`` may start with a sample taken before (a long call's verification call), which
    counts towards ``repeats`` but not towards ``allowance``."""

    fn: Kernel
    loops: int
    repeats: int
    call_s: float
    allowance: float = float("inf")
    samples: list[float] = field(default_factory=list)
    spent: float = 0.0
    stopped: str | None = None
    error: Exception | None = None  # what a sample raised (the kernel is then stopped)

    @property
    def done(self) -> bool:
        return self.stopped is not None or len(self.samples) >= self.repeats


def interleave(plans: dict[str, Plan], on_round: Callable[[int], None] | None = None) -> dict[str, Plan]:
    """Time every plan's samples in rounds: each round takes one sample of each unfinished kernel,
    the order rotating each round. A kernel whose next sample would overspend its ``allowance``
    stops (``plan.stopped`` says why); a sample that overruns it badly is interrupted and dropped,
    and a kernel whose sample raises stops there (``plan.error``) while the others go on."""
    names = list(plans)
    rnd = 0
    while not all(plans[k].done for k in names):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            plan = plans[name]
            if plan.done:
                continue
            left = plan.allowance - plan.spent
            expected = plan.call_s * plan.loops
            if expected > left:
                plan.stopped = f"budget reached after {len(plan.samples)} of {plan.repeats} samples"
                continue
            gc.collect()
            timer = timeit.Timer(plan.fn)
            start = time.perf_counter()
            try:
                with time_limit(max(left, 2 * expected)):
                    total = timer.timeit(plan.loops)
            except TimeLimitExceeded:
                plan.spent += time.perf_counter() - start
                plan.stopped = f"a sample overran the budget after {len(plan.samples)} samples"
                continue
            except Exception as e:  # the other kernels go on; the caller reports this one
                plan.error = e
                plan.stopped = f"a sample raised an error after {len(plan.samples)} samples"
                continue
            plan.spent += time.perf_counter() - start
            plan.samples.append(total / plan.loops)
        rnd += 1
        if on_round is not None:
            on_round(rnd)
    return plans


def medians(kernels: dict[str, Kernel], rounds: int) -> dict[str, float]:
    """Median seconds per call of each kernel: a loop count each by autorange, then ``rounds``
    samples each, interleaved (:func:`interleave`), with no budget."""
    plans = {}
    for name, fn in kernels.items():
        loops, call_s = loops_for(fn, 0.0)
        plans[name] = Plan(fn, loops, rounds, call_s)
    interleave(plans)
    return {name: Summary.of(plan.samples).median for name, plan in plans.items()}
