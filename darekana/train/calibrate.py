"""Choosing the bundle's decision thresholds on calibration faces (of source pictures neither training nor
early stopping saw), with the engine's own decision rule (``darekana.recognizer.decision``, which also holds
what "confident" promises and how its threshold is chosen, shared with extra characters)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from darekana.recognizer.bundle import Thresholds
from darekana.recognizer.decision import (
    PRECISION,
    TO_ENROLLED,
    Routed,
    centre_probabilities,
    confident_threshold,
    enrolment_margins,
    route,
    verdicts,
)
from darekana.recognizer.results import Model, Verdict

# A face the network gives under 30 % always goes to the fallback, however a small calibration split falls.
PRIMARY_GRID = np.round(np.arange(0.3, 0.975, 0.025), 3)
TEMPERATURE_GRID = np.logspace(-2, 2, 81)
# What the verdicts promise: known faces called "unknown" at this rate ("confident" answers: PRECISION).
FALSE_REJECTION = 0.05


@dataclass(frozen=True)
class Outputs:
    """What a bundle's models say about a set of faces: the network's probabilities padded to every label
    (``darekana.recognizer.engine.pad_primary``), the fallback SVM's, and each face's distance to every centre;
    ``n_network``: how many labels, the first ones, the network knows."""

    primary: np.ndarray
    fallback: np.ndarray
    distances: np.ndarray
    n_network: int
    allowed: np.ndarray | None = None  # per label, whether its answers may be confident (``may_be_confident``)
    spread: np.ndarray | None = None  # per label, how far its faces lie from its centre (``centre_spread``)

    def routed(self, thresholds: Thresholds) -> Routed:
        return route(self.primary, self.fallback, self.distances, self.n_network, thresholds, self.spread)


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
    are right at least ``precision`` of the time, counted as ``choose_confident`` counts. ``doubt``, with
    enrolled characters: the gap between the nearest enrolled and nearest known centre below which ``DOUBT``
    of the known calibration faces fall."""
    enrolled = faces.distances.shape[1] > faces.n_network
    margin, doubt = enrolment_margins(faces.distances, faces.n_network, to_enrolled) if enrolled else (0.0, None)
    chosen = Thresholds(temperature=_temperature(faces.distances, targets), enrolled_margin=margin)
    accuracy = [_top1(faces.routed(replace(chosen, primary=float(t))), targets) for t in PRIMARY_GRID]
    chosen = replace(chosen, primary=float(PRIMARY_GRID[int(np.argmax(accuracy))]))
    routed = faces.routed(chosen)
    chosen = replace(chosen, distance=rejecting(routed.distance, false_rejection))
    chosen = replace(chosen, doubt=doubt)
    right = routed.probs.argmax(1) == targets
    chosen = replace(chosen, confident=confident_threshold(routed, targets, chosen, precision, faces.allowed))
    verdict = verdicts(routed, chosen, faces.allowed)
    confident = verdict == Verdict.CONFIDENT.code
    stats = {
        "calibration_top1_routed": float(max(accuracy)),
        "calibration_false_rejection": float((verdict == Verdict.UNKNOWN.code).mean()),
        "calibration_confident_share": float(confident.mean()),
        "calibration_confident_precision": float(right[confident].mean()) if confident.any() else 0.0,
        "calibration_to_enrolled": float((routed.model == Model.CENTRES.code).mean()),
    }
    return chosen, stats


def rejecting(distances: np.ndarray, share: float) -> float:
    """The distance beyond which ``share`` of new faces like these fall: the order statistic at ``(1 − share)(n + 1)``
    (numpy's "weibull" quantile), whose expected coverage of a new face is exactly ``1 − share``. numpy's
    default interpolates at ``(1 − share)(n − 1) + 1`` and so rejects more: on 300 random halvings of a
    10-character bundle's 224 calibration and test faces, 5.8 % of the other half's known faces on average against
    5.1 % (docs/benchmarks.md, "int8 faces")."""
    return float(np.quantile(distances, 1 - share, method="weibull"))


def _temperature(distances: np.ndarray, targets: np.ndarray) -> float:
    rows = np.arange(len(targets))
    loss = [-np.log(centre_probabilities(distances, t)[rows, targets] + 1e-12).mean() for t in TEMPERATURE_GRID]
    return float(TEMPERATURE_GRID[int(np.argmin(loss))])


def _top1(routed: Routed, targets: np.ndarray) -> float:
    return float((routed.probs.argmax(1) == targets).mean())
