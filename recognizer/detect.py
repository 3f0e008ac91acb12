"""Finding anime faces in a picture and cutting them out the way the training crops were cut.

Detection uses ``animeface`` (nagadomi's animeface-2009, the detector that built the animeface-character
dataset). Large pictures are downscaled for the detector and boxes mapped back. Faces come in reading
order: rows top to bottom, left to right within a row::

    >>> picture = load_image("../shared/datasets/animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg")
    >>> [(f.box, round(f.score, 2)) for f in detect_faces(picture)]
    [(Box(x=115, y=101, w=116, h=116), 1.0)]

A dataset's crops frame a face in their own way (nagadomi's crops are ~2.6 face boxes wide with the hair
above; the Danbooru crops of hololive-20 are ~1.4 boxes, centred). :func:`measure_framing` reads that
framing off training crops and :func:`crop_face` reproduces it, so a face cut from a new picture looks like
the faces the network learned from.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import animeface
from PIL import Image


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


@dataclass(frozen=True)
class DetectedFace:
    box: Box
    score: float


@dataclass(frozen=True)
class Framing:
    """Where a face sits in a crop, in units of the detector's face-box side.

    ``scale``: crop side / box side. ``top``: distance from the crop's top edge down to the box centre.
    A centred crop has ``top == scale / 2``.
    """

    scale: float = 1.4
    top: float = 0.7


# animeface's C extension keeps global state; concurrent calls from several threads are not safe.
_DETECTOR_LOCK = threading.Lock()


def detect_faces(image: Image.Image, max_side: int = 1024, min_score: float = 0.5) -> list[DetectedFace]:
    """Faces in ``image`` (RGB) with boxes in its own pixel coordinates, in reading order.

    ``max_side``: pictures larger than this are downscaled for the detector (its cost grows with area;
    anime faces in a 1024 px picture are still well above its smallest size).
    """
    factor = min(1.0, max_side / max(image.size))
    small = image if factor == 1.0 else image.resize(
        (max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.Resampling.BILINEAR)
    with _DETECTOR_LOCK:
        found = animeface.detect(small if small.mode in ("RGB", "L") else small.convert("RGB"))
    faces = []
    for f in found:
        if f.likelihood < min_score:
            continue
        p = f.face.pos
        box = Box(round(p.x / factor), round(p.y / factor), round(p.width / factor), round(p.height / factor))
        faces.append(DetectedFace(box, float(f.likelihood)))
    return reading_order(faces)


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
    region = (max(0, round(left)), max(0, round(top)),
              min(image.width, round(left + side)), min(image.height, round(top + side)))
    if region[2] <= region[0] or region[3] <= region[1]:
        raise ValueError(f"face box {box} lies outside the {image.width}×{image.height} picture")
    return image.crop(region)


def measure_framing(crops: Iterable[Image.Image], min_faces: int = 10) -> Framing | None:
    """The median framing of detected faces in training ``crops``; ``None`` when too few faces are found.

    Only crops whose face is fully inside are used, and scale is read off the crop's width: crops clipped at
    a picture's edge are short in one direction and would bias it.
    """
    scales, tops = [], []
    for crop in crops:
        faces = detect_faces(crop)
        if len(faces) != 1:
            continue
        box = faces[0].box
        side = max(box.w, box.h)
        scales.append(crop.width / side)
        tops.append((box.center[1]) / side)
    if len(scales) < min_faces:
        return None
    return Framing(scale=round(statistics.median(scales), 3), top=round(statistics.median(tops), 3))
