"""Picture in, named faces out: the recognizer that the bot, the CLI and evaluation all use.

::

    >>> from darekana.train.shared import DATASETS
    >>> rec = Recognizer(BUNDLE)  # a bundle directory, such as models/animeface-10 (`make run` trains it)
    >>> result = rec.recognize((DATASETS / "animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg").read_bytes())
    >>> [f.name for f in result.faces]
    ['Hatsune Miku']

Every face of a picture goes through the network in one batch on ONNX Runtime (CPU). For each face the
network's softmax answers when its top-1 probability reaches the bundle's ``primary`` threshold; otherwise
the fallback SVM on the embedding answers. The verdict then says how far to trust the answer:
``unknown`` when the embedding is further than ``distance`` from the answer's class centre
(``darekana.recognizer.centres``: open-set rejection), ``confident`` at or above the ``confident`` probability,
``unsure`` between. A ``Recognizer`` is safe to call from many threads: ONNX Runtime sessions are, and the
rest holds no mutable state.

Characters enrolled after training (``manifest.network_labels``) have no logit, and the SVM, fitted on
hundreds of faces of each known character, seldom picks one seen in a few crops. So the centres decide: a
face goes to an enrolled character when its centre, brought nearer by the bundle's ``enrolled_margin``
(chosen so that about 1 % of known validation faces would go), is the nearest of all, and the centre
model's probabilities answer for it, "unsure" at best.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .bundle import FALLBACK_FILE, MODEL_FILE, BundleError, Manifest, Thresholds, bundle_version, load_manifest
from .centres import centre_probabilities, load_centres
from .detect import Box, DetectedFace, crop_face
from .detectors import open_detector
from .gallery import GALLERY_FILE, Evidence, Gallery, load_gallery
from .images import ORIGINAL_SIZE, DecodeLimits, TooSlow, decode_image
from .onnx import open_session
from .preprocess import to_batch

EMBED_BATCH = 64  # faces through the network at once


class _Coded(StrEnum):
    @property
    def code(self) -> int:
        """The member's number in the arrays :func:`route` and :func:`verdicts` return."""
        return list(type(self)).index(self)


class Verdict(_Coded):
    """How far to trust a face's answer."""

    CONFIDENT = "confident"
    UNSURE = "unsure"
    UNKNOWN = "unknown"  # a character the bundle does not know


class Model(_Coded):
    """Which model answered a face."""

    PRIMARY = "primary"  # the fine-tuned network
    FALLBACK = "fallback"  # the SVM on the embedding
    CENTRES = "centres"  # the class centres: characters enrolled after training


@dataclass(frozen=True)
class Candidate:
    label: str
    name: str
    probability: float


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


@dataclass(frozen=True)
class Face:
    """One face of a picture: where it is, who it probably is, and how sure that is."""

    box: Box
    decision: Decision
    detector_score: float | None = None  # None when the whole picture was classified
    crop: Image.Image | None = field(default=None, repr=False, compare=False)
    # False when the detector scored it below its ``sure`` threshold: answered, marked, never "confident"
    sure: bool = True

    @property
    def whole_picture(self) -> bool:
        return self.detector_score is None

    @property
    def candidates(self) -> list[Candidate]:
        return self.decision.candidates

    @property
    def label(self) -> str:
        return self.decision.label

    @property
    def name(self) -> str:
        return self.decision.name

    @property
    def confidence(self) -> float:
        return self.decision.confidence

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def model(self) -> Model:
        return self.decision.model

    @property
    def distance(self) -> float:
        return self.decision.distance

    @property
    def evidence(self) -> Evidence | None:
        return self.decision.evidence


@dataclass(frozen=True)
class Recognition:
    faces: list[Face]
    width: int
    height: int
    faces_detected: int  # 0 means no face was found; ``faces`` may then hold the whole picture, flagged
    bundle: str
    timings_ms: dict[str, float]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def pad_primary(logits: np.ndarray, n_labels: int) -> np.ndarray:
    """The network's softmax over every label: zero for enrolled labels, which have no logit."""
    probs = softmax(logits)
    return np.pad(probs, ((0, 0), (0, n_labels - probs.shape[1])))


