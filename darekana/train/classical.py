"""The study's seven scikit-learn classifiers, tuned by cross-validated grid search on the training split.

The grids follow the study (Guan & Ge): logistic regression C 0.1–10 with and without an l2 penalty; kNN
k 2–30; random forest gini/entropy and number of trees; SVM kernel linear/poly/rbf/sigmoid, degree 1–20,
C 1–30. LDA, CART and Gaussian naive Bayes get small grids of their main knob. ``quick`` keeps a few points
of each grid so a whole study runs in minutes on a 2-core CPU.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid, StratifiedKFold, cross_validate
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from darekana.progress import progress

CLASSIFIERS = ("LR", "LDA", "KNN", "CART", "RF", "NB", "SVM")
# libsvm on a degree-20 polynomial kernel can run for hours without converging; past this many iterations
# the fit stops and is scored as it stands (seconds on hololive-20, where degree <= 12 converges well before).
SVM_MAX_ITER = 200_000


def grids(quick: bool) -> dict[str, tuple[BaseEstimator, dict[str, list] | list[dict[str, list]]]]:
    """Estimator and parameter grid per classifier (parameters of the pipeline's last step)."""
    if quick:
        return {
            "LR": (LogisticRegression(max_iter=300), {"C": [0.1, 1, 10]}),
            "LDA": (LinearDiscriminantAnalysis(solver="lsqr"), {"shrinkage": [None, "auto"]}),
            "KNN": (KNeighborsClassifier(), {"n_neighbors": [2, 5, 10, 30]}),
            "CART": (DecisionTreeClassifier(random_state=0), {"criterion": ["gini", "entropy"]}),
            "RF": (
                RandomForestClassifier(random_state=0, n_jobs=-1),
                {"criterion": ["gini", "entropy"], "n_estimators": [50, 200]},
            ),
            "NB": (GaussianNB(), {"var_smoothing": [1e-9, 1e-5]}),
            "SVM": (
                SVC(cache_size=1000, max_iter=SVM_MAX_ITER),
                [
                    {"kernel": ["linear", "rbf", "sigmoid"], "C": [1, 10]},
                    {"kernel": ["poly"], "degree": [2, 3], "C": [1, 10]},
                ],
            ),
        }
    return {
        # C = inf is "without l2": scikit-learn >= 1.8 spells an unpenalised fit that way.
        "LR": (LogisticRegression(max_iter=1000), {"C": [0.1, 0.3, 1, 3, 10, float("inf")]}),
        "LDA": (LinearDiscriminantAnalysis(solver="lsqr"), {"shrinkage": [None, "auto", 0.1, 0.5]}),
        "KNN": (KNeighborsClassifier(), {"n_neighbors": [2, 3, 5, 8, 12, 16, 20, 25, 30]}),
        "CART": (
            DecisionTreeClassifier(random_state=0),
            {"criterion": ["gini", "entropy"], "max_depth": [None, 10, 20, 40]},
        ),
        "RF": (
            RandomForestClassifier(random_state=0, n_jobs=-1),
            {"criterion": ["gini", "entropy"], "n_estimators": [10, 50, 100, 200, 400]},
        ),
        "NB": (GaussianNB(), {"var_smoothing": [1e-9, 1e-7, 1e-5, 1e-3]}),
        "SVM": (
            SVC(cache_size=1000, max_iter=SVM_MAX_ITER),
            [
                {"kernel": ["linear", "rbf", "sigmoid"], "C": [1, 3, 10, 20, 30]},
                {"kernel": ["poly"], "degree": [1, 2, 3, 5, 8, 12, 20], "C": [1, 10, 30]},
            ],
        ),
    }


@dataclass
class Tuned:
    """One tuned classifier: its best parameters and the accuracy and time figures of the study's tables."""

    name: str
    best_params: dict[str, Any]
    cv_accuracy: float
    train_accuracy: float
    test_accuracy: float
    fit_seconds: float
    predict_seconds: float
    predicted: np.ndarray = field(repr=False)
    search: list[dict[str, Any]] = field(default_factory=list, repr=False)  # every grid point's CV figures


def tune(
    name: str,
    estimator: BaseEstimator,
    grid: dict[str, list] | list[dict[str, list]],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    folds: int = 3,
) -> Tuned:
    """Grid search on the training split only (standardised features), refit on it, score on the test split.

    Each grid point is cross-validated in turn under a progress bar (a full SVM grid takes a while).
    """
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    points = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # capped iterations are part of a fair time budget
        warnings.filterwarnings("ignore", message=".*collinear.*")
        for params in progress(list(ParameterGrid(grid)), f"tuning {name}", "point"):
            model = make_pipeline(StandardScaler(), clone(estimator).set_params(**params))
            scores = cross_validate(model, x_train, y_train, cv=cv)
            points.append(
                {
                    "params": params,
                    "cv_accuracy": float(scores["test_score"].mean()),
                    "fit_seconds": float(scores["fit_time"].mean()),
                }
            )
        best = max(points, key=lambda p: p["cv_accuracy"])
        final = make_pipeline(StandardScaler(), clone(estimator).set_params(**best["params"]))
        start = time.perf_counter()
        final.fit(x_train, y_train)
        fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = final.predict(x_test)
    predict_seconds = time.perf_counter() - start
    return Tuned(
        name,
        best["params"],
        best["cv_accuracy"],
        float(final.score(x_train, y_train)),
        float((predicted == y_test).mean()),
        fit_seconds,
        predict_seconds,
        predicted,
        points,
    )
