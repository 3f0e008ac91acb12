"""The class-centre model: where each character's faces lie in the network's embedding, and how far a face is.

Each character is its mean L2-normalised embedding; distance is Mahalanobis distance under one covariance
shared by all characters (the spread of faces around their own character's mean), expressed through a
whitening matrix ``W``: ``distance(x, c) = ‖(x − mean_c) W‖``. ``W`` is scaled so that a typical face of a
known character is about 1 from its centre. Measured on hololive-20 and animeface-10 (``bench/openset.py``),
this separates characters the bundle knows from ones it never saw far better than cosine similarity to the
mean, because the embedding's directions differ a lot in how much they vary within one character.

The same distances place enrolled characters: a mean of a few crops is enough to be a centre, and the shared
covariance, learned from the many faces of the known characters, says how far is far for them too.

Bundles of format 1 and 2 stored plain prototypes (``prototypes.npy``) and judged faces by cosine similarity;
they load with ``W`` the identity, which gives the Euclidean distance between unit vectors,
``sqrt(2 − 2 cos)``, so their old thresholds carry over exactly (see ``darekana.recognizer.bundle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .layout import CENTRES_FILE, CENTRES_FORMAT, PROTOTYPES_FILE


@dataclass(frozen=True)
class Centres:
    means: np.ndarray  # (C, D) float32
    whitening: np.ndarray  # (D, D) float32

    @cached_property
    def _whitened_means(self) -> np.ndarray:
        return self.means @ self.whitening

    def distances(self, unit: np.ndarray) -> np.ndarray:
        """(N, C) distance of each face (unit embeddings, (N, D)) to each character's centre."""
        z, zm = unit @ self.whitening, self._whitened_means
        squared = (z * z).sum(1)[:, None] - 2 * z @ zm.T + (zm * zm).sum(1)[None, :]
        return np.sqrt(np.maximum(squared, 0))

    def save(self, directory: Path) -> Path:
        path = directory / CENTRES_FILE
        with path.open("wb") as fh:
            np.savez(fh, means=self.means.astype(np.float32), whitening=self.whitening.astype(np.float32))
        return path


def load_centres(directory: Path, format_version: int) -> Centres:
    """The bundle's centres; raises ``OSError``/``ValueError``/``KeyError`` for a damaged file."""
    if format_version < CENTRES_FORMAT:
        means = np.load(directory / PROTOTYPES_FILE, allow_pickle=False).astype(np.float32)
        return Centres(means, np.eye(means.shape[1], dtype=np.float32))
    with np.load(directory / CENTRES_FILE, allow_pickle=False) as raw:
        return Centres(raw["means"].astype(np.float32), raw["whitening"].astype(np.float32))
