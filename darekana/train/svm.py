"""The fallback's RBF SVM, with its decision function computed as matrix products.

libsvm evaluates the decision function one kernel value at a time: on the 115 characters' faces the SVM's fit,
3-fold calibration and the calibration split's probabilities took 68 s of the 185 s the bundle took to make, and
25 s as matrix products (2026-12-07, AMD EPYC, 2 cores; docs/benchmarks.md, "192 px faces shipped"). The fit is
libsvm's, unchanged; so are the values, to rounding (``tests/train/test_svm.py``). The exported graph
(``darekana.train.svm_onnx``) computes them the same way in float32.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from sklearn.svm import SVC
from sklearn.utils.multiclass import _ovr_decision_function
from sklearn.utils.validation import check_is_fitted

CHUNK = 2048  # faces whose kernel rows are held at once: 2048 × 10,000 support vectors is 160 MB


@cache
def pair_columns(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each pair (0,1), (0,2), …, (1,2), … finds its two terms among the per-class products (each class's
    kernel columns times its dual coefficients, ``C − 1`` columns a class): scikit-learn keeps class ``i``'s
    coefficients against a later class ``j`` in ``dual_coef_[j − 1]`` and class ``j``'s against ``i`` in
    ``dual_coef_[i]``. Read-only, as they are cached."""
    first, second = [], []
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            first.append(i * (n_classes - 1) + j - 1)
            second.append(j * (n_classes - 1) + i)
    columns = np.array(first, np.int64), np.array(second, np.int64)
    for array in columns:
        array.flags.writeable = False
    return columns


class MatrixSVC(SVC):
    """An ``SVC`` (RBF kernel) whose ``decision_function`` runs on the fitted support vectors with BLAS."""

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        if self.kernel != "rbf":
            return super().decision_function(X)
        x = np.asarray(X, np.float64)
        pairs = np.concatenate([self._pairs(x[s : s + CHUNK]) for s in range(0, max(len(x), 1), CHUNK)])
        if len(self.classes_) == 2:
            return pairs.ravel()
        if self.decision_function_shape == "ovr":
            return _ovr_decision_function(pairs < 0, -pairs, len(self.classes_))
        return pairs

    def _pairs(self, x: np.ndarray) -> np.ndarray:
        """(N, pairs) decision values, scikit-learn's ``ovo`` layout; one column, positive for the second
        class, with two classes."""
        sv = self.support_vectors_
        squared = (x * x).sum(1)[:, None] + (sv * sv).sum(1)[None, :] - 2.0 * (x @ sv.T)
        kernel = np.exp(-self._gamma * squared)
        bounds = np.r_[0, np.cumsum(self.n_support_)]
        per_class = np.concatenate(
            [kernel[:, a:b] @ self.dual_coef_[:, a:b].T for a, b in zip(bounds[:-1], bounds[1:])], axis=1
        )
        first, second = pair_columns(len(self.n_support_))
        return per_class[:, first] + per_class[:, second] + self.intercept_
