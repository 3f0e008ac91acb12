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
the nearest of all, and the centre model's probabilities answer for it. Its distance for ``unknown`` is taken
over its centre's spread (``centre_spread``: a centre of k crops lies √(1 + 1/k) times as far from its faces).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .bundle import Label, Thresholds
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
    return pad_labels(softmax(logits), n_labels)


def pad_labels(probs: np.ndarray, n_labels: int) -> np.ndarray:
    """Probabilities over the first labels, zero for those beyond (characters a model does not hold)."""
    return np.pad(probs, ((0, 0), (0, n_labels - probs.shape[1])))


def enrolled_nearer(distances: np.ndarray, n_network: int, margin: float) -> np.ndarray:
    """``distances`` with those to enrolled centres (labels from ``n_network`` on) less ``margin`` (floored
    at 0): the enrolment margin, chosen on calibration faces (``enrolment_margins``)."""
    adjusted = distances.copy()
    adjusted[:, n_network:] = np.maximum(adjusted[:, n_network:] - margin, 0)
    return adjusted


# What "confident" promises: answers right this often; and a bot that is never confident would help nobody,
# so at least this share of answers stay confident where the promise is out of reach. No answer under 50 %
# is confident, however a small calibration split happens to fall.
PRECISION = 0.99
MIN_CONFIDENT_SHARE = 0.1
CONFIDENT_GRID = np.round(np.arange(0.5, 0.995, 0.01), 3)
# With enrolled characters: the share of known calibration faces the enrolment margin sends to an enrolled
# character, and the share whose answer an enrolled centre nearly as near makes "unsure" (``Thresholds.doubt``).
# bench/enroll.py measured both against what they cost (docs/benchmarks.md). A larger share names more of the
# enrolled characters' faces (5 %: 0.86 from 5 crops instead of 0.77-0.82, on two draws of characters), but takes
# that share of known answers however few characters are enrolled; counting every character as asked about as
# often, 2-3 % gave the best top-1 over known and enrolled characters together on all four held-out networks.
TO_ENROLLED = 0.02
DOUBT = 0.2
# A character enrolled from fewer crops never answers "confident": from one crop its confident answers were
# right 88 % of the time, from two 95.7 %, from five 97.3 % (``bench/enroll.py``, docs/benchmarks.md).
MIN_CONFIDENT_CROPS = 2


def centre_spread(labels: Sequence[Label]) -> np.ndarray:
    """Per label, how much further its own faces lie from its centre than a known character's lie from theirs.
    A centre made from k crops is itself off its character's mean by about 1/k of the faces' spread, so their
    faces lie about sqrt(1 + 1/k) times as far from it (bench/enroll.py: the spread of a character's crops
    around their mean foretold its other faces' distances, the ratio's median 0.94–1.08 from 2 to 20 crops).
    The characters the network learned, with centres of hundreds of faces: 1."""
    return np.array([1.0 if label.crops is None else math.sqrt(1 + 1 / max(label.crops, 1)) for label in labels])


def may_be_confident(labels: Sequence[Label]) -> np.ndarray:
    """Per label, whether its answers may be "confident" (``MIN_CONFIDENT_CROPS``)."""
    return np.array([label.crops is None or label.crops >= MIN_CONFIDENT_CROPS for label in labels], dtype=bool)


def enrolled_gap(distances: np.ndarray, n_network: int) -> np.ndarray:
    """How much further the nearest enrolled centre is than the nearest known one (inf: none enrolled)."""
    return distances[:, n_network:].min(axis=1, initial=np.inf) - distances[:, :n_network].min(axis=1)


def enrolment_margins(
    distances: np.ndarray, n_network: int, to_enrolled: float = TO_ENROLLED, doubt: float = DOUBT
) -> tuple[float, float]:
    """``enrolled_margin`` and ``doubt`` for the centres of ``distances`` (known calibration faces to every
    centre, enrolled ones from ``n_network`` on): the quantiles ``to_enrolled`` and ``doubt`` of the gap."""
    gap = enrolled_gap(distances, n_network)
    return float(np.quantile(gap, to_enrolled)), float(np.quantile(gap, doubt))


@dataclass(frozen=True)
class Routed:
    """Which model answers each face, with what probabilities, and how far each face is from its answer."""

    probs: np.ndarray  # (N, C)
    model: np.ndarray  # (N,) Model codes
    distance: np.ndarray  # (N,)
    gap: np.ndarray  # (N,) nearest enrolled centre's distance less the nearest known one's (inf: none enrolled)


