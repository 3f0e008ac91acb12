"""What one worker does with a chunk of pictures, wherever it runs (this process, a pool process, a Ray
actor): read each file, hash it, skip it when the tag file already has it, decode it safely, find its faces,
and send every face of the chunk through the network in one batch."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import ImageError, decode_image, read_picture

from .records import Tagged
from .sources import Picture


@dataclass(frozen=True)
class Job:
    picture: Picture
    known: str | None = None  # the sha256 the tag file holds for it from this bundle: unchanged, it is kept


class Status(StrEnum):
    TAGGED = "tagged"
    KEPT = "kept"  # already in the tag file, from the same bytes and bundle
    FAILED = "failed"  # not a usable picture; ``reason`` says why


@dataclass(frozen=True)
class Outcome:
    picture: str
    status: Status
    tagged: Tagged | None = None
    reason: str | None = None


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker loads: sent to each process or actor, so it must pickle."""

    bundle: Path
    top_k: int
    whole_picture: bool


class Worker:
    def __init__(self, spec: WorkerSpec):
        # One thread each: a run's parallelism is its workers, and more threads per worker only contend
        # (numpy's BLAS too: ``Recognizer.decide`` holds it to one thread).
        self.recognizer = Recognizer(spec.bundle, top_k=spec.top_k, threads=1)
        self.whole_picture = spec.whole_picture

    def run(self, jobs: list[Job]) -> list[Outcome]:
        done: dict[int, Outcome] = {}
        pending: list[tuple[int, str]] = []
        images = []
        for index, job in enumerate(jobs):
            key = job.picture.key
            try:
                data = read_picture(job.picture.path, self.recognizer.limits)
                digest = hashlib.sha256(data).hexdigest()
                if digest == job.known:
                    done[index] = Outcome(key, Status.KEPT)
                    continue
                images.append(decode_image(data, self.recognizer.limits))
                pending.append((index, digest))
            except ImageError as exc:
                done[index] = Outcome(key, Status.FAILED, reason=str(exc))
        for (index, digest), result in zip(pending, self.recognizer.recognize_many(images, self.whole_picture)):
            done[index] = Outcome(
                jobs[index].picture.key, Status.TAGGED, Tagged.of(jobs[index].picture.key, digest, result)
            )
        return [done[i] for i in range(len(jobs))]
