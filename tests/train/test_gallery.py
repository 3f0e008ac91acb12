"""The gallery of evidence thumbnails (darekana.recognizer.gallery, darekana.train.gallery): what `fit` and
`enroll` put in it, and what an answer shows from it."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from darekana.recognizer import BundleError, Recognizer, Verdict
from darekana.recognizer.bundle import load_manifest, write_manifest
from darekana.recognizer.gallery import THUMBNAIL_SIDE, Gallery, Source, load_gallery, thumbnail
from darekana.recognizer.images import load_image
from darekana.recognizer.layout import GALLERY_FILE
from darekana.train.enroll import enroll
from darekana.train.gallery import PER_CHARACTER
from darekana.train.shared import DATASETS

NEWCOMERS = sorted(p for p in (DATASETS / "hololive-20").iterdir() if p.is_dir())[:2]


def training_thumbnails(bundle: Path) -> dict[bytes, str]:
    """Every training face of the bundle as the gallery would store it, with its character."""
    train = json.loads((bundle / "split.json").read_text())["train"]
    return {thumbnail(load_image(p)): Path(p).parent.name for p in train}


def test_evidence_is_a_training_face_of_the_character_named(trained_bundle: Path, held_back: list[Path]):
    decisions = Recognizer(trained_bundle).classify([load_image(p) for p in held_back])
    faces = training_thumbnails(trained_bundle)
    named = [d for d in decisions if d.verdict is not Verdict.UNKNOWN]
    assert len(named) >= 0.8 * len(decisions)
    for d in named:
        assert d.evidence is not None and d.evidence.label == d.label
        assert faces[d.evidence.jpeg] == d.label  # a training face of that very character
        assert 0 < d.evidence.similarity <= 1 and d.evidence.source is Source.TRAINING
    assert all(d.evidence is None for d in decisions if d.verdict is Verdict.UNKNOWN)


def test_the_gallery_shows_every_character_a_few_times(trained_bundle: Path):
    gallery, manifest = load_gallery(trained_bundle), load_manifest(trained_bundle)
    counts = np.bincount(gallery.labels, minlength=len(manifest.labels))
    assert counts.min() >= 2 and counts.max() <= PER_CHARACTER
    picture = Image.open(io.BytesIO(gallery.evidence(0, "x", gallery.unit[0]).jpeg))
    assert picture.format == "JPEG" and max(picture.size) <= THUMBNAIL_SIDE


def test_the_json_shows_the_evidence_as_a_picture(trained_bundle: Path, held_back: list[Path]):
    recognizer = Recognizer(trained_bundle)
    faces = (recognizer.recognize(path.read_bytes()).faces[0] for path in held_back)
    face = next(f for f in faces if f.verdict != "unknown")  # unknown faces show no evidence
    evidence = face.to_dict()["evidence"]
    assert evidence["label"] == face.label and evidence["image"].startswith("data:image/jpeg;base64,")


def test_enrolled_crops_become_the_evidence_of_their_characters(trained_bundle: Path, tmp_path: Path):
    for folder in NEWCOMERS:
        (tmp_path / "faces" / folder.name).mkdir(parents=True)
        for path in sorted(folder.iterdir())[:5]:
            (tmp_path / "faces" / folder.name / path.name).symlink_to(path)
    bundle = enroll(trained_bundle, [tmp_path / "faces"], tmp_path / "enrolled").bundle
    before, after = load_gallery(trained_bundle), load_gallery(bundle)
    added = slice(len(before), None)
    assert len(after) == len(before) + 5 * len(NEWCOMERS)
    assert set(after.labels[added]) == {10, 11} and set(after.sources[added]) == {list(Source).index(Source.ENROLLED)}
    others = [load_image(p) for folder in NEWCOMERS for p in sorted(folder.iterdir())[5:25]]
    decisions = Recognizer(bundle).classify(others)
    newcomers = [d for d in decisions if d.label in {f.name for f in NEWCOMERS} and d.verdict is not Verdict.UNKNOWN]
    assert newcomers and all(d.evidence and d.evidence.source is Source.ENROLLED for d in newcomers)
    assert all(d.evidence and d.evidence.label == d.label for d in newcomers)


def test_nearest_looks_among_the_named_characters_faces_only():
    unit = np.eye(3, dtype=np.float32)
    gallery = Gallery.of(np.array([0, 0, 1]), unit, Source.TRAINING, [b"a", b"bb", b"c"])
    gallery += Gallery.of(np.array([2]), unit[:1], Source.ENROLLED, [b"dd"])
    faces = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]], np.float32)
    assert gallery.nearest(np.array([0, 0, 2, 3]), faces).tolist() == [0, 1, 3, -1]
    assert gallery.evidence(3, "x", faces[2]).jpeg == b"dd" and gallery.evidence(1, "x", faces[0]).jpeg == b"bb"


def test_a_damaged_gallery_is_refused_with_its_problem(trained_bundle: Path, tmp_path: Path):
    bundle = Path(shutil.copytree(trained_bundle, tmp_path / "bundle"))
    gallery = load_gallery(bundle)
    broken = Gallery(gallery.labels, gallery.unit, gallery.sources, gallery.jpegs[:-10], gallery.offsets)
    broken.save(bundle)
    write_manifest(bundle, load_manifest(bundle, verify=False))  # consistent checksums: only the content is bad
    with pytest.raises(BundleError, match=GALLERY_FILE):
        Recognizer(bundle)
