"""The fallback classifier and the class prototypes, both on the network's L2-normalised embedding."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC


def fit_svm(embeddings: np.ndarray, targets: np.ndarray) -> CalibratedClassifierCV:
    """RBF SVM with sigmoid-calibrated probabilities (Platt scaling on 3-fold out-of-fold scores).

    On unit vectors, gamma 1 and C 10 sit in the flat optimum of the grids the study searched, so no search
    runs at production-training time. ``ensemble=False`` keeps one SVM fitted on all the data."""
    svm = SVC(kernel="rbf", C=10.0, gamma=1.0)
    return CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False).fit(embeddings, targets)


def prototypes(embeddings: np.ndarray, targets: np.ndarray, n_classes: int) -> np.ndarray:
    """Each class's mean unit embedding, re-normalised: the centre open-set rejection measures from."""
    centres = np.stack([embeddings[targets == c].mean(axis=0) for c in range(n_classes)])
    return centres / np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
