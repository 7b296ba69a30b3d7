"""Issue 11: ambient state is per thread and per asyncio task; gradients stay right under threads."""

from __future__ import annotations

import asyncio
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import modes
from modes import ops

CALLS = 3000


def _count_in_thread(results: dict[str, int], name: str, barrier: threading.Barrier, mode: str) -> None:
    with modes.counting(memory=False) as s:
        barrier.wait()  # both blocks are open before either thread differentiates
        for i in range(CALLS):
            modes.grad(lambda v: v[0] * v[1], [float(i), 2.0], mode=mode)
        barrier.wait()  # both threads finished before either block closes
    results[name] = s.calls


def test_two_threads_counting_see_their_own_gradients_only():
    results: dict[str, int] = {}
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=_count_in_thread, args=(results, name, barrier, mode))
        for name, mode in (("a", "reverse"), ("b", "forward"))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"a": CALLS, "b": CALLS}


def test_a_thread_without_a_counting_block_is_not_counted():
    done = threading.Event()

    def other() -> None:
        for _ in range(200):
            modes.grad(lambda s: s * s, 3.0)
        done.set()

    with modes.counting(memory=False) as s:
        t = threading.Thread(target=other)
        t.start()
        t.join()
        modes.grad(lambda s: s * s, 3.0)
    assert done.is_set() and s.calls == 1


def test_memory_counting_in_two_threads_keeps_tracemalloc_on_until_both_finish():
    """Thread 0 starts tracemalloc and leaves its block first; thread 1's block still measures."""
    started, inside, left = threading.Event(), threading.Event(), threading.Event()
    peaks: dict[int, int] = {}

    def first() -> None:
        with modes.counting(memory=True):
            started.set()
            inside.wait()
        left.set()

    def second() -> None:
        started.wait()
        with modes.counting(memory=True) as s:
            inside.set()
            left.wait()
            modes.grad(lambda v: ops.sum(v * v), np.ones(1000))
        peaks[1] = s.peak_bytes

    was_tracing = tracemalloc.is_tracing()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peaks[1] > 8000  # 1000 float64 entries at least
    assert tracemalloc.is_tracing() == was_tracing  # stopped by the last block, not left on


def test_asyncio_tasks_count_separately():
    async def task(n: int) -> int:
        with modes.counting(memory=False) as s:
            for i in range(n):
                modes.grad(lambda v: v * v, float(i))
                await asyncio.sleep(0)  # interleave with the other task inside the block
        return s.calls

    async def main() -> list[int]:
        return await asyncio.gather(task(30), task(50))

    assert asyncio.run(main()) == [30, 50]


def test_gradients_are_right_under_many_threads():
    """12,000 gradients in 8 threads, both modes and nesting, each checked against its formula."""
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12000, 3))

    def job(k: int) -> bool:
        x = points[k]
        mode = ("reverse", "forward")[k % 2]
        if k % 3 == 0:
            g = modes.grad(lambda v: ops.sum(ops.sin(v) * v), x, mode=mode)
            want = np.cos(x) * x + np.sin(x)
        elif k % 3 == 1:
            g = modes.grad(lambda v: v[0] * v[1] + v[2] ** 2, list(x), mode=mode)
            want = np.array([x[1], x[0], 2.0 * x[2]])
        else:
            g = modes.hvp(lambda v: ops.sum(v**3), x, np.ones(3))
            want = 6.0 * x
        return bool(np.allclose(g, want, rtol=1e-13, atol=1e-14))

    with ThreadPoolExecutor(max_workers=8) as pool:
        ok = list(pool.map(job, range(len(points))))
    assert all(ok), ok.count(False)


def test_a_compile_recording_notes_only_its_own_threads_comparisons():
    """modes.compile's branch guard hears every thread's comparisons; it must keep only its own."""

    def f(v):
        return v[0] * v[1] if v[0] > 0 else v[1]

    alone = len(modes.compile(f, [1.0, 2.0]).program.checks)
    stop = threading.Event()

    def noise() -> None:
        while not stop.is_set():
            modes.grad(lambda v: v[0] * 2.0 if v[0] < v[1] else v[1], [1.0, 2.0])

    t = threading.Thread(target=noise)
    t.start()
    try:
        counts = set()
        for _ in range(300):
            c = modes.compile(f, [1.0, 2.0])
            counts.add(len(c.program.checks))
            np.testing.assert_array_equal(c.grad([3.0, 4.0]), [4.0, 3.0])
    finally:
        stop.set()
        t.join()
    assert counts == {alone}
