"""Feature vectors for the classical classifiers: the study's hand-made features and frozen network features.

Hand-made (the study's strategy 1), per face crop resized to ``size``²:
- Hu's seven moment invariants of the grey image (OpenCV), log-scaled: shape, invariant to rotation and scale;
- Haralick's 13 texture statistics of the grey-level co-occurrence matrix (mahotas), averaged over the four
  directions, so they do not depend on orientation;
- a joint HSV colour histogram, 8 bins a channel (OpenCV; 512 values summing to 1): hair and eye colour.

Network (strategy 2): the pooled penultimate activations of a frozen backbone of ``darekana.train.backbones``.

Both are cached on disk by content (the files, their order, the extractor and its settings), so a stopped
and restarted study reuses what it already computed::

    >>> from darekana.recognizer.images import load_image
    >>> from darekana.train.shared import DATASETS
    >>> handmade(load_image(DATASETS / "animeface-10/000_hatsune_miku/face_128_326_108.png")).shape
    (532,)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import mahotas
import numpy as np
import torch
from PIL import Image

from darekana.progress import progress
from darekana.recognizer.images import load_image
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_square, to_batch

from .backbones import Backbone

HU_DIM, HARALICK_DIM, HSV_BINS = 7, 13, 8
HANDMADE_DIM = HU_DIM + HARALICK_DIM + HSV_BINS**3


def hu_moments(grey: np.ndarray) -> np.ndarray:
    """log-scaled Hu invariants: raw values span ~20 orders of magnitude, which no classifier handles."""
    hu = cv2.HuMoments(cv2.moments(grey)).ravel()
    return -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)


def haralick(grey: np.ndarray) -> np.ndarray:
    return mahotas.features.haralick(grey, ignore_zeros=False).mean(axis=0)


def hsv_histogram(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [HSV_BINS] * 3, [0, 180, 0, 256, 0, 256]).ravel()
    return hist / max(float(hist.sum()), 1.0)


def handmade(image: Image.Image, size: int = 128) -> np.ndarray:
    """Hu moments, Haralick texture and HSV histogram of one face crop, concatenated (532 values)."""
    rgb = resize_square(image, size)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return np.concatenate([hu_moments(grey), haralick(grey), hsv_histogram(rgb)]).astype(np.float32)


def network_embedder(net: Backbone, size: int = 224, batch: int = 64) -> Callable[[list[Image.Image]], np.ndarray]:
    """A function from face crops to the frozen network's embeddings."""
    net.eval()

    def embed(images: list[Image.Image]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(images), batch):
                x = torch.from_numpy(to_batch(images[start : start + batch], size, IMAGENET_MEAN, IMAGENET_STD))
                out.append(net.embed(x).numpy())
        return np.concatenate(out).astype(np.float32)

    return embed


def cache_key(paths: Sequence[Path], extractor: str, settings: dict) -> str:
    digest = hashlib.sha256(json.dumps([extractor, settings], sort_keys=True).encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def extract(
    paths: Sequence[Path],
    cache: Path | None,
    extractor: str,
    settings: dict,
    per_image: Callable[[Image.Image], np.ndarray] | None = None,
    per_batch: Callable[[list[Image.Image]], np.ndarray] | None = None,
    batch: int = 64,
) -> np.ndarray:
    """Features of every file in ``paths`` (N, D), from ``cache`` when it holds them."""
    target = cache / f"{extractor}-{cache_key(paths, extractor, settings)}.npy" if cache else None
    if target is not None and target.is_file():
        return np.load(target)
    if per_batch is None:
        if per_image is None:
            raise ValueError("extract needs per_image or per_batch")
        one = per_image
        per_batch = lambda images: np.stack([one(im) for im in images])  # noqa: E731
    rows = []
    for start in progress(range(0, len(paths), batch), f"{extractor} features", "batch"):
        rows.append(per_batch([load_image(p) for p in paths[start : start + batch]]))
    features = np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target.with_suffix(".tmp.npy"), features)
        target.with_suffix(".tmp.npy").replace(target)
    return features
