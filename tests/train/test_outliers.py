"""Outlier exposure (``darekana train base --outliers``): which faces count as outliers, and that training
on them makes the network less sure of faces of no character it knows."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.faces import unknown_crops
from darekana.recognizer.detect import Framing
from darekana.recognizer.images import load_image
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD, resize_square
from darekana.train.backbones import build_backbone, load_pretrained
from darekana.train.configs import BaseConfig
from darekana.train.detection import head_crops, load_voc, split_pictures
from darekana.train.finetune import Trainer
from darekana.train.outliers import outlier_faces
from darekana.train.shared import DATASETS, MOBILENET_V2_TRUNK

PAPERFACE = DATASETS / "paperface-heads"
SIZE = 40


FRAMING = Framing()


@pytest.fixture(scope="module")
def held_back_heads() -> np.ndarray:
    return np.stack([resize_square(c, SIZE) for c in head_crops(split_pictures(load_voc([PAPERFACE]))[1], FRAMING)])


@pytest.fixture(scope="module")
def outliers() -> np.ndarray:
    return outlier_faces([PAPERFACE], SIZE, FRAMING)


def test_a_voc_set_gives_its_tuning_pictures_heads_and_never_its_held_back_ones(
    outliers: np.ndarray, held_back_heads: np.ndarray
):
    tune, held = split_pictures(load_voc([PAPERFACE]))
    assert len(outliers) == sum(len(a.boxes) for a in tune) and outliers.shape[1:] == (SIZE, SIZE, 3)
    assert not {h.tobytes() for h in held_back_heads} & {o.tobytes() for o in outliers}
    # what the benchmarks measure rejection on is that held-back part
    assert sum(len(a.boxes) for a in held) == len(held_back_heads)


def test_the_benchmarks_strangers_are_held_back_heads_cut_as_a_bundle_cuts_a_detected_head():
    held = split_pictures(load_voc([PAPERFACE]))[1]
    wide, tight = (
        unknown_crops("paperface-heads:held", Framing(1.3, 0.65)),
        unknown_crops("paperface-heads:held", Framing(1.0, 0.5)),
    )
    assert len(wide) == len(tight) == sum(len(a.boxes) for a in held)
    x0, y0, x1, y1 = held[0].boxes[0]
    assert max(tight[0].size) == max(round(x1 - x0), round(y1 - y0))  # the box's longer side, squared
    assert all(w.width * w.height > t.width * t.height for w, t in zip(wide, tight))
    with pytest.raises(ValueError, match="only part"):
        unknown_crops("paperface-heads:tune", FRAMING)


def test_a_folder_of_crops_gives_each_readable_picture(tmp_path: Path):
    crops = sorted((DATASETS / "animeface-10").rglob("*.png"))[:3]
    for path in crops:
        shutil.copyfile(path, tmp_path / path.name)
    (tmp_path / "broken.jpg").write_bytes(b"not a picture")
    faces = outlier_faces([tmp_path], SIZE, FRAMING)
    assert len(faces) == 3
    np.testing.assert_array_equal(faces[0], resize_square(load_image(crops[0]), SIZE))
    with pytest.raises(FileNotFoundError, match="not found"):
        outlier_faces([tmp_path / "missing"], SIZE, FRAMING)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no outlier faces"):
        outlier_faces([tmp_path / "empty"], SIZE, FRAMING)


def _confidence_on(held_back_heads: np.ndarray, outliers: np.ndarray | None, checkpoints: Path) -> float:
    """Mean top softmax on heads no training saw, of a network trained on three characters (with ``outliers``)."""
    folders = sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())[:3]
    paths = [(i, p) for i, folder in enumerate(folders) for p in sorted(folder.iterdir())[:20]]
    x = np.stack([resize_square(load_image(p), SIZE) for _, p in paths])
    y = np.array([i for i, _ in paths])
    torch.manual_seed(0)
    net = build_backbone("mobilenet_v2", 3)
    load_pretrained(net, str(MOBILENET_V2_TRUNK))
    config = replace(BaseConfig().finetune, epochs=3, batch_size=16, outlier_weight=1.0)
    trainer = Trainer(net, IMAGENET_MEAN, IMAGENET_STD, config, checkpoints)
    trainer.fit(x, y, x[:6], y[:6], outliers=outliers)
    logits = torch.from_numpy(trainer.logits(held_back_heads))
    return float(logits.softmax(1).max(1).values.mean())


def test_outlier_exposure_makes_the_network_less_sure_of_faces_of_no_known_character(
    outliers: np.ndarray, held_back_heads: np.ndarray, tmp_path: Path
):
    plain = _confidence_on(held_back_heads, None, tmp_path / "plain")
    exposed = _confidence_on(held_back_heads, outliers, tmp_path / "exposed")
    assert exposed < plain - 0.04, (plain, exposed)  # 0.71 and 0.63 when written
