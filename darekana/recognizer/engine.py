"""Picture in, named faces out: the recognizer that the bot, the CLI and evaluation all use.

::

    >>> from darekana.train.shared import DATASETS
    >>> rec = Recognizer(BUNDLE)  # a bundle directory, such as models/animeface-10 (`make run` trains it)
    >>> result = rec.recognize((DATASETS / "animeface-10/000_hatsune_miku/SFpLpPSK_400x400.jpg").read_bytes())
    >>> [f.name for f in result.faces]
    ['Hatsune Miku']

Every face of a picture goes through the network in one batch on ONNX Runtime (CPU); the decision rule
(``darekana.recognizer.decision``) names it and says how far to trust the name, and the answer is a
``darekana.recognizer.results.Recognition``. A ``Recognizer`` is safe to call from many threads: ONNX Runtime
sessions are, and the rest holds no mutable state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from threadpoolctl import ThreadpoolController

from .bundle import BundleError, Label, Manifest, Thresholds, bundle_version, load_manifest
from .centres import load_centres
from .decision import (
    centre_spread,
    confident_threshold,
    enrolment_margins,
    l2_normalize,
    may_be_confident,
    pad_primary,
    route,
    verdicts,
)
from .detect import Box, DetectedFace, crop_face
from .detectors import open_detector
from .embeddings import Embedded, calibration_faces, load_embeddings
from .extra import ExtraCharacters, mean_centres
from .gallery import Gallery, load_gallery
from .images import ORIGINAL_SIZE, DecodeLimits, TooSlow, decode_image
from .layout import CENTRES_FILE, FALLBACK_FILE, GALLERY_FILE, MODEL_FILE
from .onnx import open_session
from .preprocess import to_batch
from .results import TOP_K, Candidate, Decision, Face, Model, Recognition, Verdict

EMBED_BATCH = 64  # faces through the network at once


@cache
def _blas() -> ThreadpoolController:
    """numpy's BLAS, held to one thread while faces are decided: a picture's products are a few vectors
    against the centres, too small for threads to pay, and BLAS threads woken beside ONNX Runtime's fight
    them for the cores (one face's distances to its centres: 14.8 ms on two threads against 0.13 ms on one,
    on a 2-core machine busy training; two tagging workers ran no faster than one on 2 cores, each starting a
    BLAS thread a core). Found once: the controller scans the loaded libraries."""
    return ThreadpoolController()


class Recognizer:
    """A loaded bundle, ready to name faces. ``threads`` caps ONNX Runtime's intra-op threads per call.
    ``detection`` overrides the bundle's detector options (``DetectorSpec`` fields: ``score``, ``sure``,
    ``nms_iou``, ``max_side``, ``scales``); the detector itself stays the one the framing was measured with."""

    def __init__(
        self,
        bundle: str | os.PathLike[str],
        top_k: int = TOP_K,
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
        background = self._centres.background
        if background is not None and background.origin.shape != (d,):
            raise BundleError(f"{self.path}/{CENTRES_FILE}: its background does not fit the embedding")
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
        self,
        picture: bytes | Image.Image,
        classify_whole: bool = True,
        deadline: float | None = None,
        extra: ExtraCharacters | None = None,
    ) -> Recognition:
        """Every face in ``picture`` (bytes of an image file, or a PIL image), in reading order.

        Raises :class:`darekana.recognizer.images.ImageError` for bytes that are not a usable picture, and
        :class:`TooSlow` when ``time.monotonic()`` passes ``deadline`` between two stages. When no face is
        found and ``classify_whole`` is set, the whole picture is classified as one face, flagged
        ``whole_picture`` (people often send a picture that is already a face crop). Boxes, width and height
        are in the picture's own pixels, also when a large JPEG was decoded at a smaller scale. ``extra``:
        characters beyond the bundle's that the faces may also be (:meth:`extra_characters`).
        """
        start = time.perf_counter()
        if isinstance(picture, bytes):
            image = decode_image(picture, self.limits)
        else:  # not copied when it is RGB already: nothing here draws on it
            image = picture if picture.mode == "RGB" else picture.convert("RGB")
        decoded = (time.perf_counter() - start) * 1000
        _on_time(deadline)
        (result,) = self._recognize_images([image], classify_whole, deadline, extra)
        return replace(result, timings_ms={"decode": decoded, **result.timings_ms})

    def recognize_many(self, images: list[Image.Image], classify_whole: bool = True) -> list[Recognition]:
        """:meth:`recognize` for pictures already decoded (``decode_image``), their faces through the network
        in one batch: the batch tagger's way, where throughput counts and no deadline applies. Each
        recognition's timings are the whole batch's."""
        return self._recognize_images(images, classify_whole, None, None)

    def _recognize_images(
        self,
        images: list[Image.Image],
        classify_whole: bool,
        deadline: float | None,
        extra: ExtraCharacters | None,
    ) -> list[Recognition]:
        timings: dict[str, float] = {}
        start = time.perf_counter()
        images = [image if image.mode == "RGB" else image.convert("RGB") for image in images]
        detected = [self.detector.detect(image) for image in images]
        timings["detect"] = (time.perf_counter() - start) * 1000
        _on_time(deadline)
        start = time.perf_counter()
        crops = [self._crops(image, faces, classify_whole) for image, faces in zip(images, detected)]
        decisions = iter(self.classify([crop for picture in crops for crop in picture], extra))
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
                Face.of(_doubted(d) if not f.sure else d, f.box, f.score, crop, f.sure)
                for f, (crop, d) in zip(detected, answered)
            ]
        else:
            faces = [Face.of(d, Box(0, 0, image.width, image.height), None, crop) for crop, d in answered]
        width, height = image.info.get(ORIGINAL_SIZE, image.size)
        if (width, height) != image.size:  # decoded at a smaller scale: boxes back in the picture's pixels
            sx, sy = width / image.width, height / image.height
            faces = [replace(f, box=f.box.scaled(sx, sy)) for f in faces]
        return Recognition(faces, width, height, len(detected), self.version, dict(timings))

    def classify(self, crops: list[Image.Image], extra: ExtraCharacters | None = None) -> list[Decision]:
        """Decisions for face crops already cut out, in one batch."""
        return self.decide(*self.embed(crops), extra) if crops else []

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

    def decide(self, logits: np.ndarray, embedding: np.ndarray, extra: ExtraCharacters | None = None) -> list[Decision]:
        """Decisions from the network's raw outputs (used by evaluation, which batches its own crops); with
        ``extra``, its characters are answerable too (:meth:`extra_characters`)."""
        with _blas().limit(limits=1, user_api="blas"):
            return self._decide(logits, embedding, extra)

    def _decide(self, logits: np.ndarray, embedding: np.ndarray, extra: ExtraCharacters | None) -> list[Decision]:
        unit = l2_normalize(embedding)
        labels, thresholds, distances = self._answerable(unit, extra)
        primary = pad_primary(logits, len(labels))
        fallback = self._fallback(unit, primary, thresholds.primary)
        routed = route(primary, fallback, distances, self.manifest.n_network, thresholds, centre_spread(labels))
        codes = verdicts(routed, thresholds, may_be_confident(labels))
        answers = routed.probs.argmax(axis=1)
        gallery = self._gallery
        shown = gallery.nearest(answers, unit) if gallery is not None else np.full(len(unit), -1)
        decisions = []
        for row, model, verdict, distance, entry, face in zip(
            routed.probs, routed.model, codes, routed.distance, shown, unit
        ):
            candidates = self._candidates(row, labels)
            evidence = None
            if gallery is not None and entry >= 0 and verdict != Verdict.UNKNOWN.code:
                evidence = gallery.evidence(entry, candidates[0].label, face)
            decisions.append(
                Decision(candidates, list(Model)[model], list(Verdict)[verdict], float(distance), evidence)
            )
        return decisions

    def _fallback(self, unit: np.ndarray, primary: np.ndarray, threshold: float) -> np.ndarray:
        """The fallback SVM's probabilities, padded as ``primary``, for the faces whose network answer is
        below ``threshold``: the only ones ``route`` reads them for. The rest stay zero: the SVM took a fifth
        of a face's time on one core (3 of 16 ms, ``bench/latency.py --threads 1``), and most faces never
        need it."""
        fallback = np.zeros_like(primary)
        unsure = primary.max(axis=1) < threshold
        if unsure.any():
            _, probs = self._svm.run(None, {self._svm.get_inputs()[0].name: unit[unsure]})
            fallback[unsure, : probs.shape[1]] = probs
        return fallback

    def _candidates(self, probs: np.ndarray, labels: Sequence[Label]) -> list[Candidate]:
        """The ``top_k`` best answers, each character once: one an extra character shares with the bundle is
        named by whichever of the two is nearer."""
        candidates: dict[str, Candidate] = {}
        for i in np.argsort(-probs):
            if len(candidates) == self.top_k:
                break
            if labels[i].id not in candidates:
                candidates[labels[i].id] = Candidate(labels[i].id, labels[i].name, float(probs[i]))
        return list(candidates.values())

    def _answerable(
        self, unit: np.ndarray, extra: ExtraCharacters | None
    ) -> tuple[list[Label], Thresholds, np.ndarray]:
        """Every label a face may be answered with, the thresholds, and the face's distance to each."""
        m = self.manifest
        if extra is None:
            return m.labels, m.thresholds, self._centres.distances(unit)
        if extra.network != self.network:
            raise ValueError("these extra characters were embedded with another network: embed their crops again")
        distances = np.concatenate([self._centres.distances(unit), self._extra_distances(unit, extra.means)], axis=1)
        return [*m.labels, *extra.labels], extra.thresholds, distances

    def _extra_distances(self, unit: np.ndarray, means: np.ndarray) -> np.ndarray:
        return self._centres.with_means(means).distances(unit)

    @property
    def network(self) -> str:
        """The checksum of the bundle's network: extra characters' centres belong to it."""
        return self.manifest.checksums.get(MODEL_FILE, "")

    def extra_characters(
        self, labels: Sequence[Label], crops: Sequence[Image.Image], owners: Sequence[int]
    ) -> ExtraCharacters:
        """Characters this bundle does not hold, from face crops (``owners``: which of ``labels`` each crop
        shows), to pass to :meth:`recognize` or :meth:`decide` (``darekana.recognizer.extra``)."""
        if not crops:
            raise ValueError(f"each of the {len(labels)} characters needs crops")
        _, embedding = self.embed(list(crops))
        means = mean_centres(l2_normalize(embedding), owners, len(labels))
        counts = np.bincount(np.asarray(owners), minlength=len(labels))
        counted = tuple(replace(label, crops=int(c)) for label, c in zip(labels, counts))
        return ExtraCharacters(counted, means, self.network, self._extra_thresholds(counted, means))

    def rethreshold(self, extra: ExtraCharacters) -> ExtraCharacters:
        """``extra``, embedded with this bundle's network, with thresholds chosen for this bundle."""
        if extra.network != self.network:
            raise ValueError("these extra characters were embedded with another network: embed their crops again")
        return replace(extra, thresholds=self._extra_thresholds(extra.labels, extra.means))

    def _extra_thresholds(self, labels: Sequence[Label], means: np.ndarray) -> Thresholds:
        """The bundle's thresholds with those enrolment chooses (``enrolled_margin``, ``doubt``, ``confident``)
        chosen again on its calibration faces with these centres added; without calibration faces kept, extra
        characters' answers are never confident (``doubt`` None)."""
        m = self.manifest
        calibration = self._calibration_faces()
        if calibration is None:
            return replace(m.thresholds, doubt=None)
        logits, unit, targets = calibration.logits, calibration.unit, calibration.targets
        distances = np.concatenate([self._centres.distances(unit), self._extra_distances(unit, means)], axis=1)
        margin, doubt = enrolment_margins(distances, m.n_network)
        chosen = replace(m.thresholds, enrolled_margin=margin, doubt=doubt)
        primary = pad_primary(logits, distances.shape[1])
        every = [*m.labels, *labels]
        fallback = self._fallback(unit, primary, chosen.primary)
        routed = route(primary, fallback, distances, m.n_network, chosen, centre_spread(every))
        allowed = may_be_confident(every)
        return replace(chosen, confident=confident_threshold(routed, targets, chosen, allowed=allowed))

    def _calibration_faces(self) -> Embedded | None:
        """The faces the bundle chose its thresholds on (``calibration_faces``), or None when it kept none
        that fit it."""
        parts = load_embeddings(self.path, self.manifest.n_network, self.manifest.embedding_dim)
        faces = calibration_faces(parts) if parts is not None else None
        return faces if faces is not None and len(faces.targets) else None


def _on_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise TooSlow()


def _doubted(decision: Decision) -> Decision:
    """A face the detector is not sure of is at most "unsure", however sure the classifier is of the name."""
    return replace(decision, verdict=Verdict.UNSURE) if decision.verdict is Verdict.CONFIDENT else decision
