"""The bundle's own faces through its network, kept in the bundle (``embeddings.npz``) so that enrolling does
not embed thousands of faces again: per split, the raw logits, the unit embeddings (float16: the fallback and
the centres need nothing finer) and the label indices. Written by training; the recognizer reads only the
calibration faces, to place extra characters (``darekana.recognizer.extra``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layout import EMBEDDINGS_FILE

PARTS = ("train", "val", "calibration", "test")


@dataclass
class Embedded:
    """Faces through a bundle's network: raw logits, unit embeddings, label indices."""

    logits: np.ndarray
    unit: np.ndarray
    targets: np.ndarray

    def __add__(self, other: Embedded) -> Embedded:
        return Embedded(
            np.concatenate([self.logits, other.logits]),
            np.concatenate([self.unit, other.unit]),
            np.concatenate([self.targets, other.targets]),
        )


def save_embeddings(directory: Path, parts: dict[str, Embedded]) -> Path:
    arrays: dict[str, np.ndarray] = {}
    for part, e in parts.items():
        arrays |= {
            f"{part}_logits": e.logits.astype(np.float32),
            f"{part}_unit": e.unit.astype(np.float16),
            f"{part}_targets": e.targets.astype(np.int64),
        }
    path = directory / EMBEDDINGS_FILE
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub mistakes **arrays for allow_pickle
    return path


def load_embeddings(directory: Path, n_logits: int, dim: int) -> dict[str, Embedded] | None:
    """The stored splits, or None when the bundle has none (made before they were kept) or they do not fit
    its network (``n_logits`` logits, ``dim``-dimensional embeddings)."""
    try:
        with np.load(directory / EMBEDDINGS_FILE, allow_pickle=False) as raw:
            parts = {
                p: Embedded(raw[f"{p}_logits"], raw[f"{p}_unit"].astype(np.float32), raw[f"{p}_targets"])
                for p in PARTS
                if f"{p}_logits" in raw or p != "calibration"  # bundles made before the calibration split
            }
    except (OSError, KeyError, ValueError):
        return None
    fits = all(
        e.logits.shape[1:] == (n_logits,)
        and e.unit.shape[1:] == (dim,)
        and len(e.logits) == len(e.unit) == len(e.targets)
        for e in parts.values()
    )
    return parts if fits else None


def calibration_faces(parts: dict[str, Embedded]) -> Embedded:
    """The faces thresholds are chosen on: the calibration split, which neither training nor early stopping
    saw, or validation in bundles made before that split existed."""
    calibration = parts.get("calibration")
    return calibration if calibration is not None and len(calibration.targets) else parts["val"]
