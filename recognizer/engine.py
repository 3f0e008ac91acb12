"""Picture in, named faces out: the recognizer that the bot, the CLI and evaluation all use.

::

    >>> rec = Recognizer("models/animeface-10")
    >>> result = rec.recognize(open("../shared/datasets/animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg", "rb").read())
    >>> [(f.name, round(f.confidence, 2), f.verdict) for f in result.faces]
    [('Hatsune Miku', 0.92, 'confident')]

Every face of a picture goes through the network in one batch on ONNX Runtime (CPU). For each face the
network's softmax answers when its top-1 probability reaches the bundle's ``primary`` threshold; otherwise
the fallback SVM on the network's embedding answers. The verdict then says how far to trust the answer:
``unknown`` when the embedding is far from the predicted character's prototype (open-set rejection),
``confident`` at or above the ``confident`` threshold, ``unsure`` between. A ``Recognizer`` is safe to call
from many threads: ONNX Runtime sessions are, and the rest holds no mutable state.

Characters enrolled after training (``manifest.network_labels``) have no logit: the network's probabilities
are zero for them, and a face goes to the fallback whenever the fallback or the nearest prototype names an
enrolled character, since the network would otherwise force it onto the nearest character it knows.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort
from PIL import Image

from .bundle import FALLBACK_FILE, MODEL_FILE, PROTOTYPES_FILE, BundleError, Manifest, Thresholds, load_manifest
from .detect import Box, crop_face, detect_faces
from .images import DecodeLimits, decode_image
from .preprocess import to_batch

Verdict = Literal["confident", "unsure", "unknown"]
Model = Literal["primary", "fallback"]


@dataclass(frozen=True)
class Candidate:
    label: str
    name: str
    probability: float


@dataclass(frozen=True)
class Decision:
    """What the two models and the prototypes say about one face, before it is tied to a picture."""

    candidates: list[Candidate]
    model: Model
    verdict: Verdict
    similarity: float

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
    def similarity(self) -> float:
        return self.decision.similarity


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


def route(primary: np.ndarray, fallback: np.ndarray, threshold: float,
          defer: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per face, whether the network answers (its top-1 probability reaches ``threshold`` and ``defer`` does
    not send the face to the fallback) and the probabilities of whichever model answers."""
    use_primary = primary.max(axis=1) >= threshold
    if defer is not None:
        use_primary &= ~defer
    return use_primary, np.where(use_primary[:, None], primary, fallback)


def pad_primary(logits: np.ndarray, n_labels: int) -> np.ndarray:
    """The network's softmax over every label: zero for enrolled labels, which have no logit."""
    probs = softmax(logits)
    return np.pad(probs, ((0, 0), (0, n_labels - probs.shape[1])))


def defer_to_enrolled(fallback: np.ndarray, similarities: np.ndarray, n_network: int) -> np.ndarray:
    """Faces the fallback must answer because the fallback or the nearest prototype (cosine, over
    ``similarities`` (N, C)) names a label beyond the network's first ``n_network``."""
    return (fallback.argmax(axis=1) >= n_network) | (similarities.argmax(axis=1) >= n_network)


