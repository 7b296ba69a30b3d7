"""Run-to-run noise of ``pytest tests/benchmarks`` on one machine, from two saved runs of the same
commit, and the ``--benchmark-compare-fail`` threshold that would have passed them.

    pytest tests/benchmarks --benchmark-only --benchmark-save=same1   # twice, same commit
    pytest tests/benchmarks --benchmark-only --benchmark-save=same2
    python -m experiments.bench_noise .benchmarks/*/0001_same1.json .benchmarks/*/0002_same2.json

For each statistic (``min``, ``median``, ``mean``) it prints how far the two runs' values of every
benchmark were apart (larger / smaller - 1: an unchanged tree may come out slower in either run),
the median, 90th percentile and largest of those differences, the same split by call length (a
call long enough to be preempted suffers most from other load), the benchmarks farthest apart,
and a threshold: the largest difference times :data:`MARGIN`, rounded up. A regression check
with a smaller threshold would have failed on this unchanged tree.

It reads JSON only (the files ``--benchmark-save`` or ``--benchmark-json`` write).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Statistics pytest-benchmark can compare with ``--benchmark-compare-fail=STAT:T%``.
STATS = ("min", "median", "mean")
#: The suggested threshold is the largest same-commit difference times this, rounded up to 5%.
MARGIN = 1.5
#: Call lengths (seconds, by the first run's median) the report splits the differences by.
BANDS = (
    (0.0, 1e-3, "calls under 1 ms"),
    (1e-3, 1e-2, "calls of 1 to 10 ms"),
    (1e-2, math.inf, "calls of 10 ms or more"),
)


class NoiseError(Exception):
    """The files cannot be compared (unreadable, or no benchmark in common)."""


@dataclass(frozen=True)
class Spread:
    """How far apart two runs' values of one statistic were, over the benchmarks in both."""

    stat: str
    diffs: dict[str, float]  # benchmark name -> larger / smaller - 1

    @property
    def median(self) -> float:
        return statistics.median(self.diffs.values())

    @property
    def p90(self) -> float:
        v = sorted(self.diffs.values())
        return v[min(len(v) - 1, math.ceil(0.9 * len(v)) - 1)]

    @property
    def largest(self) -> float:
        return max(self.diffs.values())

    def threshold(self) -> int:
        """Percent: the largest difference times :data:`MARGIN`, rounded up to a multiple of 5."""
        return max(5, 5 * math.ceil(100 * MARGIN * self.largest / 5))

    def worst(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.diffs.items(), key=lambda t: -t[1])[:k]


def load(path: str | Path) -> dict[str, dict[str, float]]:
    """Benchmark name -> its stats, from a pytest-benchmark JSON file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {b["fullname"]: b["stats"] for b in raw["benchmarks"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NoiseError(f"cannot read '{path}' as a pytest-benchmark JSON file: {e}") from None


def spread(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]], stat: str, band=None) -> Spread:
    """The differences of ``stat`` between runs ``a`` and ``b`` (``band``: only benchmarks whose
    median call in ``a`` lies in ``[lo, hi)`` seconds)."""
    diffs = {}
    for name in a.keys() & b.keys():
        x, y = a[name].get(stat), b[name].get(stat)
        if not x or not y or x <= 0 or y <= 0:
            continue
        if band is not None and not band[0] <= a[name]["median"] < band[1]:
            continue
        diffs[name] = max(x, y) / min(x, y) - 1
    return Spread(stat, diffs)


def report(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> list[str]:
    """The lines :func:`main` prints."""
    common = a.keys() & b.keys()
    if not common:
        raise NoiseError("the two files have no benchmark in common")
    lines = [f"{len(common)} benchmarks in both runs; difference = larger / smaller - 1, per benchmark"]
    for stat in STATS:
        s = spread(a, b, stat)
        if not s.diffs:
            continue
        lines.append(
            f"{stat}: median {s.median:.0%}, 90th percentile {s.p90:.0%}, largest {s.largest:.0%}"
            f" -> --benchmark-compare-fail={stat}:{s.threshold()}% would have passed"
        )
        for lo, hi, label in BANDS:
            part = spread(a, b, stat, (lo, hi))
            if part.diffs:
                lines.append(
                    f"    {label} ({len(part.diffs)}): median {part.median:.0%}, largest {part.largest:.0%}"
                )
        lines.append("    farthest apart: " + ", ".join(f"{_short(n)} {d:.0%}" for n, d in s.worst()))
    return lines


def _short(name: str) -> str:
    return name.split("[", 1)[1].rstrip("]") if "[" in name else name


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m experiments.bench_noise",
        description="Run-to-run noise between two saved pytest-benchmark runs of the same commit.",
    )
    p.add_argument(
        "first", type=Path, help="a pytest-benchmark JSON file (--benchmark-save or --benchmark-json)"
    )
    p.add_argument("second", type=Path, help="another run of the same commit")
    ns = p.parse_args(argv)
    try:
        lines = report(load(ns.first), load(ns.second))
    except NoiseError as e:
        print(f"bench_noise: error: {e}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
