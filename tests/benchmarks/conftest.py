"""pytest-benchmark settings for the mode benchmarks: the large-sweep option, BLAS pinned to one
thread, and the run's environment (compare-modes' own block) added to the JSON file.
"""

from __future__ import annotations

import pytest

#: ``config.stash`` key: the BLAS/OpenMP thread pools as they were in force while benchmarks ran.
POOLS = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("benchmark").addoption(
        "--benchmark-large",
        action="store_true",
        default=False,
        help="compare-modes: also benchmark the larger sizes of tests/benchmarks (a long run; "
        "give the path: pytest tests/benchmarks --benchmark-only --benchmark-large)",
    )


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread(request: pytest.FixtureRequest):
    """Pin BLAS/OpenMP pools to one thread while benchmarks run (on a loaded 2-core machine a
    two-thread BLAS can be 100x slower in some phases), as ``compare-modes --threads 1`` does."""
    from experiments.environment import pinned_threads

    with pinned_threads(1) as pools:
        request.config.stash[POOLS] = pools
        yield


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """Record the BLAS pinning in ``machine_info`` (stable, so ``--benchmark-compare`` warns only
    when a baseline ran with other thread settings)."""
    machine_info["compare_modes_blas_threads"] = 1 if POOLS in config.stash else None


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    """Add compare-modes' environment block (what ``results.json`` records: versions, thread pools,
    git revision, the command) to the JSON file, beside ``machine_info`` (which ``--benchmark-compare``
    compares, so it must not hold things that change every run), for ``experiments.benchmark_json``."""
    import shlex

    from experiments.environment import collect

    env = collect([], config.stash.get(POOLS, []))
    env["command_line"] = shlex.join(["pytest", *config.invocation_params.args])
    output_json["compare_modes"] = {"environment": env}
