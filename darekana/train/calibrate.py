"""Choosing the bundle's decision thresholds on calibration faces (of source pictures neither training nor
early stopping saw), with the engine's own decision rule; and checking on other faces what they promise."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from darekana.recognizer.bundle import Thresholds
from darekana.recognizer.decision import Routed, centre_probabilities, route, verdicts
from darekana.recognizer.results import Model, Verdict

# A face the network gives under 30 % always goes to the fallback, and no answer under 50 % is "confident",
# however a small calibration split happens to fall.
PRIMARY_GRID = np.round(np.arange(0.3, 0.975, 0.025), 3)
CONFIDENT_GRID = np.round(np.arange(0.5, 0.995, 0.01), 3)
TEMPERATURE_GRID = np.logspace(-2, 2, 81)
# What the verdicts promise: known faces called "unknown" at this rate, "confident" answers right this often.
FALSE_REJECTION = 0.05
PRECISION = 0.99
MIN_CONFIDENT_SHARE = 0.1
# With enrolled characters: the share of known calibration faces whose answer an enrolled centre nearly as
# near makes "unsure" (``Thresholds.doubt``), and the share of them the enrolment margin sends to an enrolled
# character. bench/enroll.py measured both against what they cost (docs/benchmarks.md).
DOUBT = 0.2
TO_ENROLLED = 0.02


@dataclass(frozen=True)
class Outputs:
    """What a bundle's models say about a set of faces: the network's probabilities padded to every label
    (``darekana.recognizer.engine.pad_primary``), the fallback SVM's, and each face's distance to every centre;
    ``n_network``: how many labels, the first ones, the network knows."""

    primary: np.ndarray
    fallback: np.ndarray
    distances: np.ndarray
    n_network: int

    def routed(self, thresholds: Thresholds) -> Routed:
        return route(self.primary, self.fallback, self.distances, self.n_network, thresholds)


def choose_thresholds(
    faces: Outputs,
    targets: np.ndarray,
    false_rejection: float = FALSE_REJECTION,
    precision: float = PRECISION,
    to_enrolled: float = TO_ENROLLED,
) -> tuple[Thresholds, dict[str, float]]:
    """``temperature``: the centre model's, by likelihood. ``enrolled_margin``: sends ``to_enrolled`` of the
    known calibration faces to an enrolled character. ``primary``: the routing threshold with the best
    calibration top-1 (the lowest on ties: the network is the stronger model). ``distance``: rejects
    ``false_rejection`` of known calibration faces. ``confident``: the lowest probability above which answers
    are right at least ``precision`` of the time. ``doubt``, with enrolled characters: the gap between the
    nearest enrolled and nearest known centre below which ``DOUBT`` of the known calibration faces fall."""
    chosen = Thresholds(
        temperature=_temperature(faces.distances, targets), enrolled_margin=_enrolled_margin(faces, to_enrolled)
    )
    accuracy = [_top1(faces.routed(replace(chosen, primary=float(t))), targets) for t in PRIMARY_GRID]
    chosen = replace(chosen, primary=float(PRIMARY_GRID[int(np.argmax(accuracy))]))
    routed = faces.routed(chosen)
    chosen = replace(chosen, distance=float(np.quantile(routed.distance, 1 - false_rejection)))
    if faces.distances.shape[1] > faces.n_network:
        chosen = replace(chosen, doubt=float(np.quantile(routed.gap, DOUBT)))
    right = routed.probs.argmax(1) == targets
    # judged on the faces the threshold decides: those the distance calls unknown, and (with enrolled
    # characters) those an enrolled centre leaves in doubt, are never confident whatever their probability
    eligible = verdicts(routed, replace(chosen, confident=0.0)) == Verdict.CONFIDENT.code
    chosen = replace(chosen, confident=_confident(routed.probs[eligible], right[eligible], precision))
    verdict = verdicts(routed, chosen)
    confident = verdict == Verdict.CONFIDENT.code
    stats = {
        "calibration_top1_routed": float(max(accuracy)),
        "calibration_false_rejection": float((verdict == Verdict.UNKNOWN.code).mean()),
        "calibration_confident_share": float(confident.mean()),
        "calibration_confident_precision": float(right[confident].mean()) if confident.any() else 0.0,
        "calibration_to_enrolled": float((routed.model == Model.CENTRES.code).mean()),
    }
    return chosen, stats


def _temperature(distances: np.ndarray, targets: np.ndarray) -> float:
    rows = np.arange(len(targets))
    loss = [-np.log(centre_probabilities(distances, t)[rows, targets] + 1e-12).mean() for t in TEMPERATURE_GRID]
    return float(TEMPERATURE_GRID[int(np.argmin(loss))])


def _enrolled_margin(faces: Outputs, share: float) -> float:
    n = faces.n_network
    if faces.distances.shape[1] == n:
        return 0.0
    gap = faces.distances[:, n:].min(axis=1) - faces.distances[:, :n].min(axis=1)  # below the margin: enrolled
    return float(np.quantile(gap, share))


def _confident(probs: np.ndarray, right: np.ndarray, precision: float) -> float:
    """The lowest threshold whose answers reach ``precision``; where none does, the one whose answers come
    nearest, among those that still call at least ``MIN_CONFIDENT_SHARE`` of the faces confident (on faces
    the network never saw, 99 % can be out of reach: a bot that is never confident would help nobody, and
    the report says what "confident" delivers)."""
    if not len(probs):
        return float(CONFIDENT_GRID[-1])
    top = probs.max(1)
    best, nearest = float(CONFIDENT_GRID[-1]), -1.0
    for c in CONFIDENT_GRID:
        answered = top >= c
        if answered.mean() < MIN_CONFIDENT_SHARE:
            break  # the grid rises: fewer answers from here on, and their precision is noise
        reached = float(right[answered].mean())
        if reached >= precision:
            return float(c)
        if reached > nearest:
            best, nearest = float(c), reached
    return best


def _top1(routed: Routed, targets: np.ndarray) -> float:
    return float((routed.probs.argmax(1) == targets).mean())
