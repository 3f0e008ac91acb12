"""Tests for the fallback SVM's ONNX graph (``darekana.train.svm_onnx``): it computes what scikit-learn does,
for two characters and for many, on faces it was fitted on and on others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from darekana.recognizer.onnx import open_session
from darekana.train.export import export_fallback
from darekana.train.fallback import fit_svm
from darekana.train.svm_onnx import INPUT


def unit_rows(rng: np.random.Generator, centres: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.repeat(centres, per_class, axis=0) + 0.6 * rng.normal(size=(len(centres) * per_class, centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), np.repeat(
        np.arange(len(centres)), per_class
    )


@pytest.mark.parametrize("n_classes", [2, 3, 12])
def test_the_graph_gives_scikit_learns_probabilities_and_labels(n_classes: int, tmp_path: Path):
    rng = np.random.default_rng(n_classes)
    centres = rng.normal(size=(n_classes, 16))
    x, y = unit_rows(rng, centres, 12)
    svm = fit_svm(x, y)
    path = export_fallback(svm, x[:5], tmp_path)
    others, _ = unit_rows(rng, centres, 4)  # faces the SVM was not fitted on
    label, probabilities = open_session(path).run(["label", "probabilities"], {INPUT: others})
    expected = svm.predict_proba(others)
    assert probabilities.shape == (len(others), n_classes)
    assert np.allclose(probabilities, expected, atol=1e-5)
    assert np.array_equal(label, svm.predict(others))
    assert 0.5 < (label == np.repeat(np.arange(n_classes), 4)).mean()  # it learned something to check


def test_a_graph_that_does_not_match_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    rng = np.random.default_rng(0)
    x, y = unit_rows(rng, rng.normal(size=(3, 8)), 10)
    svm = fit_svm(x, y)
    monkeypatch.setattr(svm, "predict_proba", lambda faces: np.full((len(faces), 3), 1 / 3))  # not what it computes
    with pytest.raises(RuntimeError, match="differ from scikit-learn"):
        export_fallback(svm, x, tmp_path)
