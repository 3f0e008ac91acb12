"""The class-centre model: where each character's faces lie in the network's embedding, and how far a face is.

Each character is its mean L2-normalised embedding; distance is Mahalanobis distance under one covariance
shared by all characters (the spread of faces around their own character's mean), expressed through a
whitening matrix ``W``: ``distance(x, c) = ‖(x − mean_c) W‖``. ``W`` is scaled so that a typical face of a
known character is about 1 from its centre. Measured on hololive-20 and animeface-10 (``bench/openset.py``),
this separates characters the bundle knows from ones it never saw far better than cosine similarity to the
mean, because the embedding's directions differ a lot in how much they vary within one character.

The same distances place enrolled characters: a mean of a few crops is enough to be a centre, and the shared
covariance, learned from the many faces of the known characters, says how far is far for them too.

A face's distance is taken relative to how far it lies from faces in general (the *relative* Mahalanobis
distance of Ren et al., 2021, "A Simple Fix to Mahalanobis Distance for Improving Near-OOD Detection"): a
``Background`` Gaussian of all the training faces, with the characters' spread between them added to the
spread within, says how unusual a face is as a face, and that much, less its mean over the training faces,
is taken off its squared distance to every centre. Strangers drawn in another style are unusual as faces and
stay far; a known face that is merely unusual comes nearer. The same amount off every centre leaves which
centre is nearest, and the centre model's probabilities, as they were. Enrolled centres are measured the same
way, so that one threshold serves them all: keeping the plain distance for them alone, against a threshold
chosen on known faces' relative distances, called a third of their own faces unknown (``bench/enroll.py``).

Bundles of format 1 and 2 stored plain prototypes (``prototypes.npy``) and judged faces by cosine similarity;
they load with ``W`` the identity, which gives the Euclidean distance between unit vectors,
``sqrt(2 − 2 cos)``, so their old thresholds carry over exactly (see ``darekana.recognizer.bundle``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .layout import CENTRES_FILE, CENTRES_FORMAT, PROTOTYPES_FILE


@dataclass(frozen=True)
class Background:
    """All the training faces as one Gaussian, in whitened coordinates ``z = x W``: centred on ``origin``, with
    covariance ``I / D`` (the spread within a character, which ``W`` whitens) plus the spread of the characters'
    centres, whose eigenvectors are ``basis``' columns. ``shrink`` is each eigenvalue over itself plus ``1 / D``,
    so that ``‖z − origin‖² − Σ shrink (basis·(z − origin))²`` is the face's squared Mahalanobis distance
    under it, in the units of the distances to centres (Woodbury's identity: a low-rank sum costs a product
    with ``basis``, not another D × D matrix). ``offset``, that squared distance's mean over the training
    faces, keeps a typical face's distances where they were; ``weight`` says how much of it is taken off."""

    origin: np.ndarray  # (D,)
    basis: np.ndarray  # (D, R)
    shrink: np.ndarray  # (R,)
    offset: float
    weight: float

    def squared(self, z: np.ndarray) -> np.ndarray:
        """(N,) squared distance of whitened faces ``z`` from the background's origin."""
        x = z - self.origin
        return (x * x).sum(1) - ((x @ self.basis) ** 2) @ self.shrink

    def term(self, z: np.ndarray) -> np.ndarray:
        """(N,) what comes off each face's squared distance to every centre."""
        return self.weight * (self.squared(z) - self.offset)


@dataclass(frozen=True)
class Centres:
    means: np.ndarray  # (C, D) float32
    whitening: np.ndarray  # (D, D) float32
    background: Background | None = None  # None: absolute distances, as bundles made before it

    @cached_property
    def _whitened_means(self) -> np.ndarray:
        return self.means @ self.whitening

    def distances(self, unit: np.ndarray) -> np.ndarray:
        """(N, C) distance of each face (unit embeddings, (N, D)) to each character's centre, relative to the
        background where there is one."""
        z, zm = unit @ self.whitening, self._whitened_means
        squared = (z * z).sum(1)[:, None] - 2 * z @ zm.T + (zm * zm).sum(1)[None, :]
        if self.background is not None:
            squared -= self.background.term(z)[:, None]
        return np.sqrt(np.maximum(squared, 0))

    def with_means(self, means: np.ndarray) -> Centres:
        """Other centres (extra characters') measured the same way."""
        return replace(self, means=means)

    def save(self, directory: Path) -> Path:
        path = directory / CENTRES_FILE
        arrays = {"means": self.means, "whitening": self.whitening}
        if self.background is not None:
            b = self.background
            arrays |= {
                "background_origin": b.origin,
                "background_basis": b.basis,
                "background_shrink": b.shrink,
                "background_offset": np.array(b.offset),
                "background_weight": np.array(b.weight),
            }
        with path.open("wb") as fh:
            np.savez(fh, **{name: a.astype(np.float32) for name, a in arrays.items()})  # type: ignore[arg-type]
        return path


def load_centres(directory: Path, format_version: int) -> Centres:
    """The bundle's centres; raises ``OSError``/``ValueError``/``KeyError`` for a damaged file."""
    if format_version < CENTRES_FORMAT:
        means = np.load(directory / PROTOTYPES_FILE, allow_pickle=False).astype(np.float32)
        return Centres(means, np.eye(means.shape[1], dtype=np.float32))
    with np.load(directory / CENTRES_FILE, allow_pickle=False) as raw:
        background = _background(raw) if "background_origin" in raw.files else None
        return Centres(raw["means"].astype(np.float32), raw["whitening"].astype(np.float32), background)


def _background(raw: Any) -> Background:
    """The background of an open ``centres.npz``; ``ValueError`` where its arrays do not fit one another."""
    origin, basis, shrink = (raw[f"background_{k}"].astype(np.float32) for k in ("origin", "basis", "shrink"))
    offset, weight = raw["background_offset"], raw["background_weight"]
    if origin.ndim != 1 or basis.shape[:1] != origin.shape or basis.ndim != 2 or shrink.shape != basis.shape[1:]:
        raise ValueError(f"{CENTRES_FILE}: its background's arrays do not fit one another")
    if offset.shape or weight.shape or not all(np.isfinite(a).all() for a in (origin, basis, shrink, offset, weight)):
        raise ValueError(f"{CENTRES_FILE}: its background is not a set of finite numbers")
    return Background(origin, basis, shrink, float(offset), float(weight))
