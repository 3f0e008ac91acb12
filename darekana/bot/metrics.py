"""Prometheus counters of one service (its own registry, so several services in one process, as in the
tests, never share numbers). ``GET /metrics`` serves :meth:`Metrics.render`."""

from __future__ import annotations

import functools
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self, queue_depth: Callable[[str], int]):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "darekana_requests",
            "Pictures asked about, by platform and outcome",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.faces = Counter("darekana_faces", "Faces answered, by verdict", ["verdict"], registry=self.registry)
        self.feedback = Counter(
            "darekana_feedback", "Corrections and confirmations stored", ["kind"], registry=self.registry
        )
        self.seconds = Histogram(
            "darekana_recognition_seconds",
            "Decode, detect and recognise one picture",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        queue = Gauge("darekana_queue_jobs", "Recognitions running or waiting", ["state"], registry=self.registry)
        for state in ("running", "waiting"):
            queue.labels(state).set_function(functools.partial(queue_depth, state))

    def render(self) -> bytes:
        return generate_latest(self.registry)
