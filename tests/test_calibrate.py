"""Threshold choice on validation outputs, with the engine's own decision rule."""

from __future__ import annotations

import numpy as np

from recognizer.bundle import Thresholds
from recognizer.engine import route, verdicts
from train.calibrate import choose_thresholds, outputs


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
    centres = np.eye(classes, dim)
    unit = centres[targets] + 0.3 * rng.normal(size=(n, dim))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    thresholds, stats = choose_thresholds(outputs(primary, fallback, unit, centres), targets, false_rejection=0.05)
    assert 0.4 < thresholds.primary <= 0.95  # the unsure 40 % answers go to the fallback
    assert stats["val_top1_routed"] == 1.0
    assert abs(stats["val_false_rejection"] - 0.05) < 0.02
    assert thresholds.confident >= 0.5 and stats["val_confident_precision"] >= 0.97


def test_verdict_rule():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.9, 0.1]])
    codes = verdicts(probs, np.array([0.9, 0.9, 0.1]), Thresholds(primary=0.5, confident=0.8, similarity=0.5))
    assert codes.tolist() == [0, 1, 2]  # confident, unsure, unknown (far from every known character)
    use_primary, routed = route(np.array([[0.9, 0.1], [0.55, 0.45]]), np.array([[0.2, 0.8], [0.1, 0.9]]), 0.6)
    assert use_primary.tolist() == [True, False] and routed[1].tolist() == [0.1, 0.9]
