"""The fallback classifier and the class-centre model, both on the network's L2-normalised embedding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.covariance import LedoitWolf

from darekana.recognizer.bundle import Label, Thresholds
from darekana.recognizer.centres import Background, Centres
from darekana.recognizer.decision import centre_spread, may_be_confident, pad_primary
from darekana.recognizer.embeddings import Embedded, calibration_faces
from darekana.recognizer.extra import mean_centres

from .calibrate import Outputs, choose_thresholds
from .export import export_fallback
from .svm import MatrixSVC

# How much of a face's distance from faces in general comes off its distances to the centres (0: absolute
# distances; 1: Ren et al.'s relative Mahalanobis distance). 0.75 told the left-out characters and another art
# style from known faces best (AUROC) on both held-out twins; at 1, a 10-character bundle began to take a few
# faces of another show for its own (docs/benchmarks.md, "Distances relative to faces in general").
BACKGROUND_WEIGHT = 0.75


# The fewest faces new to the network that the spread around the centres is measured on; below it, the
# training faces' spread serves.
MIN_SPREAD_FACES = 50


def fit_fallback(
    parts: dict[str, Embedded], labels: Sequence[Label], directory: Path
) -> tuple[Thresholds, dict[str, float]]:
    """The fallback SVM and the class centres fitted on the bundle's ``parts["train"]`` and written to its
    ``directory``, their spread measured on :func:`spread_faces`; the thresholds chosen on its
    ``calibration_faces``. Labels beyond the network's logits are enrolled characters."""
    train, calibration, new = parts["train"], calibration_faces(parts), spread_faces(parts)
    n_labels = len(labels)
    svm = fit_svm(train.unit, train.targets)
    export_fallback(svm, train.unit[:256], directory)
    centres = fit_centres(train.unit, train.targets, n_labels, new.unit if new else None, new.targets if new else None)
    centres.save(directory)
    outputs = Outputs(
        pad_primary(calibration.logits, n_labels),
        svm.predict_proba(calibration.unit),
        centres.distances(calibration.unit),
        n_network=calibration.logits.shape[1],
        allowed=may_be_confident(labels),
        spread=centre_spread(labels),
    )
    return choose_thresholds(outputs, calibration.targets)


def spread_faces(parts: dict[str, Embedded]) -> Embedded | None:
    """The faces the centres' spread is measured on: validation, which the network never trained on, when
    the thresholds are chosen on a calibration split of their own (else validation is calibration's) and it
    holds at least ``MIN_SPREAD_FACES``; None: the training faces' spread serves."""
    calibration, val = parts.get("calibration"), parts.get("val")
    if calibration is None or not len(calibration.targets) or val is None:
        return None
    return val if len(val.targets) >= MIN_SPREAD_FACES else None


def fit_svm(embeddings: np.ndarray, targets: np.ndarray) -> CalibratedClassifierCV:
    """RBF SVM with sigmoid-calibrated probabilities (Platt scaling on 3-fold out-of-fold scores).

    On unit vectors, gamma 1 and C 10 sit in the flat optimum of the grids the study searched, so no search
    runs at production-training time. ``ensemble=False`` keeps one SVM fitted on all the data."""
    svm = MatrixSVC(kernel="rbf", C=10.0, gamma=1.0)
    return CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False).fit(embeddings, targets)


def fit_centres(
    embeddings: np.ndarray,
    targets: np.ndarray,
    n_classes: int,
    new: np.ndarray | None = None,
    new_targets: np.ndarray | None = None,
) -> Centres:
    """Each class's mean embedding, and a whitening matrix for the covariance of faces around their own
    class's mean, shared by all classes. Ledoit-Wolf shrinkage keeps that 1280-dimensional covariance
    invertible and stable from a few hundred faces; the whitening is scaled so that a typical face is about 1
    from its centre (``darekana.recognizer.centres``).

    The covariance is measured on ``new`` faces (with ``new_targets``) when given: a network lies tighter
    around the faces it trained on than around faces it never saw, so the training faces' spread says too
    little of how a new picture of a character, or a character enrolled from a few crops, varies
    (docs/benchmarks.md, "Balanced epochs, look-alike batches, and the spread measured on faces the network never
    saw")."""
    means = mean_centres(embeddings, targets, n_classes)
    if new is not None and new_targets is not None:
        seen = np.isin(new_targets, targets)  # a character with no training face has no mean to measure from
        covariance = LedoitWolf().fit(new[seen] - means[new_targets[seen]]).covariance_
    else:
        covariance = LedoitWolf().fit(embeddings - means[targets]).covariance_
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    whitening = (eigenvectors / np.sqrt(np.maximum(eigenvalues, 1e-12) * embeddings.shape[1])).astype(np.float32)
    means = means.astype(np.float32)
    background = fit_background(embeddings @ whitening, means @ whitening, targets)
    return Centres(means, whitening, background)


def fit_background(z: np.ndarray, whitened_means: np.ndarray, targets: np.ndarray) -> Background:
    """The Gaussian of all the training faces ``z`` (whitened) that relative distances are taken against
    (``darekana.recognizer.centres.Background``): within a character the whitening leaves ``I / D``; between
    characters, the covariance of their centres weighted by their faces."""
    counts = np.bincount(targets, minlength=len(whitened_means)).astype(np.float64)
    share = counts / counts.sum()
    origin = share @ whitened_means.astype(np.float64)
    spread = (whitened_means - origin) * np.sqrt(share)[:, None]
    basis, singular, _ = np.linalg.svd(spread.T, full_matrices=False)
    between = singular**2
    within = 1.0 / z.shape[1]
    background = Background(origin, basis, between / (between + within), 0.0, BACKGROUND_WEIGHT)
    offset = float(background.squared(z.astype(np.float64)).mean())
    return replace(background, offset=offset)
