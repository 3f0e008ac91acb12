"""The decision rule: which model answers a face, with what probabilities, and how far to trust it.

Vectorised over arrays, so that the engine runs it on a picture's faces and training runs it over a whole
calibration split to choose the thresholds (``darekana.train.calibrate``): one rule, in one place.

For each face the network's softmax answers when its top-1 probability reaches the bundle's ``primary``
threshold; otherwise the fallback SVM on the embedding answers. The verdict then says how far to trust the
answer: ``unknown`` when the embedding is further than ``distance`` from the answer's class centre
(``darekana.recognizer.centres``: open-set rejection), ``confident`` at or above the ``confident``
probability, ``unsure`` between.

Characters enrolled after training (``manifest.network_labels``) have no logit, and the SVM, fitted on
hundreds of faces of each known character, seldom picks one seen in a few crops. So the centres decide: a
face goes to an enrolled character when its centre, brought nearer by the bundle's ``enrolled_margin``, is
the nearest of all, and the centre model's probabilities answer for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bundle import Thresholds
from .results import Model, Verdict


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def centre_probabilities(distances: np.ndarray, temperature: float) -> np.ndarray:
    """The centre model's probabilities: a softmax over negative squared distances, its temperature fitted
    on validation faces at training time (``darekana.train.calibrate``)."""
    return softmax(-(distances**2) / temperature)


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
