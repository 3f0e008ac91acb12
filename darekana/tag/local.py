"""Chunks of pictures through workers on this machine: in this process for one worker, else a process pool
(each process loads the bundle once), with at most two chunks a worker queued, so that memory stays flat
however large the collection is."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from itertools import islice

from .work import Job, Outcome, Worker, WorkerSpec

STOPPED = "a worker process stopped (out of memory, or a decoder crashed): run the same command again to go on"

_worker: Worker | None = None


def local_chunks(chunks: Iterable[list[Job]], spec: WorkerSpec, workers: int) -> Iterator[list[Outcome]]:
    if workers == 1:
        worker = Worker(spec)
        for chunk in chunks:
            yield worker.run(chunk)
        return
    # forkserver: workers start from a clean process, not a fork of one that may hold threads and sessions.
    context = multiprocessing.get_context("forkserver")
    source = iter(chunks)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(spec,)) as pool:
        running: set[Future[list[Outcome]]] = set()
        try:
            while True:
                for chunk in islice(source, 2 * workers - len(running)):
                    running.add(pool.submit(_run, chunk))
                if not running:
                    return
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        except BrokenProcessPool:
            raise RuntimeError(STOPPED) from None
        finally:
            for future in running:
                future.cancel()


def _start(spec: WorkerSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it saves what is done, then stops
    global _worker
    _worker = Worker(spec)


def _run(jobs: list[Job]) -> list[Outcome]:
    assert _worker is not None, "the pool's initializer loads the worker"
    return _worker.run(jobs)
