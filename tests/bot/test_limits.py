"""Rate limits and the bounded work queue."""

from __future__ import annotations

import asyncio
import threading

import pytest

from darekana.bot.errors import Busy, RateLimited
from darekana.bot.limits import RateLimiter, WorkQueue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_per_key():
    clock = Clock()
    limiter = RateLimiter(2, 60, clock)
    assert limiter.retry_after("a") == 0 and limiter.retry_after("a") == 0
    clock.now += 10
    assert limiter.retry_after("a") == pytest.approx(50)
    assert limiter.retry_after("b") == 0
    clock.now += 50
    assert limiter.retry_after("a") == 0


def test_full_looks_without_counting():
    clock = Clock()
    limiter = RateLimiter(1, 60, clock)
    assert not limiter.full("a") and not limiter.full("a")
    assert limiter.retry_after("a") == 0 and limiter.full("a")
    clock.now += 60
    assert not limiter.full("a")


def test_check_names_the_longest_wait():
    clock = Clock()
    limiter = RateLimiter(1, 30, clock)
    limiter.check("user")
    with pytest.raises(RateLimited, match="try again in 30 s"):
        limiter.check("user", "channel")


def test_idle_keys_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(1, 1, clock)
    for i in range(10_001):
        limiter.retry_after(str(i))
    clock.now += 5
    limiter.retry_after("fresh")
    assert len(limiter._hits) == 1


async def test_queue_bounds_running_and_waiting_jobs():
    queue = WorkQueue(workers=2, waiting=1)
    gate, started = threading.Event(), threading.Semaphore(0)

    def job(i: int) -> int:
        started.release()
        gate.wait(5)
        return i

    tasks = [asyncio.create_task(queue.run(job, i)) for i in range(3)]
    await asyncio.sleep(0)
    await asyncio.to_thread(started.acquire, timeout=5)
    await asyncio.to_thread(started.acquire, timeout=5)
    assert (queue.running, queue.waiting) == (2, 1)
    with pytest.raises(Busy, match="try again"):
        await queue.run(job, 99)
    gate.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2]
    assert queue.admitted == 0
    assert await queue.run(job, 7) == 7
    queue.close()


async def test_queue_passes_errors_through_and_frees_the_slot():
    queue = WorkQueue(workers=1, waiting=0)

    def boom() -> None:
        raise ValueError("broken picture")

    with pytest.raises(ValueError, match="broken picture"):
        await queue.run(boom)
    assert queue.admitted == 0 and await queue.run(lambda: 5) == 5
    queue.close()
