"""Box arithmetic shared by every detector and by detector training: priors, decoding, IoU and NMS.

Boxes are float arrays of corners ``(x0, y0, x1, y1)`` in pixels; priors are ``(cx, cy, w, h)``. All of it is
vectorised numpy::

    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    >>> nms(boxes, np.array([0.9, 0.8, 0.7]), iou=0.5).tolist()
    [0, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class PriorLayout:
    """Where a single-shot detector's priors (anchors) sit: one layer per stride, square anchors of the given
    sides, the smaller ones densified (several centres per cell) so small faces have as many chances as
    large ones. FaceBoxes' layout is :data:`FACEBOXES_PRIORS`."""

    steps: tuple[int, ...]
    sizes: tuple[tuple[int, ...], ...]
    density: tuple[tuple[int, int], ...]  # (anchor side, centres per cell along each axis); others have 1
    variance: tuple[float, float] = (0.1, 0.2)

    def centres_per_axis(self, size: int) -> int:
        return dict(self.density).get(size, 1)


FACEBOXES_PRIORS = PriorLayout(steps=(32, 64, 128), sizes=((32, 64, 128), (256,), (512,)), density=((32, 4), (64, 2)))


@lru_cache(maxsize=64)
def priors(layout: PriorLayout, height: int, width: int) -> np.ndarray:
    """The priors ``(cx, cy, w, h)`` in pixels of an input of ``height``×``width`` (multiples of the smallest
    step; a layer of a larger step has ``ceil(side / step)`` cells, as its strided convolutions give), ordered
    as the network emits them: layer, then row, column, anchor, dense centre (row-major).
    Cached (inputs come in few sizes); the array is read-only."""
    out = []
    for step, sizes in zip(layout.steps, layout.sizes):
        rows, cols = -(-height // step), -(-width // step)
        cell = []
        for size in sizes:
            n = layout.centres_per_axis(size)
            offsets = (np.arange(n) + (0.5 if n == 1 else 0.0)) / n  # dense centres start at the cell's corner
            oy, ox = np.meshgrid(offsets, offsets, indexing="ij")
            cell.append(np.stack([ox.ravel(), oy.ravel(), np.full(n * n, size), np.full(n * n, size)], 1))
        anchors = np.concatenate(cell)  # (A, 4): offsets in cells, sides in pixels
        gy, gx = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        grid = np.stack([gx.ravel(), gy.ravel()], 1)[:, None, :]  # (R·C, 1, 2)
        centres = (grid + anchors[None, :, :2]) * step
        sides = np.broadcast_to(anchors[None, :, 2:], centres.shape)
        out.append(np.concatenate([centres, sides], 2).reshape(-1, 4))
    result = np.concatenate(out).astype(np.float32)
    result.flags.writeable = False
    return result


def decode(loc: np.ndarray, prior: np.ndarray, variance: Sequence[float] = (0.1, 0.2)) -> np.ndarray:
    """Corner boxes from a network's offsets ``loc`` (P, 4) against ``prior`` (P, 4), as SSD encodes them."""
    centre = prior[:, :2] + loc[:, :2] * variance[0] * prior[:, 2:]
    side = prior[:, 2:] * np.exp(np.clip(loc[:, 2:] * variance[1], -10, 10))
    return np.concatenate([centre - side / 2, centre + side / 2], 1)


def encode(boxes: np.ndarray, prior: np.ndarray, variance: Sequence[float] = (0.1, 0.2)) -> np.ndarray:
    """The offsets :func:`decode` turns back into ``boxes`` (P, 4 corners): the regression target in training."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6)
    return np.concatenate(
        [(centre - prior[:, :2]) / (variance[0] * prior[:, 2:]), np.log(side / prior[:, 2:]) / variance[1]], 1
    )


def centre_to_corners(prior: np.ndarray) -> np.ndarray:
    return np.concatenate([prior[:, :2] - prior[:, 2:] / 2, prior[:, :2] + prior[:, 2:] / 2], 1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): (N, M)."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-scores, kind="stable")
    boxes = boxes[order]
    keep: list[int] = []
    alive = np.ones(len(order), bool)
    overlaps = iou_matrix(boxes, boxes) if len(order) <= 2048 else None
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        row = overlaps[i, i + 1 :] if overlaps is not None else iou_matrix(boxes[i : i + 1], boxes[i + 1 :])[0]
        alive[i + 1 :] &= row <= iou
    return order[np.array(keep, dtype=np.int64)]
