"""Keeping one process healthy under load: per-key rate limits, and a bounded queue in front of the
recognizer so a burst waits its turn or is told "busy" instead of piling pictures up in memory."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .errors import Busy, RateLimited

T = TypeVar("T")


class RateLimiter:
    """At most ``count`` requests per ``seconds`` for each key (a sliding window)."""

    def __init__(self, count: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.count, self.seconds, self.clock = count, seconds, clock
        self._hits: dict[str, deque[float]] = {}

    def full(self, key: str) -> bool:
        """Whether a request for ``key`` would be refused now (counting nothing)."""
        return len(self._recent(key, self.clock())) >= self.count

    def retry_after(self, key: str) -> float:
        """0 when a request for ``key`` may go now (and counts it), else the seconds until it may."""
        now = self.clock()
        hits = self._recent(key, now)
        if len(hits) >= self.count:
            return hits[0] + self.seconds - now
        hits.append(now)
        if len(self._hits) > 10_000:  # forget idle keys so a crowd of one-off users cannot grow memory
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.seconds}
        return 0.0

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        return hits

    def check(self, *keys: str) -> None:
        """Raises RateLimited when any key is over its limit."""
        waits = [self.retry_after(key) for key in keys]
        if max(waits, default=0.0) > 0:
            raise RateLimited(max(waits))


class WorkQueue:
    """Runs blocking work on ``workers`` threads with at most ``waiting`` more jobs queued; beyond that
    :class:`Busy` is raised at once. The event loop never blocks on the work."""

    def __init__(self, workers: int, waiting: int):
        self.workers, self.capacity = workers, workers + waiting
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="recognize")
        self._slots: asyncio.Semaphore | None = None
        self.admitted = 0

    @property
    def running(self) -> int:
        return min(self.admitted, self.workers)

    @property
    def waiting(self) -> int:
        return max(0, self.admitted - self.workers)

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        if self.admitted >= self.capacity:
            raise Busy()
        self._slots = self._slots or asyncio.Semaphore(self.workers)
        self.admitted += 1
        try:
            async with self._slots:
                return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self.admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
