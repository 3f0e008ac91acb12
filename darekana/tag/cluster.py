"""Chunks of pictures through Ray actors, each holding one loaded bundle: the same workers as on one machine,
spread over a cluster. The bundle travels in Ray's object store, so nodes need darekana installed but not
the bundle; pictures are read by path, so every node must see the collection at the same path (a shared
file system), as the driver does.

``address``: ``"local"`` starts a cluster on this machine for the run; anything else (``"auto"``,
``ray://head:10001``, ``head:6379``) joins a running one (``ray.init``'s ``address``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from darekana.recognizer.bundle import bundle_files, load_manifest
from darekana.recognizer.layout import MANIFEST_FILE

from .work import Job, Outcome, Worker, WorkerSpec

STOPPED = "a Ray worker stopped (out of memory, a lost node, or a decoder crash): run the same command again to go on"


class BundleWorker:
    """A :class:`Worker` on a bundle sent as its files' bytes, written to the actor's own folder."""

    def __init__(self, files: dict[str, bytes], name: str, spec: WorkerSpec):
        self._folder = tempfile.TemporaryDirectory(prefix="darekana-bundle-")
        bundle = Path(self._folder.name) / name  # the same name: answers name the same bundle
        for relative, data in files.items():
            (bundle / relative).parent.mkdir(parents=True, exist_ok=True)
            (bundle / relative).write_bytes(data)
        self._worker = Worker(replace(spec, bundle=bundle))

    def run(self, jobs: list[Job]) -> list[Outcome]:
        return self._worker.run(jobs)


def ray_chunks(chunks: Iterable[list[Job]], spec: WorkerSpec, address: str, workers: int) -> Iterator[list[Outcome]]:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError) as exc:
            raise ValueError(f"cannot start or join the Ray cluster {address!r}: {exc}") from None
    try:
        files = ray.put(bundle_contents(spec.bundle))
        count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor = ray.remote(num_cpus=1)(BundleWorker)
        actors = [actor.remote(files, spec.bundle.name, spec) for _ in range(count)]
        yield from _dispatch(ray, actors, iter(chunks))
    finally:
        if started:
            ray.shutdown()


def _dispatch(ray: Any, actors: list[Any], source: Iterator[list[Job]]) -> Iterator[list[Outcome]]:
    """Two chunks queued on each actor; a finished one is answered with the next, in completion order."""
    running: dict[Any, Any] = {}

    def submit(actor: Any) -> None:
        chunk = next(source, None)
        if chunk is not None:
            running[actor.run.remote(chunk)] = actor

    for actor in actors * 2:
        submit(actor)
    while running:
        (ref,), _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(ref)
        try:
            outcomes = ray.get(ref)
        except ray.exceptions.RayError as exc:
            raise RuntimeError(f"{STOPPED} ({type(exc).__name__})") from None
        submit(actor)
        yield outcomes


def bundle_contents(bundle: Path) -> dict[str, bytes]:
    """The files a recognizer loads from ``bundle`` (its reports and splits stay behind)."""
    names = (MANIFEST_FILE, *bundle_files(load_manifest(bundle)))
    return {name: (bundle / name).read_bytes() for name in names}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'darekana[ray]'") from None
    return ray
