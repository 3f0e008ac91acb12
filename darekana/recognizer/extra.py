"""Characters a bundle does not hold, known to one caller only: a community's own characters (original
characters, VTubers, a new show), named the same day without retraining or a new bundle.

Each is the mean of a few crops' unit embeddings through the bundle's own network, placed among the bundle's
class centres as an enrolled character is (``darekana.recognizer.decision``: the shared whitening says how
far is far, the centre model's probabilities answer for it). Its margins are chosen as ``train enroll``
chooses them, on the bundle's calibration faces (``embeddings.npz``) with these centres added, and so is the
``confident`` threshold, which must keep its promise with them; the other thresholds stay the bundle's. The
embeddings belong to one network: ``network`` is its checksum, and characters made on another are refused
(embed the crops again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .bundle import Label, Thresholds


@dataclass(frozen=True)
class ExtraCharacters:
    labels: tuple[Label, ...]
    means: np.ndarray  # (E, D) each character's mean unit embedding
    network: str  # sha256 of the bundle's network (model.onnx) that embedded them
    # the bundle's, with enrolled_margin, doubt and confident chosen again for these centres (doubt None: the
    # bundle kept no calibration faces, and their answers are never confident)
    thresholds: Thresholds

    def __post_init__(self) -> None:
        if self.means.shape[0] != len(self.labels):
            raise ValueError(f"{len(self.labels)} extra characters but {self.means.shape[0]} centres")


def mean_centres(unit: np.ndarray, owners: Sequence[int] | np.ndarray, count: int) -> np.ndarray:
    """Each character's centre: the mean of its crops' unit embeddings (``owners``: the character of each)."""
    of = np.asarray(owners)
    missing = [i for i in range(count) if not (of == i).any()]
    if missing or len(of) != len(unit):
        raise ValueError(f"each of the {count} characters needs crops, and each crop one character")
    return np.stack([unit[of == i].mean(axis=0) for i in range(count)]).astype(np.float32)