def verdicts(probs: np.ndarray, similarity: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Verdict codes (0 confident, 1 unsure, 2 unknown). Vectorised: training calibrates the thresholds
    by running exactly this rule over the whole validation split."""
    confident = probs.max(axis=1) >= thresholds.confident
    return np.where(similarity < thresholds.similarity, 2, np.where(confident, 0, 1))


_VERDICTS: tuple[Verdict, ...] = ("confident", "unsure", "unknown")


class Recognizer:
    """A loaded bundle, ready to name faces. ``threads`` caps ONNX Runtime's intra-op threads."""

    def __init__(self, bundle: str | os.PathLike[str], top_k: int = 5, threads: int | None = None,
                 detect_max_side: int = 1024, limits: DecodeLimits = DecodeLimits()):
        self.path = Path(bundle)
        self.manifest: Manifest = load_manifest(self.path)
        self.top_k = max(1, min(top_k, len(self.manifest.labels)))
        self.detect_max_side = detect_max_side
        self.limits = limits
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._net = ort.InferenceSession(str(self.path / MODEL_FILE), options, providers=["CPUExecutionProvider"])
            self._svm = ort.InferenceSession(str(self.path / FALLBACK_FILE), options,
                                             providers=["CPUExecutionProvider"])
            self._prototypes = np.load(self.path / PROTOTYPES_FILE, allow_pickle=False).astype(np.float32)
        except Exception as exc:  # onnxruntime raises its own untyped errors for broken graphs
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
        if (logits.shape[1] != self.manifest.n_network or probs.shape[1] != n or self._prototypes.shape != (n, d)
                or embedding.shape[1] != d):
            raise BundleError(f"{self.path} is inconsistent: {n} labels ({self.manifest.n_network} for the network) "
                              f"in the manifest but the models give {logits.shape[1]} and {probs.shape[1]} classes")

    @property
    def version(self) -> str:
        return f"{self.path.name}@{self.manifest.created_at}"

    def recognize(self, picture: bytes | Image.Image, classify_whole: bool = True) -> Recognition:
        """Every face in ``picture`` (bytes of an image file, or a PIL image), in reading order.

        Raises :class:`recognizer.images.ImageError` for bytes that are not a usable picture. When no face
        is found and ``classify_whole`` is set, the whole picture is classified as one face, flagged
        ``whole_picture`` (people often send a picture that is already a face crop).
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        image = decode_image(picture, self.limits) if isinstance(picture, bytes) else picture.convert("RGB")
        timings["decode"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        detected = detect_faces(image, max_side=self.detect_max_side)
        timings["detect"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        crops = [crop_face(image, f.box, self.manifest.framing) for f in detected]
        boxes = [f.box for f in detected]
        scores: list[float | None] = [f.score for f in detected]
        if not detected and classify_whole:
            crops, boxes, scores = [image], [Box(0, 0, image.width, image.height)], [None]
        decisions = self.classify(crops)
        timings["recognize"] = (time.perf_counter() - start) * 1000
        faces = [Face(box, decision, score, crop) for box, decision, score, crop in zip(boxes, decisions, scores, crops)]
        return Recognition(faces, image.width, image.height, len(detected), self.version, timings)

    def classify(self, crops: list[Image.Image]) -> list[Decision]:
        """Decisions for face crops already cut out, in one batch."""
        if not crops:
            return []
        m = self.manifest
        logits, embedding = self._net.run(["logits", "embedding"], {"image": to_batch(crops, m.input_size, m.mean, m.std)})
        return self.decide(logits, embedding)

    def decide(self, logits: np.ndarray, embedding: np.ndarray) -> list[Decision]:
        """Decisions from the network's raw outputs (used by evaluation, which batches its own crops)."""
        unit = l2_normalize(embedding)
        _, fallback = self._svm.run(None, {self._svm.get_inputs()[0].name: unit})
        m = self.manifest
        enrolled = m.n_network < len(m.labels)
        defer = defer_to_enrolled(fallback, unit @ self._prototypes.T, m.n_network) if enrolled else None
        use_primary, probs = route(pad_primary(logits, len(m.labels)), fallback, m.thresholds.primary, defer)
        similarity = np.einsum("nd,nd->n", unit, self._prototypes[probs.argmax(axis=1)])
        codes = verdicts(probs, similarity, m.thresholds)
        labels = m.labels
        decisions = []
        for row, first, verdict, sim in zip(probs, use_primary, codes, similarity):
            top = np.argsort(-row)[: self.top_k]
            candidates = [Candidate(labels[i].id, labels[i].name, float(row[i])) for i in top]
            decisions.append(Decision(candidates, "primary" if first else "fallback", _VERDICTS[verdict], float(sim)))
        return decisions


def face_to_dict(face: Face) -> dict:
    """The JSON shape of a face, shared by the CLI and the HTTP API."""
    return {
        "box": face.box.as_list(), "label": face.label, "name": face.name, "confidence": round(face.confidence, 4),
        "verdict": face.verdict, "model": face.model, "similarity": round(face.similarity, 4),
        "whole_picture": face.whole_picture,
        "candidates": [{"label": c.label, "name": c.name, "probability": round(c.probability, 4)}
                       for c in face.candidates],
    }


def recognition_to_dict(result: Recognition) -> dict:
    return {"width": result.width, "height": result.height, "faces_detected": result.faces_detected,
            "bundle": result.bundle, "faces": [face_to_dict(f) for f in result.faces],
            "timings_ms": {k: round(v, 1) for k, v in result.timings_ms.items()}}
