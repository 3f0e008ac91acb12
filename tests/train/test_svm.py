"""Tests for the fallback's SVM (``darekana.train.svm``): its matrix-product decision function gives libsvm's
values in every shape scikit-learn offers, and the calibrated fallback the same probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

from darekana.train.fallback import fit_svm
from darekana.train.svm import CHUNK, MatrixSVC


def faces(n_classes: int, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around one centre per class, overlapping enough that many become support vectors."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), per_class)
    x = rng.normal(size=(n_classes, 24))[y] + 1.2 * rng.normal(size=(len(y), 24))
    return x / np.linalg.norm(x, axis=1, keepdims=True), y


@pytest.mark.parametrize("n_classes", [2, 3, 12])
@pytest.mark.parametrize("shape", ["ovr", "ovo"])
def test_the_decision_function_is_libsvms(n_classes: int, shape: str):
    x, y = faces(n_classes, 30)
    others, _ = faces(n_classes, 5, seed=1)
    ours = MatrixSVC(C=10.0, gamma=1.0, decision_function_shape=shape).fit(x, y)
    libsvm = SVC(C=10.0, gamma=1.0, decision_function_shape=shape).fit(x, y)
    expected = libsvm.decision_function(others)
    got = ours.decision_function(others)
    assert got.shape == expected.shape
    assert np.allclose(got, expected, rtol=0, atol=1e-9)
    assert np.abs(expected).max() > 0.1  # not a model that answers the same everywhere


def test_more_faces_than_one_chunk_and_none_at_all():
    x, y = faces(4, 20)
    svm = MatrixSVC(C=10.0, gamma=1.0).fit(x, y)
    many = np.repeat(x, CHUNK // len(x) + 1, axis=0)
    assert np.allclose(svm.decision_function(many), SVC(C=10.0, gamma=1.0).fit(x, y).decision_function(many))
    assert svm.decision_function(x[:0]).shape == (0, 4)


def test_the_calibrated_fallback_gives_the_probabilities_libsvm_would():
    x, y = faces(8, 25)
    others, _ = faces(8, 6, seed=2)
    libsvm = CalibratedClassifierCV(SVC(C=10.0, gamma=1.0), method="sigmoid", cv=3, ensemble=False).fit(x, y)
    assert np.allclose(fit_svm(x, y).predict_proba(others), libsvm.predict_proba(others), rtol=0, atol=1e-8)
