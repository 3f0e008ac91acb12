"""Faces of no known character, for outlier exposure (``darekana train base --outliers``).

Training on them with a uniform target (Hendrycks et al., "Deep Anomaly Detection with Outlier Exposure")
teaches the network that a face it cannot place should get no confident character, which is what a bundle
must say of characters it was never taught.

A folder is either a VOC set of whole pictures with head boxes (``paperface-heads``), cut into its heads the
way a bundle cuts a detected head (the training faces' framing: cut otherwise, the network would learn to
tell outliers by their framing, and then reject the faces people send), of its tuning pictures only: its
held-back pictures (:func:`darekana.train.detection.split_pictures`) stay new,
for benchmarks to measure rejection on (``bench/enroll.py --unknown paperface-heads:held``); or any folder
of face crops, every picture under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from darekana.recognizer.detect import Framing
from darekana.recognizer.images import PICTURE_SUFFIXES, ImageError, load_image
from darekana.recognizer.preprocess import resize_square

from .detection import head_crops, load_voc, split_pictures


def outlier_faces(folders: Sequence[str | Path], size: int, framing: Framing) -> np.ndarray:
    """The faces of ``folders`` (VOC heads cut with ``framing``) resized to ``size``², as one uint8 array
    (N, size, size, 3); unreadable pictures are skipped."""
    crops = [crop for folder in map(Path, folders) for crop in _crops(folder, framing)]
    if not crops:
        raise ValueError(f"no outlier faces in {', '.join(map(str, folders))}")
    return np.stack([resize_square(crop, size) for crop in crops])


def _crops(folder: Path, framing: Framing) -> list[Image.Image]:
    if not folder.is_dir():
        raise FileNotFoundError(f"outlier folder not found: {folder}")
    if any(folder.rglob("*.xml")):
        tune, _held = split_pictures(load_voc([folder]))
        return head_crops(tune, framing)
    crops = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file()):
        try:
            crops.append(load_image(path))
        except ImageError:
            continue
    return crops
