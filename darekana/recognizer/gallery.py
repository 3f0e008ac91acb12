"""The bundle's gallery: a few small pictures of each character's faces, so that an answer can show the face
of the character it names that is nearest to the one asked about. People trust an answer they can check.

``gallery.npz`` holds, per entry, the label index, the face's unit embedding (float16), where it came from
(``Source``) and a JPEG thumbnail; the JPEGs are one byte array cut by ``offsets``, so the file loads without
pickle. Training picks a handful of varied faces of each character (``darekana.train.gallery``); enrolling adds
the enrolled crops. The thumbnails are served as they are stored: nothing here decodes them.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from .layout import GALLERY_FILE

THUMBNAIL_SIDE = 96  # Discord shows embed thumbnails at 80 px; the page beside a face at about that size
THUMBNAIL_QUALITY = 85


class Source(StrEnum):
    """Where a gallery face came from."""

    TRAINING = "training"  # a face the network was trained on
    ENROLLED = "enrolled"  # enrolled later (``train enroll``), such as accepted corrections


@dataclass(frozen=True)
class Evidence:
    """The gallery face nearest to a face, among those of the character its answer names."""

    label: str
    source: Source
    similarity: float  # cosine similarity of the two faces' embeddings
    jpeg: bytes

    def data_url(self) -> str:
        return jpeg_data_url(self.jpeg)


@dataclass(frozen=True)
class Gallery:
    labels: np.ndarray  # (G,) label indices
    unit: np.ndarray  # (G, D) unit embeddings
    sources: np.ndarray  # (G,) indices into Source
    jpegs: np.ndarray  # all thumbnails, one uint8 array
    offsets: np.ndarray  # (G + 1,) entry i is jpegs[offsets[i]:offsets[i + 1]]

    @classmethod
    def of(cls, labels: np.ndarray, unit: np.ndarray, source: Source, thumbnails: list[bytes]) -> Gallery:
        offsets = np.cumsum([0, *map(len, thumbnails)], dtype=np.int64)
        jpegs = np.frombuffer(b"".join(thumbnails), np.uint8)
        sources = np.full(len(labels), list(Source).index(source), np.uint8)
        return cls(np.asarray(labels, np.int64), unit.astype(np.float32), sources, jpegs, offsets)

    def __len__(self) -> int:
        return len(self.labels)

    def __add__(self, other: Gallery) -> Gallery:
        return Gallery(
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.unit, other.unit]),
            np.concatenate([self.sources, other.sources]),
            np.concatenate([self.jpegs, other.jpegs]),
            np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]]),
        )

    def nearest(self, labels: np.ndarray, unit: np.ndarray) -> np.ndarray:
        """For each face (unit embeddings, (N, D)), the entry of its label (``labels``, (N,)) most like it,
        or -1 where the gallery has no face of that label. Only the label's own entries are read: the whole
        gallery of a 115-character bundle is 4.7 MB, and reading it for every face cost a third of a
        millisecond on one core and pushed the network's weights out of the cache."""
        best = np.full(len(labels), -1)
        for i, (label, face) in enumerate(zip(np.asarray(labels).tolist(), unit, strict=True)):
            entries = self._entries.get(label)
            if entries is not None:
                best[i] = entries[np.argmax(self.unit[entries] @ face)]
        return best

    @cached_property
    def _entries(self) -> dict[int, np.ndarray]:
        """Each label's entries, in the gallery's order (ties go to the first, as over the whole gallery)."""
        if not len(self):
            return {}
        order = np.argsort(self.labels, kind="stable")
        keys, starts = np.unique(self.labels[order], return_index=True)
        return dict(zip(keys.tolist(), np.split(order, starts[1:]), strict=True))

    def evidence(self, entry: int, label: str, unit: np.ndarray) -> Evidence:
        """Entry ``entry`` as the evidence for a face with embedding ``unit`` answered as ``label``."""
        jpeg = self.jpegs[self.offsets[entry] : self.offsets[entry + 1]].tobytes()
        similarity = float(unit @ self.unit[entry])
        return Evidence(label, list(Source)[self.sources[entry]], round(similarity, 4), jpeg)

    def save(self, directory: Path) -> Path:
        path = directory / GALLERY_FILE
        with path.open("wb") as fh:
            np.savez(
                fh,
                labels=self.labels,
                unit=self.unit.astype(np.float16),
                sources=self.sources,
                jpegs=self.jpegs,
                offsets=self.offsets,
            )
        return path


def load_gallery(directory: Path) -> Gallery:
    """The bundle's gallery; raises ``OSError``/``ValueError``/``KeyError`` for a damaged file."""
    with np.load(directory / GALLERY_FILE, allow_pickle=False) as raw:
        gallery = Gallery(
            raw["labels"].astype(np.int64),
            raw["unit"].astype(np.float32),
            raw["sources"].astype(np.uint8),
            raw["jpegs"].astype(np.uint8),
            raw["offsets"].astype(np.int64),
        )
    n = len(gallery.labels)
    if gallery.unit.shape[0] != n or gallery.sources.shape != (n,) or gallery.offsets.shape != (n + 1,):
        raise ValueError(f"{GALLERY_FILE}: its arrays disagree on how many faces it holds")
    if gallery.sources.size and gallery.sources.max() >= len(Source):
        raise ValueError(f"{GALLERY_FILE}: unknown face sources")
    if np.any(np.diff(gallery.offsets) < 0) or gallery.offsets[0] != 0 or gallery.offsets[-1] != gallery.jpegs.size:
        raise ValueError(f"{GALLERY_FILE}: its thumbnails' offsets do not fit its bytes")
    return gallery


def jpeg_data_url(jpeg: bytes) -> str:
    """A JPEG as a ``data:`` URL, for JSON that a page shows as it is."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def thumbnail(image: Image.Image) -> bytes:
    """A face as a small JPEG, its longest side ``THUMBNAIL_SIDE``."""
    small = image.convert("RGB")
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()
