"""Choosing the bundle's gallery (``darekana.recognizer.gallery``): a few faces of each character that show
its range of looks, so the nearest of them to a face asked about resembles it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from darekana.recognizer.gallery import Gallery, Source, thumbnail
from darekana.recognizer.images import load_image

PER_CHARACTER = 8


def varied(unit: np.ndarray, k: int = PER_CHARACTER) -> np.ndarray:
    """Indices of at most ``k`` of one character's faces (unit embeddings): the face nearest each centre of
    a k-means of them. Medoids rather than the faces furthest apart, which would pick the mislabelled ones."""
    if len(unit) <= k:
        return np.arange(len(unit))
    means = KMeans(k, n_init=3, random_state=0).fit(unit)
    return np.unique(means.transform(unit).argmin(axis=0))


def build_gallery(
    paths: Sequence[Path], targets: np.ndarray, unit: np.ndarray, source: Source, per_character: int = PER_CHARACTER
) -> Gallery:
    """The gallery of the faces at ``paths`` (label indices ``targets``, unit embeddings ``unit``)."""
    chosen = np.concatenate(
        [np.flatnonzero(targets == t)[varied(unit[targets == t], per_character)] for t in np.unique(targets)]
        or [np.zeros(0, np.int64)]
    ).astype(np.int64)
    thumbnails = [thumbnail(load_image(paths[i])) for i in chosen]
    return Gallery.of(targets[chosen], unit[chosen], source, thumbnails)
