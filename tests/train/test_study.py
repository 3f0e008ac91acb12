"""The study on a small real subset: a tuned classifier beats chance; the report files are well formed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darekana.train.classical import grids, tune
from darekana.train.configs import StudyConfig
from darekana.train.data import scan, split
from darekana.train.features import extract, handmade
from darekana.train.shared import DATASETS
from darekana.train.study import run_study


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real characters, 24 faces each."""
    root = tmp_path_factory.mktemp("faces")
    for name in ("000_hatsune_miku", "002_suzumiya_haruhi", "009_hakurei_reimu"):
        (root / name).mkdir()
        for path in sorted((DATASETS / "animeface-10" / name).glob("face_*.png"))[:24]:
            shutil.copy(path, root / name / path.name)
    return root


def test_tuned_classifier_beats_chance(small_set: Path):
    dataset = scan([small_set])
    parts = split(dataset)
    features = extract([s.path for s in dataset.samples], None, "handmade", {}, per_image=handmade)
    y = dataset.targets
    train = np.concatenate([parts.train, parts.val])
    estimator, grid = grids(quick=True)["LR"]
    result = tune("LR", estimator, grid, features[train], y[train], features[parts.test], y[parts.test])
    # handmade features: the study got 0.2-0.55; faces of one source picture no longer straddle the split
    assert result.test_accuracy > 1 / 3 + 0.1, result
    assert result.best_params["C"] in grid["C"] and len(result.search) == len(grid["C"])
    assert result.fit_seconds > 0 and result.predict_seconds > 0


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_quick_study_writes_a_readable_report(small_set: Path, tmp_path: Path):
    faces, out = tmp_path / "faces", tmp_path / "study"
    shutil.copytree(small_set, faces)
    (faces / "000_hatsune_miku" / "broken.png").write_bytes(b"not a picture")  # left out before the split
    config = StudyConfig(quick=True, finetune_archs=("resnet18",), epochs=1, img_size=64, production_epochs=1)
    results = run_study(faces, out, config)
    saved = _strict((out / "results.json").read_text())
    assert saved["data"]["names"] == ["Hatsune Miku", "Suzumiya Haruhi", "Hakurei Reimu"]
    for strategy in ("strategy1", "strategy2"):
        rows = saved[strategy]["classifiers"]
        assert [r["name"] for r in rows] == ["LR", "LDA", "KNN", "CART", "RF", "NB", "SVM"]
        for row in rows:  # the accuracy reported is the one of the predictions kept
            right = [p == t for p, t in zip(row["predicted"], saved["data"]["test_targets"], strict=True)]
            assert row["test_accuracy"] == pytest.approx(sum(right) / len(right)) and row["fit_seconds"] > 0
    assert saved["strategy3"][0]["arch"] == "resnet18" and saved["strategy3"][0]["recipe"] == "study"
    matrix = saved["production"]["confusion_matrix"]
    right, total = sum(matrix[i][i] for i in range(len(matrix))), sum(map(sum, matrix))
    assert total == saved["data"]["test"] and saved["production"]["test_accuracy"] == pytest.approx(right / total)
    # frozen ImageNet features tell three characters apart far better than chance
    assert max(r["test_accuracy"] for r in saved["strategy2"]["classifiers"]) > 0.6
    report = (out / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "Table 3", "darekana production", "confusion-production.png"):
        assert heading in report
    html = (out / "report.html").read_text()
    assert html.count("<table>") == 3 + bool(results["confused_pairs"]) and "<img" in html
    for png in (
        "tuning-strategy1.png",
        "tuning-strategy2.png",
        "confusion-strategy1.png",
        "confusion-strategy2.png",
        "confusion-strategy3.png",
        "confusion-production.png",
    ):
        assert Image.open(out / png).size[0] > 200, png
    assert list((out / "cache").glob("handmade-*.npy")) and list((out / "cache").glob("mobilenet_v2-*.npy"))
