"""What the recognizer answers: the result types, and their one JSON form with its schema.

The CLI prints :meth:`Recognition.to_dict`, the HTTP API answers with the faces' :meth:`Face.to_dict` (plus the
ids and text the bot adds), and the tagger and the database keep :meth:`Candidate.to_dict`. ``FACE_SCHEMA``
and ``RECOGNITION_SCHEMA`` describe those shapes (OpenAPI 3.0 flavour of JSON Schema: ``nullable``); the HTTP
API's OpenAPI description is built from them, and the tests hold every ``to_dict`` to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from PIL import Image

from .detect import Box
from .gallery import Evidence, Source

TOP_K = 5  # candidates an answer lists, best first


class _Coded(StrEnum):
    @property
    def code(self) -> int:
        """The member's number in the arrays :func:`darekana.recognizer.decision.route` and ``verdicts`` return."""
        return list(type(self)).index(self)


class Verdict(_Coded):
    """How far to trust a face's answer."""

    CONFIDENT = "confident"
    UNSURE = "unsure"
    UNKNOWN = "unknown"  # a character the bundle does not know


class Model(_Coded):
    """Which model answered a face."""

    PRIMARY = "primary"  # the network
    FALLBACK = "fallback"  # the SVM on the embedding
    CENTRES = "centres"  # the class centres: characters enrolled after training


@dataclass(frozen=True)
class Candidate:
    label: str
    name: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        """As JSON, and as the database and the tag files keep it."""
        return {"label": self.label, "name": self.name, "probability": round(self.probability, 4)}


@dataclass(frozen=True)
class Decision:
    """What the models and the centres say about one face, before it is tied to a picture. ``distance``: from
    the face to its answer's centre (about 1 for a typical face of a known character)."""

    candidates: list[Candidate]
    model: Model
    verdict: Verdict
    distance: float
    # the gallery face of the named character nearest to this one; None when unknown or the bundle has none
    evidence: Evidence | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.candidates[0].label

    @property
    def name(self) -> str:
        return self.candidates[0].name

    @property
    def confidence(self) -> float:
        return self.candidates[0].probability


@dataclass(frozen=True, kw_only=True)
class Face(Decision):
    """One face of a picture: the decision about it, where it is, and how sure the detector was."""

    box: Box
    detector_score: float | None = None  # None when the whole picture was classified
    crop: Image.Image | None = field(default=None, repr=False, compare=False)
    # False when the detector scored it below its ``sure`` threshold: answered, marked, never "confident"
    sure: bool = True

    @classmethod
    def of(
        cls,
        decision: Decision,
        box: Box,
        detector_score: float | None = None,
        crop: Image.Image | None = None,
        sure: bool = True,
    ) -> Face:
        d = decision
        answer = (d.candidates, d.model, d.verdict, d.distance, d.evidence)
        return cls(*answer, box=box, detector_score=detector_score, crop=crop, sure=sure)

    @property
    def whole_picture(self) -> bool:
        return self.detector_score is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": self.box.as_list(),
            "label": self.label,
            "name": self.name,
            "confidence": round(self.confidence, 4),
            "verdict": self.verdict,
            "model": self.model,
            "distance": round(self.distance, 4),
            "whole_picture": self.whole_picture,
            "face_sure": self.sure,
            "detector_score": None if self.detector_score is None else round(self.detector_score, 4),
            "candidates": [c.to_dict() for c in self.candidates],
            "evidence": None if self.evidence is None else evidence_to_dict(self.evidence),
        }


@dataclass(frozen=True)
class Recognition:
    faces: list[Face]
    width: int
    height: int
    faces_detected: int  # 0 means no face was found; ``faces`` may then hold the whole picture, flagged
    bundle: str
    timings_ms: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "faces_detected": self.faces_detected,
            "bundle": self.bundle,
            "faces": [f.to_dict() for f in self.faces],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "label": evidence.label,
        "source": evidence.source,
        "similarity": evidence.similarity,
        "image": evidence.data_url(),
    }


STR, INT, NUM, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
JPEG_DATA_URL = {"type": "string", "pattern": "^data:image/jpeg;base64,"}


def object_schema(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """A JSON object with ``required`` properties (all of them required) and ``optional`` ones."""
    return {"type": "object", "required": list(required), "properties": {**required, **optional}}


def _enum(kind: type[StrEnum]) -> dict[str, Any]:
    return {"type": "string", "enum": [member.value for member in kind]}


CANDIDATE_SCHEMA = object_schema({"label": STR, "name": STR, "probability": NUM})
# the nearest face of the character named, from the bundle's gallery; null for unknown faces
EVIDENCE_SCHEMA = {
    **object_schema({"label": STR, "source": _enum(Source), "similarity": NUM, "image": JPEG_DATA_URL}),
    "nullable": True,
}
FACE_SCHEMA = object_schema(
    {
        "box": {"type": "array", "items": INT, "minItems": 4, "maxItems": 4},
        "label": STR,
        "name": STR,
        "confidence": NUM,
        "verdict": _enum(Verdict),
        "model": _enum(Model),
        "distance": NUM,
        "whole_picture": BOOL,
        "face_sure": BOOL,
        "detector_score": {**NUM, "nullable": True},
        "candidates": {"type": "array", "items": CANDIDATE_SCHEMA},
        "evidence": EVIDENCE_SCHEMA,
    }
)
RECOGNITION_SCHEMA = object_schema(
    {
        "width": INT,
        "height": INT,
        "faces_detected": INT,
        "bundle": STR,
        "faces": {"type": "array", "items": FACE_SCHEMA},
        "timings_ms": {"type": "object", "additionalProperties": NUM},
    }
)
