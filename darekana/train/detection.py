"""Pictures with head boxes (Pascal VOC), a held-back split of them, and how well a detector finds the heads.

A dataset is a folder of pictures with one VOC ``.xml`` per picture, either side by side or in the
``paperface-heads`` layout (``pictures/N.jpg`` beside ``boxes/N.xml``). Every object counts as a head
whatever its class name. The held-back split is fixed by the pictures' names (a hash, not a random draw), so
the shared weights, a fine-tuned detector and every benchmark are scored on the same pictures::

    >>> from darekana.train.shared import DATASETS
    >>> data = load_voc([DATASETS / "paperface-heads"])
    >>> tune, held = split_pictures(data)
    >>> len(data), len(tune), len(held), sum(len(p.boxes) for p in data)
    (284, 213, 71, 380)
"""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from darekana.progress import progress
from darekana.recognizer.boxes import iou_matrix
from darekana.recognizer.detect import Box, Detector, Framing, crop_face
from darekana.recognizer.images import PICTURE_SUFFIXES, load_image

HELD_BACK = 0.25


@dataclass(frozen=True)
class Annotated:
    """A picture and its head boxes (corners, pixels of the picture as stored)."""

    path: Path
    boxes: np.ndarray  # (N, 4) float


def load_voc(folders: Sequence[str | Path]) -> list[Annotated]:
    """Every picture of ``folders`` that has a VOC file, sorted by path; a VOC file that cannot be read is an
    error naming it (a silently dropped picture would flatter recall)."""
    out = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise FileNotFoundError(f"detection data folder not found: {folder}")
        for xml in sorted(folder.rglob("*.xml")):
            picture = _picture_for(xml)
            if picture is not None:
                out.append(Annotated(picture, _read_boxes(xml)))
    if not out:
        raise ValueError(f"no pictures with Pascal VOC boxes in {', '.join(map(str, folders))}")
    return sorted(out, key=lambda a: str(a.path))


def head_crops(data: Sequence[Annotated], framing: Framing) -> list[Image.Image]:
    """Every head box of ``data`` cut out as a bundle with ``framing`` cuts a detected head
    (:func:`darekana.recognizer.detect.crop_face`), picture by picture: a crop framed otherwise than the
    training faces would be told apart by its framing, not by who it shows."""
    crops = []
    for annotated in data:
        picture = load_image(annotated.path)
        for x0, y0, x1, y1 in annotated.boxes:
            box = Box(round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0)))
            crops.append(crop_face(picture, box, framing))
    return crops


def _picture_for(xml: Path) -> Path | None:
    for folder in (xml.parent, xml.parent.parent / "pictures"):
        for suffix in sorted(PICTURE_SUFFIXES):
            candidate = folder / (xml.stem + suffix)
            if candidate.is_file():
                return candidate
    return None


def _read_boxes(xml: Path) -> np.ndarray:
    try:
        root = ET.parse(xml).getroot()
        rows = [
            [float(o.findtext(f"bndbox/{k}") or "") for k in ("xmin", "ymin", "xmax", "ymax")]
            for o in root.iter("object")
        ]
    except (ET.ParseError, TypeError, ValueError) as exc:
        raise ValueError(f"{xml}: not a readable Pascal VOC file: {exc}") from None
    return np.array(rows, np.float64).reshape(-1, 4)


def split_pictures(data: Sequence[Annotated], held_back: float = HELD_BACK) -> tuple[list[Annotated], list[Annotated]]:
    """(tune, held back): a picture is held back when the hash of its file name falls in the first
    ``held_back`` of the range, so the split never changes with the order or number of other pictures."""

    def hashed(a: Annotated) -> float:
        return int(hashlib.sha256(a.path.name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    order = sorted(data, key=hashed)
    cut = round(len(order) * held_back)
    return sorted(order[cut:], key=lambda a: str(a.path)), sorted(order[:cut], key=lambda a: str(a.path))


@dataclass(frozen=True)
class Detections:
    """What a detector found in each picture: corner boxes and scores, aligned with the pictures."""

    boxes: list[np.ndarray]
    scores: list[np.ndarray]
    ms: list[float]


def run_detector(detector: Detector, data: Sequence[Annotated], desc: str = "detecting") -> Detections:
    boxes, scores, ms = [], [], []
    for item in progress(data, desc, "picture"):
        image = load_image(item.path)
        start = time.perf_counter()
        found = detector.detect(image)
        ms.append((time.perf_counter() - start) * 1000)
        boxes.append(np.array([f.box.corners() for f in found], np.float64).reshape(-1, 4))
        scores.append(np.array([f.score for f in found], np.float64))
    return Detections(boxes, scores, ms)


def match(found: np.ndarray, scores: np.ndarray, truth: np.ndarray, iou: float) -> np.ndarray:
    """Whether each detection is a true positive: greedily, best score first, each detection takes the unmatched
    true box it overlaps most, if that overlap reaches ``iou`` (the PASCAL VOC rule)."""
    hit = np.zeros(len(found), bool)
    if not len(found) or not len(truth):
        return hit
    overlaps = iou_matrix(found, truth)
    taken = np.zeros(len(truth), bool)
    for i in np.argsort(-scores, kind="stable"):
        candidates = np.where(taken, -1.0, overlaps[i])
        j = int(candidates.argmax())
        if candidates[j] >= iou:
            hit[i], taken[j] = True, True
    return hit


def figures(data: Sequence[Annotated], found: Detections, iou: float, threshold: float = 0.0) -> dict[str, float]:
    """Recall, precision and pictures with at least one detection, counting detections scored ≥ ``threshold``."""
    tp = fp = 0
    with_any = 0
    for item, boxes, scores in zip(data, found.boxes, found.scores):
        kept = scores >= threshold
        hits = match(boxes[kept], scores[kept], item.boxes, iou)
        tp, fp, with_any = tp + int(hits.sum()), fp + int((~hits).sum()), with_any + int(kept.any())
    total = sum(len(item.boxes) for item in data)
    return {
        "recall": tp / total if total else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "pictures_with_detection": with_any / len(data) if data else 0.0,
    }


def pr_curve(data: Sequence[Annotated], found: Detections, iou: float) -> dict[str, Any]:
    """Precision and recall at every score threshold, and the average precision (area under the curve, VOC's
    all-points rule)."""
    scores, hits = [], []
    for item, boxes, s in zip(data, found.boxes, found.scores):
        scores.append(s)
        hits.append(match(boxes, s, item.boxes, iou))
    score, hit = np.concatenate(scores), np.concatenate(hits)
    order = np.argsort(-score, kind="stable")
    score, hit = score[order], hit[order]
    total = sum(len(item.boxes) for item in data)
    tp = np.cumsum(hit)
    recall = tp / max(total, 1)
    precision = tp / np.arange(1, len(hit) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * envelope))
    return {"threshold": score, "recall": recall, "precision": precision, "ap": ap}


def plot_pr(curves: dict[str, dict[str, Any]], out: Path, title: str) -> Path:
    """A recall/precision plot with one line per detector, labelled with its AP."""
    fig, ax = plt.subplots(figsize=(6, 5))
    for name, curve in curves.items():
        ax.plot(curve["recall"], curve["precision"], label=f"{name} (AP {curve['ap']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1.01), ylim=(0, 1.01))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