def enrolled_nearer(distances: np.ndarray, n_network: int, margin: float) -> np.ndarray:
    """``distances`` with those to enrolled centres (labels from ``n_network`` on) less ``margin``: a centre
    of a few crops lies further from its character's faces than one of hundreds, and the margin, chosen on
    validation faces, says how much (floored at 0)."""
    adjusted = distances.copy()
    adjusted[:, n_network:] = np.maximum(adjusted[:, n_network:] - margin, 0)
    return adjusted


@dataclass(frozen=True)
class Routed:
    """Which model answers each face, with what probabilities, and how far each face is from its answer."""

    probs: np.ndarray  # (N, C)
    model: np.ndarray  # (N,) Model codes
    distance: np.ndarray  # (N,)
    gap: np.ndarray  # (N,) nearest enrolled centre's distance less the nearest known one's (inf: none enrolled)


def route(
    primary: np.ndarray, fallback: np.ndarray, distances: np.ndarray, n_network: int, thresholds: Thresholds
) -> Routed:
    """The engine's decision rule over arrays (vectorised: training calibrates the thresholds by running it
    over the whole calibration split). ``primary`` is padded to every label (``pad_primary``)."""
    gap = distances[:, n_network:].min(axis=1, initial=np.inf) - distances[:, :n_network].min(axis=1)
    distances = enrolled_nearer(distances, n_network, thresholds.enrolled_margin)
    enrolled = distances.argmin(axis=1) >= n_network
    use_primary = (primary.max(axis=1) >= thresholds.primary) & ~enrolled
    probs = np.where(use_primary[:, None], primary, fallback)
    if enrolled.any():
        probs[enrolled] = centre_probabilities(distances[enrolled], thresholds.temperature)
    model = np.where(enrolled, Model.CENTRES.code, np.where(use_primary, Model.PRIMARY.code, Model.FALLBACK.code))
    return Routed(probs, model, distances[np.arange(len(probs)), probs.argmax(axis=1)], gap)


def verdicts(routed: Routed, thresholds: Thresholds) -> np.ndarray:
    """Verdict codes (``Verdict.code``). With enrolled characters, an answer is confident only when no
    enrolled centre is within ``thresholds.doubt`` of the nearest known one, or when it is an enrolled
    character's (``bench/enroll.py``: with the margins ``darekana.train.calibrate`` chooses, confident answers
    on characters the network never saw, enrolled from 5 crops, were right 98.6 % of the time). Bundles
    without ``doubt`` never call an enrolled character's answer confident."""
    confident = routed.probs.max(axis=1) >= thresholds.confident
    centres = routed.model == Model.CENTRES.code
    if thresholds.doubt is None:
        confident &= ~centres
    else:
        confident &= centres | (routed.gap > thresholds.doubt)
    return np.where(
        routed.distance > thresholds.distance,
        Verdict.UNKNOWN.code,
        np.where(confident, Verdict.CONFIDENT.code, Verdict.UNSURE.code),
    )


