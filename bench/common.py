"""What every benchmark prints alongside its figures: which machine ran it. Imports no torch, so the
serving benchmarks measure serving alone (``faces`` holds what the training-side ones share)."""

from __future__ import annotations

from darekana.train.shared import machine

__all__ = ["machine"]
