"""Tests for darekana.train.fit's splits, thresholds and report, on the three-epoch animeface-10 bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from darekana.recognizer.bundle import load_manifest
from darekana.recognizer.embeddings import load_embeddings
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.results import Verdict
from darekana.train.data import source_group


def test_the_calibration_split_shares_no_source_picture_with_training_early_stopping_or_test(trained_bundle: Path):
    split = json.loads((trained_bundle / "split.json").read_text())
    groups = {part: {source_group(Path(p)) for p in split[part]} for part in ("train", "val", "calibration", "test")}
    assert len(split["calibration"]) > 50 and len(groups["calibration"]) > 50
    for other in ("train", "val", "test"):
        assert not groups["calibration"] & groups[other], other
    manifest = load_manifest(trained_bundle)
    assert manifest.training["faces"]["calibration"] == len(split["calibration"])


def test_thresholds_read_back_from_the_manifest_reproduce_the_calibration_verdicts(trained_bundle: Path):
    manifest = load_manifest(trained_bundle)
    parts = load_embeddings(trained_bundle, manifest.n_network, manifest.embedding_dim)
    assert parts is not None
    faces = parts["calibration"]
    decisions = Recognizer(trained_bundle).decide(faces.logits, faces.unit)
    unknown = np.array([d.verdict is Verdict.UNKNOWN for d in decisions])
    confident = np.array([d.verdict is Verdict.CONFIDENT for d in decisions])
    right = np.array([d.candidates[0].label == manifest.labels[t].id for d, t in zip(decisions, faces.targets)])
    stats = manifest.metrics["calibration"]
    # float16 embeddings in the bundle against float32 at fitting time: a face or two may fall either side
    assert abs(unknown.mean() - stats["calibration_false_rejection"]) <= 2 / len(decisions)
    assert abs(confident.mean() - stats["calibration_confident_share"]) <= 2 / len(decisions)
    assert abs(right[confident].mean() - stats["calibration_confident_precision"]) <= 0.02


def test_the_report_checks_the_promises_on_the_test_split_and_draws_a_reliability_diagram(trained_bundle: Path):
    report = json.loads((trained_bundle / "report" / "report.json").read_text())
    promises = report["promises"]
    assert set(promises) == {"false_rejection", "confident_precision"}
    rejection = promises["false_rejection"]
    assert rejection["promised"] == 0.05 and rejection["n"] == report["n"]
    assert rejection["interval"][0] <= rejection["delivered"] <= rejection["interval"][1]
    assert rejection["delivered"] == report["known_false_rejection_rate"]
    assert promises["confident_precision"]["delivered"] == report["confident_precision"]
    assert (trained_bundle / "report" / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| false rejection | 0.05 |" in (trained_bundle / "report" / "report.md").read_text()


def test_the_report_says_how_often_each_character_s_faces_are_called_unknown(trained_bundle: Path):
    report = json.loads((trained_bundle / "report" / "report.json").read_text())
    per_class = report["per_class"]
    assert all((c["called_unknown"] is None) == (c["n"] == 0) for c in per_class.values())
    called = sum(c["called_unknown"] * c["n"] for c in per_class.values() if c["n"])
    assert called == pytest.approx(report["known_false_rejection_rate"] * report["n"])
    rates = [c["called_unknown"] for c in per_class.values() if c["n"]]
    assert report["known_false_rejection_per_character"] == pytest.approx(sum(rates) / len(rates))
    assert report["promises"]["false_rejection"]["per_character"] == report["known_false_rejection_per_character"]
    name, figures = next((name, c) for name, c in per_class.items() if c["n"])
    row = f"| {name} | {figures['n']} | {figures['precision']:.3f} | {figures['recall']:.3f} | "
    assert row + f"{figures['called_unknown']:.3f} |" in (trained_bundle / "report" / "report.md").read_text()