def route(
    primary: np.ndarray,
    fallback: np.ndarray,
    distances: np.ndarray,
    n_network: int,
    thresholds: Thresholds,
    spread: np.ndarray | None = None,
) -> Routed:
    """The engine's decision rule over arrays (vectorised: training calibrates the thresholds by running it
    over the whole calibration split). ``primary`` is padded to every label (``pad_primary``).

    The enrolment margin routes: it decides which faces an enrolled centre answers. The distance that says
    "unknown" is each face's distance to its answer's centre over that label's ``spread`` (``centre_spread``;
    None: all 1): a centre of a few crops lies further from its character's faces than one of hundreds, and
    by how much follows from the number of crops, where the margin says only how near the known characters'
    faces come to it (``bench/enroll.py``: judged with the margin, 3.7 to 18.0 % of the faces of characters
    enrolled from 5 crops were called unknown, depending on the network; by the spread, 4.8 to 10.1 %)."""
    gap = enrolled_gap(distances, n_network)
    routing = enrolled_nearer(distances, n_network, thresholds.enrolled_margin)
    enrolled = routing.argmin(axis=1) >= n_network
    use_primary = (primary.max(axis=1) >= thresholds.primary) & ~enrolled
    probs = np.where(use_primary[:, None], primary, fallback)
    if enrolled.any():
        probs[enrolled] = centre_probabilities(routing[enrolled], thresholds.temperature)
    model = np.where(enrolled, Model.CENTRES.code, np.where(use_primary, Model.PRIMARY.code, Model.FALLBACK.code))
    judged = distances if spread is None else distances / spread[None, :]
    return Routed(probs, model, judged[np.arange(len(probs)), probs.argmax(axis=1)], gap)


def verdicts(routed: Routed, thresholds: Thresholds, allowed: np.ndarray | None = None) -> np.ndarray:
    """Verdict codes (``Verdict.code``). With enrolled characters, an answer is confident only when no
    enrolled centre is within ``thresholds.doubt`` of the nearest known one, or when it is an enrolled
    character's (``bench/enroll.py``: with the margins ``darekana.train.calibrate`` chooses, confident answers
    on characters the network never saw, enrolled from 5 crops, were right 98.6 % of the time). Bundles
    without ``doubt`` never call an enrolled character's answer confident, nor is the answer of a label that
    ``allowed`` (``may_be_confident``) rules out."""
    confident = routed.probs.max(axis=1) >= thresholds.confident
    if allowed is not None:
        confident &= allowed[routed.probs.argmax(axis=1)]
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


def confident_threshold(
    routed: Routed,
    targets: np.ndarray,
    thresholds: Thresholds,
    precision: float = PRECISION,
    allowed: np.ndarray | None = None,
) -> float:
    """The ``confident`` threshold for calibration faces ``routed`` under ``thresholds``, judged on the faces
    it decides: those the distance calls unknown, and (with enrolled characters) those an enrolled centre
    leaves in doubt, are never confident whatever their probability."""
    right = routed.probs.argmax(1) == targets
    eligible = verdicts(routed, replace(thresholds, confident=0.0), allowed) == Verdict.CONFIDENT.code
    return choose_confident(routed.probs[eligible], right[eligible], precision)


def choose_confident(probs: np.ndarray, right: np.ndarray, precision: float) -> float:
    """The lowest threshold whose answers reach ``precision``; where none does, the one whose answers come
    nearest, among those that still call at least ``MIN_CONFIDENT_SHARE`` of the faces confident (on faces
    the network never saw, 99 % can be out of reach: a bot that is never confident would help nobody, and
    the report says what "confident" delivers). Precision is counted with one right and one wrong answer
    added (Laplace's rule): the lowest of fifty thresholds to reach 99 % on a hundred faces has mostly
    been lucky, and on a 10-character set it promised 99 % and delivered 97 % on new faces."""
    if not len(probs):
        return float(CONFIDENT_GRID[-1])
    top = probs.max(1)
    best, nearest = float(CONFIDENT_GRID[-1]), -1.0
    for c in CONFIDENT_GRID:
        answered = top >= c
        if answered.mean() < MIN_CONFIDENT_SHARE:
            break  # the grid rises: fewer answers from here on, and their precision is noise
        reached = float((right[answered].sum() + 1) / (answered.sum() + 2))
        if reached >= precision:
            return float(c)
        if reached > nearest:
            best, nearest = float(c), reached
    return best
