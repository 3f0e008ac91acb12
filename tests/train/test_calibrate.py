"""Threshold choice on validation outputs, with the engine's own decision rule."""

from __future__ import annotations

import numpy as np

from darekana.recognizer.bundle import Thresholds
from darekana.recognizer.decision import DOUBT, MIN_CONFIDENT_SHARE, choose_confident, enrolled_nearer, route, verdicts
from darekana.train.calibrate import Outputs, choose_thresholds, rejecting
from darekana.train.fallback import fit_centres


def _one_hot_ish(predicted: np.ndarray, confidence: np.ndarray, n: int) -> np.ndarray:
    probs = np.full((len(predicted), n), 0.0)
    probs += ((1 - confidence) / (n - 1))[:, None]
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_thresholds_follow_validation_behaviour():
    rng = np.random.default_rng(0)
    n, classes, dim = 400, 4, 16
    targets = rng.integers(0, classes, n)
    # The network is right and sure on 80 %; on the rest it is unsure and wrong, where the fallback is right.
    sure = rng.random(n) < 0.8
    primary_pred = np.where(sure, targets, (targets + 1) % classes)
    primary = _one_hot_ish(primary_pred, np.where(sure, 0.95, 0.4), classes)
    fallback = _one_hot_ish(targets, np.full(n, 0.7), classes)
    unit = np.eye(classes, dim)[targets] + 0.3 * rng.normal(size=(n, dim))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    centres = fit_centres(unit, targets, classes)
    thresholds, stats = choose_thresholds(
        Outputs(primary, fallback, centres.distances(unit), classes), targets, false_rejection=0.05
    )
    assert 0.4 < thresholds.primary <= 0.95  # the unsure 40 % answers go to the fallback
    assert stats["calibration_top1_routed"] == 1.0
    assert abs(stats["calibration_false_rejection"] - 0.05) < 0.02
    assert thresholds.confident >= 0.5 and stats["calibration_confident_precision"] >= 0.97


def test_verdict_rule():
    routed = route(
        np.array([[0.9, 0.1], [0.6, 0.4], [0.9, 0.1]]),
        np.zeros((3, 2)),
        np.array([[1.0, 2], [1, 2], [3, 1]]),
        2,
        Thresholds(primary=0.5, confident=0.8, distance=2.0),
    )
    assert routed.distance.tolist() == [1, 1, 3]  # to the answer's centre
    assert verdicts(routed, Thresholds(confident=0.8, distance=2.0)).tolist() == [0, 1, 2]  # confident, unsure, unknown


def test_routing_between_the_network_the_svm_and_enrolled_centres():
    primary = np.array([[0.9, 0.1, 0], [0.55, 0.45, 0], [0.9, 0.1, 0]])
    fallback = np.array([[0.2, 0.8, 0], [0.1, 0.9, 0], [0.5, 0.4, 0.1]])
    distances = np.array([[1.0, 2, 3], [1, 2, 3], [2, 3, 1.5]])  # the third face is nearest label 2, enrolled
    routed = route(primary, fallback, distances, 2, Thresholds(primary=0.6, enrolled_margin=0.0, temperature=1.0))
    assert routed.model.tolist() == [0, 1, 2]  # network, SVM, centres
    assert routed.probs.argmax(1).tolist() == [0, 1, 2] and routed.probs[2].sum() == np.float64(1.0)
    assert routed.probs[2, 2] > 0.8  # sure, but never "confident": nothing measured how right such answers are
    assert verdicts(routed, Thresholds(confident=0.8, distance=2.0)).tolist() == [0, 0, 1]
    assert routed.gap.tolist() == [2.0, 2.0, -0.5]  # nearest enrolled less nearest known
    # with a doubt margin (bundles enrolled since it is chosen): an enrolled character's sure answer is
    # confident, and a known one is not when an enrolled centre is within the margin
    assert verdicts(routed, Thresholds(confident=0.8, distance=2.0, doubt=1.0)).tolist() == [0, 0, 0]
    assert verdicts(routed, Thresholds(confident=0.8, distance=2.0, doubt=2.5)).tolist() == [1, 1, 0]
    strict = route(primary, fallback, distances, 2, Thresholds(primary=0.6, enrolled_margin=-0.6))
    assert strict.model.tolist() == [0, 1, 0]  # a stricter margin leaves the third face to the network
    assert enrolled_nearer(distances, 2, 1.0)[2].tolist() == [2, 3, 0.5]
    assert enrolled_nearer(distances, 3, 1.0).tolist() == distances.tolist()  # nothing enrolled


def test_margin_sends_the_chosen_share_of_known_faces_to_enrolled_characters():
    rng = np.random.default_rng(1)
    targets = rng.integers(0, 3, 1000)
    primary = np.pad(np.eye(3)[targets], ((0, 0), (0, 1)))
    distances = np.abs(rng.normal(1, 0.2, (1000, 4)))
    distances[np.arange(1000), targets] = 0.5
    thresholds, stats = choose_thresholds(Outputs(primary, primary, distances, 3), targets, to_enrolled=0.02)
    assert abs(stats["calibration_to_enrolled"] - 0.02) < 0.005
    assert abs(stats["calibration_top1_routed"] - 0.98) < 0.005
    gap = distances[:, 3] - distances[:, :3].min(1)
    assert thresholds.doubt is not None and abs((gap < thresholds.doubt).mean() - DOUBT) < 0.002


def test_a_bundle_without_enrolled_characters_has_no_doubt_margin():
    targets = np.arange(300) % 3
    primary = np.eye(3)[targets]
    thresholds, _ = choose_thresholds(Outputs(primary, primary, 1 - primary, 3), targets)
    assert thresholds.doubt is None


def test_an_unreachable_precision_gives_the_nearest_threshold_that_still_answers():
    rng = np.random.default_rng(0)
    top = rng.uniform(0.5, 1.0, 2000)
    right = rng.uniform(size=2000) < 0.9 + 0.08 * (top - 0.5) / 0.5  # at best 98 % right, near p = 1
    probs = np.stack([top, 1 - top], axis=1)
    chosen = choose_confident(probs, right, precision=0.99)
    answered = top >= chosen
    assert answered.mean() >= MIN_CONFIDENT_SHARE  # never "confident about nothing"
    assert right[answered].mean() > right.mean()  # and better than answering everything
    assert choose_confident(probs, np.ones(2000, dtype=bool), precision=0.99) == 0.5  # reachable: the lowest


def test_a_precision_is_counted_with_one_more_right_and_one_more_wrong_answer():
    top = np.linspace(0.55, 0.99, 150)
    right = np.ones(150, dtype=bool)
    right[10] = False  # one wrong answer in 150, at 0.5795: 99.3 % right, 98.7 % counted Laplace's way
    chosen = choose_confident(np.stack([top, 1 - top], axis=1), right, precision=0.99)
    assert chosen == 0.58  # the lowest threshold above the wrong answer: 139 right of 139, 99.3 % counted


def test_the_distance_threshold_rejects_the_promised_share_of_new_faces_on_average_from_a_small_split():
    """On 100 calibration faces numpy's default quantile would reject 5.9 % of new ones; the threshold's
    expected share is the promise itself (uniform distances: the share beyond a threshold is 1 − it)."""
    rng = np.random.default_rng(0)
    shares = [1 - rejecting(rng.random(100), 0.05) for _ in range(4000)]
    assert abs(np.mean(shares) - 0.05) < 0.002
