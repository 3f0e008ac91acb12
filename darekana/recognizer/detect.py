"""Finding anime faces in a picture and cutting them out the way the training crops were cut.

Two detectors share this module's machinery (scales, merging by NMS, reading order), each in
``darekana.recognizer.detectors``: **FaceBoxes** (the default; an anime head detector run on ONNX Runtime, shipped in
each bundle) and **animeface** (nagadomi's animeface-2009, the detector that built the animeface-character
dataset; it boxes the inner face and misses many faces of real pictures). A bundle's manifest names its
detector (:class:`DetectorSpec`) and the framing measured with it. Faces come in reading order: rows top
to bottom, left to right within a row::

    >>> from darekana.recognizer.detectors import FaceBoxesDetector
    >>> from darekana.recognizer.images import load_image
    >>> detector = FaceBoxesDetector(DetectorSpec(), DEFAULT_DETECTOR_MODEL)
    >>> from darekana.train.shared import DATASETS
    >>> picture = load_image(DATASETS / "paperface-heads/pictures/236.jpg")
    >>> for face in detector.detect(picture):
    ...     print(face.box, round(face.score, 2))
    Box(x=302, y=134, w=160, h=165) 1.0
    Box(x=225, y=276, w=132, h=139) 0.96
    Box(x=397, y=293, w=142, h=142) 0.99

A dataset's crops frame a face in their own way (nagadomi's crops hold the whole head and some hair around
it; the Danbooru crops of hololive-20 are tighter). :func:`measure_framing` reads that framing off training
crops with the bundle's detector and :func:`crop_face` reproduces it, so a face cut from a new picture looks
like the faces the network learned from.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .boxes import nms
from .layout import DETECTOR_FILE


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    def corners(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.w, self.y + self.h

    def scaled(self, sx: float, sy: float) -> Box:
        return Box(round(self.x * sx), round(self.y * sy), round(self.w * sx), round(self.h * sy))


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    score: float
    sure: bool = True  # False: scored between the detector's ``score`` and ``sure`` thresholds


@dataclass(frozen=True)
class Framing:
    """Where a face sits in a crop, in units of the detector's face-box side.

    ``scale``: crop side / box side. ``top``: distance from the crop's top edge down to the box centre.
    A centred crop has ``top == scale / 2``.
    """

    scale: float = 1.4
    top: float = 0.7


FACEBOXES = "faceboxes"
ANIMEFACE = "animeface"
# The FaceBoxes model new bundles get (``darekana/recognizer/data/README.md`` says how it was made).
DEFAULT_DETECTOR_MODEL = Path(__file__).with_name("data") / "faceboxes-anime-heads.onnx"


@dataclass(frozen=True)
class DetectorSpec:
    """Which detector a bundle uses and how it runs; stored in the manifest, so framing and detection agree.

    ``score``: detections below it are dropped; ``sure``: at or above it a detection is taken as surely a
    face (those between are answered, marked, and never "confident"). ``nms_iou``: overlapping detections
    above it are merged. ``max_side``: pictures are downscaled so their longest side is at most this.
    ``scales``: factors of that size to detect at and merge (``(1.0,)`` single-scale; ``MULTI_SCALE`` adds a
    finer and a coarser one, for small heads and extreme close-ups). ``file``: the ONNX model in the bundle.
    The defaults were measured on paperface-heads (``bench/detect.py``; docs/benchmarks.md, "Detection").
    """

    kind: str = FACEBOXES
    file: str | None = DETECTOR_FILE
    score: float = 0.5
    sure: float = 0.9
    nms_iou: float = 0.3
    max_side: int = 768
    scales: tuple[float, ...] = (1.0,)

    @classmethod
    def from_dict(cls, raw: dict) -> DetectorSpec:
        raw = dict(raw)
        if "scales" in raw:
            raw["scales"] = tuple(float(s) for s in raw["scales"])
        return cls(**raw)


MULTI_SCALE = (1.0, 2.0, 0.5)
# In multi-scale detection, heads below this share of ``max_side`` are left to the finer pass, and heads above
# the other to the coarser one (``Detector._suits``).
SMALL_HEAD, LARGE_HEAD = 0.125, 0.5
# nagadomi's detector at its own threshold; also what bundles of format 3 and older were framed with.
ANIMEFACE_SPEC = DetectorSpec(kind=ANIMEFACE, file=None, score=0.5, sure=0.5, nms_iou=0.3, max_side=1024)


class Detector:
    """Runs one detector at the spec's scales and merges what it finds; subclasses say how to detect at one
    scale. Thread-safe when :meth:`detect_at` is."""

    def __init__(self, spec: DetectorSpec):
        self.spec = spec

    def detect_at(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """Corner boxes (N, 4) in ``image``'s pixels and their scores (N,), scores ≥ ``spec.score``."""
        raise NotImplementedError

    def detect(self, image: Image.Image) -> list[DetectedFace]:
        """Faces in ``image`` (RGB) with boxes in its own pixel coordinates, in reading order."""
        base = min(1.0, self.spec.max_side / max(image.size))
        found_boxes, found_scores = [], []
        for scale in sorted(set(self.spec.scales)):
            factor = base * scale
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
            scaled = image if size == image.size else image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
            boxes, scores = self.detect_at(scaled)
            boxes = boxes * np.array([image.width / size[0], image.height / size[1]] * 2)
            keep = self._suits(scale, (boxes[:, 2:] - boxes[:, :2]).max(1, initial=0) * base)
            found_boxes.append(boxes[keep])
            found_scores.append(scores[keep])
        boxes, scores = np.concatenate(found_boxes), np.concatenate(found_scores)
        if len(boxes):
            keep = nms(boxes, scores, self.spec.nms_iou)
            boxes, scores = boxes[keep], scores[keep]
        return reading_order(self._faces(boxes, scores, image.size))

    def _suits(self, scale: float, side: np.ndarray) -> np.ndarray:
        """Which detections a scale is trusted with, by their side at the main scale: a finer pass only small
        heads (seen larger, it also boxes parts of big heads), a coarser pass only heads too big for the main
        one. Single-scale keeps everything."""
        if scale > 1:
            return side < SMALL_HEAD * self.spec.max_side
        if scale < 1:
            return side >= LARGE_HEAD * self.spec.max_side
        return np.ones(len(side), bool)

    def _faces(self, boxes: np.ndarray, scores: np.ndarray, size: tuple[int, int]) -> list[DetectedFace]:
        clipped = np.clip(np.round(boxes), 0, [size[0], size[1], size[0], size[1]]).astype(int)
        faces = []
        for (x0, y0, x1, y1), score in zip(clipped.tolist(), scores.tolist()):
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                faces.append(DetectedFace(Box(x0, y0, x1 - x0, y1 - y0), float(score), score >= self.spec.sure))
        return faces


