"""The pipeline: pictures cut into chunks, the chunks through local workers or Ray actors, outcomes back.

For people who script, :func:`tag` is all of it as a generator::

    >>> from darekana.train.shared import DATASETS
    >>> for outcome in tag([DATASETS / "paperface-heads/pictures/236.jpg"], BUNDLE):
    ...     print(outcome.status, [face.box for face in outcome.tagged.faces] if outcome.tagged else outcome.reason)
    tagged [[302, 134, 160, 165], [225, 276, 132, 139], [397, 293, 142, 142]]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path

from darekana.recognizer.bundle import load_manifest

from .config import TagConfig
from .sources import Picture, gather
from .work import Job, Outcome, Status, WorkerSpec


def tag(
    paths: Iterable[str | os.PathLike[str]],
    bundle: str | os.PathLike[str],
    config: TagConfig = TagConfig(),
    ray: str | None = None,
) -> Iterator[Outcome]:
    """An :class:`Outcome` for every picture that ``paths`` (files, folders, lists of paths) name, unreadable
    ones included, in the order they finish. ``ray``: a Ray address (``"local"`` starts a cluster here)."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    sources = gather(str(p) for p in paths)
    for problem in sources.problems:
        yield Outcome(problem.picture, Status.FAILED, reason=problem.reason)
    for chunk in tag_chunks(sources.pictures, Path(bundle), config, ray):
        yield from chunk


def tag_chunks(
    pictures: list[Picture],
    bundle: Path,
    config: TagConfig,
    ray: str | None = None,
    known: Mapping[str, str] | None = None,
) -> Iterator[list[Outcome]]:
    """Outcomes a chunk at a time. ``known``: picture → sha256 already tagged by this bundle (kept, not
    tagged again, when the file is unchanged). The chunks are cut the same way whatever runs them, so every
    backend sends the same faces through the network together and gives the same answers."""
    load_manifest(bundle)  # a bad bundle is refused here, not as a pool of workers that cannot start
    known = known or {}
    jobs = (Job(p, known.get(p.key)) for p in pictures)
    chunks = iter(lambda: list(islice(jobs, config.chunk)), [])
    spec = WorkerSpec(bundle.resolve(), config.top_k, config.whole_picture)
    if ray is not None:
        from .cluster import ray_chunks

        return ray_chunks(chunks, spec, ray, config.workers)
    from .local import local_chunks

    return local_chunks(chunks, spec, config.workers or os.cpu_count() or 1)
