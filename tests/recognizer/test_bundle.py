"""Tests for darekana.recognizer.bundle (and the bundle checks in darekana.recognizer.engine.Recognizer).

The bundle is built here without training: a freshly initialised MobileNetV2 exported to ONNX, an SVM fitted
on random unit vectors, class centres of random unit vectors. Broken variants are copies of it, damaged one way each.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from darekana.recognizer.bundle import BundleError, Label, Manifest, Thresholds, load_manifest, write_manifest
from darekana.recognizer.centres import load_centres
from darekana.recognizer.detect import ANIMEFACE, Framing
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.gallery import Gallery, Source, thumbnail
from darekana.recognizer.layout import (
    CENTRES_FILE,
    DETECTOR_FILE,
    FALLBACK_FILE,
    FORMAT_VERSION,
    GALLERY_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
)
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD
from darekana.recognizer.results import Model, Verdict
from darekana.train.backbones import build_backbone
from darekana.train.export import export_fallback, export_network
from darekana.train.fallback import fit_centres, fit_svm
from darekana.train.fit import install_detector

DIM = 1280
LABELS = [Label("a", "A"), Label("b", "B"), Label("c", "C")]


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bundle")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: a thread pool only slows tiny graphs down
    try:
        torch.manual_seed(0)
        export_network(build_backbone("mobilenet_v2", 3), 32, directory)
    finally:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    unit, targets = unit_rows(rng, 30), np.repeat(np.arange(3), 10)
    export_fallback(fit_svm(unit, targets), unit, directory)
    fit_centres(unit, targets, 3).save(directory)
    thumbnails = [thumbnail(Image.new("RGB", (8, 8), (40 * i, 0, 0))) for i in range(6)]
    Gallery.of(targets[::5], unit[::5], Source.TRAINING, thumbnails).save(directory)
    detector = install_detector("faceboxes", None, directory)
    write_manifest(
        directory,
        Manifest(
            architecture="mobilenet_v2",
            input_size=32,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            labels=list(LABELS),
            embedding_dim=DIM,
            detector=detector,
        ),
    )
    return directory


@pytest.fixture
def broken(bundle, tmp_path) -> Path:
    """A private copy of the valid bundle, free to damage."""
    return Path(shutil.copytree(bundle, tmp_path / "copy"))


def edit_manifest(directory: Path, change) -> None:
    path = directory / MANIFEST_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(json.dumps(raw), encoding="utf-8")


# --- a valid bundle ----------------------------------------------------------------------------------------


def test_valid_bundle_loads(bundle):
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        [MANIFEST_FILE, MODEL_FILE, FALLBACK_FILE, CENTRES_FILE, GALLERY_FILE, DETECTOR_FILE]
    )
    manifest = load_manifest(bundle)
    assert manifest.architecture == "mobilenet_v2" and manifest.input_size == 32
    assert manifest.labels == LABELS
    assert manifest.format_version == FORMAT_VERSION
    assert set(manifest.checksums) == {MODEL_FILE, FALLBACK_FILE, CENTRES_FILE, GALLERY_FILE, DETECTOR_FILE}
    assert all(len(digest) == 64 for digest in manifest.checksums.values())


def test_recognizer_classifies_real_crops(bundle, real_crops):
    rec = Recognizer(bundle, top_k=5, threads=1)
    assert rec.top_k == 3  # capped at the number of labels
    decisions = rec.classify(real_crops)
    assert len(decisions) == len(real_crops)
    for d in decisions:
        assert len(d.candidates) == 3
        assert {c.label for c in d.candidates} == {"a", "b", "c"}
        probs = [c.probability for c in d.candidates]
        assert probs == sorted(probs, reverse=True)
        assert abs(sum(probs) - 1) < 1e-3
        assert d.model in (Model.PRIMARY, Model.FALLBACK) and isinstance(d.verdict, Verdict)  # enums, not words
        assert d.distance >= 0
    assert rec.classify([]) == []


def test_write_manifest_leaves_no_tmp(bundle):
    assert not list(bundle.glob("*.tmp"))


def test_manifest_round_trips_through_json():
    manifest = Manifest(
        architecture="resnet18",
        input_size=128,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        labels=[Label("hatsune_miku", "Hatsune Miku"), Label("irys_(hololive)", "Irys (Hololive)")],
        framing=Framing(scale=2.6, top=1.75),
        thresholds=Thresholds(0.4, 0.9, 1.3, -0.1, 0.5),
        embedding_dim=512,
        metrics={"accuracy": 0.93},
        training={"epochs": 3},
        created_at="2024-01-01T00:00:00+00:00",
        darekana_version="0.1.0",
        checksums={MODEL_FILE: "0" * 64},
    )
    again = Manifest.from_dict(json.loads(manifest.to_json()))
    assert again == manifest
    assert isinstance(again.mean, tuple) and isinstance(again.labels[0], Label)


# --- broken bundles --------------------------------------------------------------------------------------


def test_missing_directory(tmp_path):
    with pytest.raises(BundleError, match="not a directory"):
        load_manifest(tmp_path / "nowhere")
    with pytest.raises(BundleError):
        Recognizer(tmp_path / "nowhere")


def test_missing_manifest(broken):
    (broken / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match=f"{MANIFEST_FILE} is missing"):
        load_manifest(broken)


def test_manifest_not_json(broken):
    (broken / MANIFEST_FILE).write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(BundleError, match="corrupt"):
        load_manifest(broken)
    (broken / MANIFEST_FILE).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BundleError, match="corrupt"):
        load_manifest(broken)


@pytest.mark.parametrize(
    "raw, message",
    [
        ([], "not a JSON object"),
        ({"format_version": True}, "positive integer"),
        ({"format_version": 0}, "positive integer"),
    ],
)
def test_manifest_of_the_wrong_shape(broken, raw, message):
    (broken / MANIFEST_FILE).write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(BundleError, match=message):
        load_manifest(broken)


def test_newer_format_version(broken):
    edit_manifest(broken, lambda raw: raw.update(format_version=99))
    with pytest.raises(BundleError, match="upgrade") as err:
        load_manifest(broken)
    assert "99" in str(err.value)


def test_manifest_without_labels(broken):
    edit_manifest(broken, lambda raw: raw.pop("labels"))
    with pytest.raises(BundleError, match="incomplete or malformed") as err:
        load_manifest(broken)
    assert "labels" in str(err.value)


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_byte_in_model(broken):
    flip_byte(broken / MODEL_FILE)
    with pytest.raises(BundleError, match="checksum") as err:
        load_manifest(broken)
    assert "corrupt" in str(err.value) and MODEL_FILE in str(err.value)
    with pytest.raises(BundleError, match="checksum"):
        Recognizer(broken)
    assert load_manifest(broken, verify=False).labels == LABELS  # verify=False skips the checksums


def test_missing_fallback(broken):
    (broken / FALLBACK_FILE).unlink()
    with pytest.raises(BundleError, match="missing") as err:
        load_manifest(broken)
    assert FALLBACK_FILE in str(err.value)


def test_centres_of_the_wrong_shape(broken):
    rng = np.random.default_rng(1)
    unit = unit_rows(rng, 40)
    fit_centres(unit, np.repeat(np.arange(4), 10), 4).save(broken)  # 4 centres for 3 labels
    write_manifest(broken, load_manifest(broken, verify=False))
    with pytest.raises(BundleError, match="inconsistent"):
        Recognizer(broken, threads=1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: replace(b, basis=b.basis[:, :, None]), "do not fit"),
        (lambda b: replace(b, shrink=b.shrink[:-1]), "do not fit"),
        (lambda b: replace(b, basis=np.full_like(b.basis, np.nan)), "finite"),
    ],
)
def test_a_damaged_background_is_refused_with_its_problem(broken, change, message):
    centres = load_centres(broken, FORMAT_VERSION)
    assert centres.background is not None
    replace(centres, background=change(centres.background)).save(broken)
    write_manifest(broken, load_manifest(broken, verify=False))
    with pytest.raises(BundleError, match=message):
        Recognizer(broken, threads=1)


def test_a_background_of_another_embedding_is_refused(broken):
    centres = load_centres(broken, FORMAT_VERSION)
    assert centres.background is not None
    background = replace(centres.background, origin=centres.background.origin[:-1])
    replace(centres, background=background).save(broken)
    write_manifest(broken, load_manifest(broken, verify=False))
    with pytest.raises(BundleError, match="background"):
        Recognizer(broken, threads=1)


def test_duplicate_label_ids(broken):
    edit_manifest(broken, lambda raw: raw["labels"].append({"id": "a", "name": "A again"}))
    with pytest.raises(BundleError, match="twice"):
        load_manifest(broken)


def test_garbage_model_with_matching_checksum(broken):
    (broken / MODEL_FILE).write_bytes(b"this is not an onnx model at all " * 64)
    write_manifest(broken, load_manifest(broken, verify=False))
    assert load_manifest(broken).labels == LABELS  # the checksum now agrees, so only loading can tell
    with pytest.raises(BundleError, match="cannot be loaded"):
        Recognizer(broken, threads=1)


def test_more_labels_than_the_models_give(broken):
    manifest = load_manifest(broken)
    manifest.labels.append(Label("d", "D"))
    write_manifest(broken, manifest)
    assert len(load_manifest(broken).labels) == 4
    with pytest.raises(BundleError, match="inconsistent") as err:
        Recognizer(broken, threads=1)
    assert "4 labels" in str(err.value)


# --- the detector inside the bundle ------------------------------------------------------------------------------


def test_missing_detector(broken):
    (broken / DETECTOR_FILE).unlink()
    with pytest.raises(BundleError, match="missing") as err:
        Recognizer(broken, threads=1)
    assert DETECTOR_FILE in str(err.value)


def test_flipped_byte_in_detector(broken):
    flip_byte(broken / DETECTOR_FILE)
    with pytest.raises(BundleError, match="checksum") as err:
        Recognizer(broken, threads=1)
    assert DETECTOR_FILE in str(err.value)


def test_garbage_detector_with_matching_checksum(broken):
    (broken / DETECTOR_FILE).write_bytes(b"not a detector " * 100)
    write_manifest(broken, load_manifest(broken, verify=False))
    with pytest.raises(BundleError, match="cannot be loaded") as err:
        Recognizer(broken, threads=1)
    assert DETECTOR_FILE in str(err.value)


def test_another_model_as_detector_is_refused(broken):
    shutil.copyfile(broken / MODEL_FILE, broken / DETECTOR_FILE)
    write_manifest(broken, load_manifest(broken, verify=False))
    with pytest.raises(BundleError, match="not a FaceBoxes detector"):
        Recognizer(broken, threads=1)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(kind="yolo"), "unknown detector"),
        (lambda d: d.update(file="../../model.onnx"), "not a file name"),
        (lambda d: d.update(colour="blue"), "incomplete or malformed"),
    ],
)
def test_malformed_detector_entry(broken, change, message):
    edit_manifest(broken, lambda raw: change(raw["detector"]))
    with pytest.raises(BundleError, match=message):
        Recognizer(broken, threads=1)


def test_missing_gallery(broken):
    (broken / GALLERY_FILE).unlink()
    with pytest.raises(BundleError, match=f"{GALLERY_FILE} is missing"):
        Recognizer(broken, threads=1)


def test_a_gallery_of_another_embedding_is_refused(broken):
    gallery = Gallery.of(np.array([0]), np.ones((1, 8), np.float32), Source.TRAINING, [b"x"])
    gallery.save(broken)
    write_manifest(broken, load_manifest(broken, verify=False))
    with pytest.raises(BundleError, match=f"{GALLERY_FILE} does not fit"):
        Recognizer(broken, threads=1)


def test_bundles_before_format_5_show_no_evidence(broken):
    def to_format_4(raw):
        raw["format_version"] = 4
        raw["checksums"].pop(GALLERY_FILE)

    edit_manifest(broken, to_format_4)
    (broken / GALLERY_FILE).unlink()
    recognizer = Recognizer(broken, threads=1)
    assert all(d.evidence is None for d in recognizer.classify([Image.new("RGB", (32, 32))]))


def test_bundles_before_format_4_use_animeface(broken):
    def to_format_3(raw):
        raw.pop("detector")
        raw["format_version"] = 3
        raw["checksums"].pop(DETECTOR_FILE)
        raw["checksums"].pop(GALLERY_FILE)

    edit_manifest(broken, to_format_3)
    (broken / DETECTOR_FILE).unlink()
    (broken / GALLERY_FILE).unlink()
    recognizer = Recognizer(broken, threads=1)
    assert recognizer.manifest.detector.kind == ANIMEFACE and recognizer.manifest.detector.file is None
