"""What tagging says of one picture, and the rows it becomes in a tag file: one row a face, or one row saying
the picture has no face.

>>> face = FaceTag([10, 20, 64, 64], "000_hatsune_miku", "Hatsune Miku", 0.97, "confident", "primary", [])
>>> picture = Tagged("a.jpg", "ab12", "115@2026-12-01", 640, 480, (face,))
>>> picture.tags
['hatsune_miku']
>>> Tagged.from_rows(picture.rows()) == picture
True
>>> [row["faces"] for row in Tagged("b.png", "cd34", "115@2026-12-01", 64, 64, ()).rows()]
[0]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from darekana.recognizer.names import booru_tag
from darekana.recognizer.results import Face, Recognition, Verdict

# A tag file's columns, in order, and each one's type (CSV keeps every value as text; these read it back).
COLUMNS: dict[str, type] = {
    "picture": str,
    "sha256": str,
    "bundle": str,
    "width": int,
    "height": int,
    "faces": int,  # faces found in the picture; 0 on the one row of a picture without any
    "face": int,  # this face's index, in reading order; empty when the picture has none
    "box": list,  # [x, y, w, h] in the picture's pixels
    "label": str,
    "name": str,
    "confidence": float,
    "verdict": str,
    "model": str,
    "candidates": list,  # the top-k: [{"label", "name", "probability"}, ...], best first
    "tags": list,  # the picture's character tags (its confident answers), on each of its rows
}
FACE_COLUMNS = ("box", "label", "name", "confidence", "verdict", "model", "candidates")


@dataclass(frozen=True)
class FaceTag:
    box: list[int]
    label: str
    name: str
    confidence: float
    verdict: str
    model: str
    candidates: list[dict[str, Any]]

    @classmethod
    def of(cls, face: Face) -> FaceTag:
        return cls(
            face.box.as_list(),
            face.label,
            face.name,
            round(face.confidence, 4),
            str(face.verdict),
            str(face.model),
            [c.to_dict() for c in face.candidates],
        )


@dataclass(frozen=True)
class Tagged:
    """One picture, tagged by one bundle."""

    picture: str
    sha256: str
    bundle: str
    width: int
    height: int
    faces: tuple[FaceTag, ...]

    @classmethod
    def of(cls, picture: str, sha256: str, result: Recognition) -> Tagged:
        faces = tuple(FaceTag.of(face) for face in result.faces)
        return cls(picture, sha256, result.bundle, result.width, result.height, faces)

    @property
    def tags(self) -> list[str]:
        """The characters a booru would tag the picture with: those named with confidence, sorted."""
        return sorted({booru_tag(f.label) for f in self.faces if f.verdict == Verdict.CONFIDENT})

    def rows(self) -> list[dict[str, Any]]:
        common = {
            "picture": self.picture,
            "sha256": self.sha256,
            "bundle": self.bundle,
            "width": self.width,
            "height": self.height,
            "faces": len(self.faces),
        }
        tags = self.tags
        if not self.faces:
            return [{**common, "face": None, **dict.fromkeys(FACE_COLUMNS), "candidates": [], "tags": tags}]
        return [
            {**common, "face": index, **{c: getattr(face, c) for c in FACE_COLUMNS}, "tags": tags}
            for index, face in enumerate(self.faces)
        ]

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]]) -> Tagged:
        """The picture that :meth:`rows` made ``rows`` of (all of its rows, in order)."""
        first = rows[0]
        faces = tuple(FaceTag(**{c: row[c] for c in FACE_COLUMNS}) for row in rows if row["face"] is not None)
        return cls(first["picture"], first["sha256"], first["bundle"], first["width"], first["height"], faces)


def group_rows(rows: Iterable[dict[str, Any]]) -> list[Tagged]:
    """Pictures from a tag file's rows (each picture's rows are together, as :func:`rows_of` writes them)."""
    pictures: list[Tagged] = []
    current: list[dict[str, Any]] = []
    for row in rows:
        if current and (row["picture"], row["sha256"]) != (current[0]["picture"], current[0]["sha256"]):
            pictures.append(Tagged.from_rows(current))
            current = []
        current.append(row)
    if current:
        pictures.append(Tagged.from_rows(current))
    return pictures


def rows_of(pictures: Iterable[Tagged]) -> list[dict[str, Any]]:
    """The rows of a tag file: pictures sorted by how they are named, so that a run resumed any number of times
    writes the same file as one run."""
    return [row for picture in sorted(pictures, key=lambda p: p.picture) for row in picture.rows()]