def reading_order(faces: Iterable[DetectedFace]) -> list[DetectedFace]:
    """Rows top to bottom, then left to right. A face joins the current row when at least half its height
    overlaps the row's vertical span: faces side by side are rarely at exactly the same height."""
    rows: list[list[DetectedFace]] = []
    for face in sorted(faces, key=lambda f: f.box.center[1]):
        b = face.box
        if rows:
            top = min(f.box.y for f in rows[-1])
            bottom = max(f.box.y + f.box.h for f in rows[-1])
            if min(b.y + b.h, bottom) - max(b.y, top) >= b.h / 2:
                rows[-1].append(face)
                continue
        rows.append([face])
    return [face for row in rows for face in sorted(row, key=lambda f: f.box.x)]


def crop_face(image: Image.Image, box: Box, framing: Framing) -> Image.Image:
    """The square region ``framing`` puts around ``box``, clipped to the picture as the datasets' crops are."""
    side = framing.scale * max(box.w, box.h)
    cx, cy = box.center
    left, top = cx - side / 2, cy - framing.top * max(box.w, box.h)
    region = (
        max(0, round(left)),
        max(0, round(top)),
        min(image.width, round(left + side)),
        min(image.height, round(top + side)),
    )
    if region[2] <= region[0] or region[3] <= region[1]:
        raise ValueError(f"face box {box} lies outside the {image.width}×{image.height} picture")
    return image.crop(region)


def measure_framing(crops: Iterable[Image.Image], detector: Detector, min_faces: int = 10) -> Framing | None:
    """The median framing of the faces ``detector`` finds in training ``crops``; ``None`` when too few are.

    Only crops whose face is fully inside are used, and scale is read off the crop's width: crops clipped at
    a picture's edge are short in one direction and would bias it.
    """
    scales, tops = [], []
    for crop in crops:
        faces = detector.detect(crop)
        if len(faces) != 1:
            continue
        box = faces[0].box
        side = max(box.w, box.h)
        scales.append(crop.width / side)
        tops.append((box.center[1]) / side)
    if len(scales) < min_faces:
        return None
    return Framing(scale=round(statistics.median(scales), 3), top=round(statistics.median(tops), 3))