class Recognizer:
    """A loaded bundle, ready to name faces. ``threads`` caps ONNX Runtime's intra-op threads per call.
    ``detection`` overrides the bundle's detector options (``DetectorSpec`` fields: ``score``, ``sure``,
    ``nms_iou``, ``max_side``, ``scales``); the detector itself stays the one the framing was measured with."""

    def __init__(
        self,
        bundle: str | os.PathLike[str],
        top_k: int = 5,
        threads: int | None = None,
        limits: DecodeLimits = DecodeLimits(),
        detection: Mapping[str, Any] | None = None,
    ):
        self.path = Path(bundle)
        self.manifest: Manifest = load_manifest(self.path)
        self.top_k = max(1, min(top_k, len(self.manifest.labels)))
        self.limits = limits
        fixed = {"kind", "file"} & set(detection or {})
        if fixed:
            raise BundleError(
                f"{self.path} was framed with its own {self.manifest.detector.kind} detector: "
                f"{', '.join(sorted(fixed))} cannot be changed"
            )
        self.detector = open_detector(replace(self.manifest.detector, **(detection or {})), self.path, threads)
        self._net = open_session(self.path / MODEL_FILE, threads)
        self._svm = open_session(self.path / FALLBACK_FILE, threads)
        try:
            self._centres = load_centres(self.path, self.manifest.format_version)
            self._gallery: Gallery | None = load_gallery(self.path) if self.manifest.format_version >= 5 else None
        except Exception as exc:
            raise BundleError(f"{self.path} cannot be loaded: {exc}") from None
        self._check_shapes()

    def _check_shapes(self) -> None:
        n, d = len(self.manifest.labels), self.manifest.embedding_dim
        probe = np.zeros((1, 3, self.manifest.input_size, self.manifest.input_size), np.float32)
        try:
            logits, embedding = self._net.run(["logits", "embedding"], {"image": probe})
            _, probs = self._svm.run(None, {self._svm.get_inputs()[0].name: embedding})
        except Exception as exc:
            raise BundleError(f"{self.path} is incompatible: its models do not run: {exc}") from None
        if (
            logits.shape[1] != self.manifest.n_network
            or probs.shape[1] != n
            or embedding.shape[1] != d
            or self._centres.means.shape != (n, d)
            or self._centres.whitening.shape != (d, d)
        ):
            raise BundleError(
                f"{self.path} is inconsistent: {n} labels ({self.manifest.n_network} for the network) "
                f"in the manifest but the models give {logits.shape[1]} and {probs.shape[1]} classes"
            )
        gallery = self._gallery
        if gallery is not None and (
            gallery.unit.shape[1:] != (d,)
            or (len(gallery) and not 0 <= gallery.labels.min() <= gallery.labels.max() < n)
        ):
            raise BundleError(f"{self.path}/{GALLERY_FILE} does not fit the bundle's labels or embedding")

    @property
    def version(self) -> str:
        return bundle_version(self.path, self.manifest)

    def recognize(
        self, picture: bytes | Image.Image, classify_whole: bool = True, deadline: float | None = None
    ) -> Recognition:
        """Every face in ``picture`` (bytes of an image file, or a PIL image), in reading order.

        Raises :class:`darekana.recognizer.images.ImageError` for bytes that are not a usable picture, and
        :class:`TooSlow` when ``time.monotonic()`` passes ``deadline`` between two stages. When no face is
        found and ``classify_whole`` is set, the whole picture is classified as one face, flagged
        ``whole_picture`` (people often send a picture that is already a face crop). Boxes, width and height
        are in the picture's own pixels, also when a large JPEG was decoded at a smaller scale.
        """
        start = time.perf_counter()
        if isinstance(picture, bytes):
            image = decode_image(picture, self.limits)
        else:  # not copied when it is RGB already: nothing here draws on it
            image = picture if picture.mode == "RGB" else picture.convert("RGB")
        decoded = (time.perf_counter() - start) * 1000
        _on_time(deadline)
        (result,) = self._recognize_images([image], classify_whole, deadline)
        return replace(result, timings_ms={"decode": decoded, **result.timings_ms})

    def recognize_many(self, images: list[Image.Image], classify_whole: bool = True) -> list[Recognition]:
        """:meth:`recognize` for pictures already decoded (``decode_image``), their faces through the network
        in one batch: the batch tagger's way, where throughput counts and no deadline applies. Each
        recognition's timings are the whole batch's."""
        return self._recognize_images(images, classify_whole, None)

    def _recognize_images(
        self, images: list[Image.Image], classify_whole: bool, deadline: float | None
    ) -> list[Recognition]:
        timings: dict[str, float] = {}
        start = time.perf_counter()
        images = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        detected = [self.detector.detect(image) for image in images]
        timings["detect"] = (time.perf_counter() - start) * 1000
        _on_time(deadline)
        start = time.perf_counter()
        crops = [self._crops(image, faces, classify_whole) for image, faces in zip(images, detected)]
        decisions = iter(self.classify([crop for picture in crops for crop in picture]))
        timings["recognize"] = (time.perf_counter() - start) * 1000
        return [
            self._recognition(image, found, [(crop, next(decisions)) for crop in picture], timings)
            for image, found, picture in zip(images, detected, crops)
        ]

    def _crops(self, image: Image.Image, faces: list[DetectedFace], classify_whole: bool) -> list[Image.Image]:
        """What goes through the network for one picture: its faces, else the whole picture when asked."""
        if faces:
            return [crop_face(image, f.box, self.manifest.framing) for f in faces]
        return [image] if classify_whole else []

    def _recognition(
        self,
        image: Image.Image,
        detected: list[DetectedFace],
        answered: list[tuple[Image.Image, Decision]],
        timings: dict[str, float],
    ) -> Recognition:
        if detected:
            faces = [
                Face(f.box, _doubted(d) if not f.sure else d, f.score, crop, f.sure)
                for f, (crop, d) in zip(detected, answered)
            ]
        else:
            faces = [Face(Box(0, 0, image.width, image.height), d, None, crop) for crop, d in answered]
        width, height = image.info.get(ORIGINAL_SIZE, image.size)
        if (width, height) != image.size:  # decoded at a smaller scale: boxes back in the picture's pixels
            sx, sy = width / image.width, height / image.height
            faces = [replace(f, box=f.box.scaled(sx, sy)) for f in faces]
        return Recognition(faces, width, height, len(detected), self.version, dict(timings))

    def classify(self, crops: list[Image.Image]) -> list[Decision]:
        """Decisions for face crops already cut out, in one batch."""
        return self.decide(*self.embed(crops)) if crops else []

    def embed(self, crops: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """The network's logits and embeddings of face crops (``decide`` takes them), ``EMBED_BATCH`` at a
        time: a moderator's thousand stored faces must not become one input of hundreds of megabytes."""
        m = self.manifest
        outputs = [
            self._net.run(
                ["logits", "embedding"], {"image": to_batch(crops[i : i + EMBED_BATCH], m.input_size, m.mean, m.std)}
            )
            for i in range(0, len(crops), EMBED_BATCH)
        ]
        return np.concatenate([lo for lo, _ in outputs]), np.concatenate([e for _, e in outputs])

    def decide(self, logits: np.ndarray, embedding: np.ndarray) -> list[Decision]:
        """Decisions from the network's raw outputs (used by evaluation, which batches its own crops)."""
        unit = l2_normalize(embedding)
        _, fallback = self._svm.run(None, {self._svm.get_inputs()[0].name: unit})
        m = self.manifest
        routed = route(
            pad_primary(logits, len(m.labels)), fallback, self._centres.distances(unit), m.n_network, m.thresholds
        )
        labels = m.labels
        codes = verdicts(routed, m.thresholds)
        answers = routed.probs.argmax(axis=1)
        gallery = self._gallery
        shown = gallery.nearest(answers, unit) if gallery is not None else np.full(len(unit), -1)
        decisions = []
        for row, model, verdict, distance, entry, face in zip(
            routed.probs, routed.model, codes, routed.distance, shown, unit
        ):
            top = np.argsort(-row)[: self.top_k]
            candidates = [Candidate(labels[i].id, labels[i].name, float(row[i])) for i in top]
            evidence = None
            if gallery is not None and entry >= 0 and verdict != Verdict.UNKNOWN.code:
                evidence = gallery.evidence(entry, candidates[0].label, face)
            decisions.append(
                Decision(candidates, list(Model)[model], list(Verdict)[verdict], float(distance), evidence)
            )
        return decisions


def _on_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TooSlow()


def _doubted(decision: Decision) -> Decision:
    """A face the detector is not sure of is at most "unsure", however sure the classifier is of the name."""
    return replace(decision, verdict=Verdict.UNSURE) if decision.verdict is Verdict.CONFIDENT else decision


def candidates_to_dicts(candidates: list[Candidate]) -> list[dict[str, Any]]:
    """Candidates as JSON (and as the database keeps them), best first."""
    return [{"label": c.label, "name": c.name, "probability": round(c.probability, 4)} for c in candidates]


def face_to_dict(face: Face) -> dict[str, Any]:
    """The JSON shape of a face, shared by the CLI and the HTTP API."""
    return {
        "box": face.box.as_list(),
        "label": face.label,
        "name": face.name,
        "confidence": round(face.confidence, 4),
        "verdict": face.verdict,
        "model": face.model,
        "distance": round(face.distance, 4),
        "whole_picture": face.whole_picture,
        "face_sure": face.sure,
        "detector_score": None if face.detector_score is None else round(face.detector_score, 4),
        "candidates": candidates_to_dicts(face.candidates),
        "evidence": None if face.evidence is None else evidence_to_dict(face.evidence),
    }


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "label": evidence.label,
        "source": evidence.source,
        "similarity": evidence.similarity,
        "image": evidence.data_url(),
    }


def recognition_to_dict(result: Recognition) -> dict[str, Any]:
    return {
        "width": result.width,
        "height": result.height,
        "faces_detected": result.faces_detected,
        "bundle": result.bundle,
        "faces": [face_to_dict(f) for f in result.faces],
        "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
    }
