"""The study's feature extractors on real face crops."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from darekana.recognizer.preprocess import resize_square
from darekana.train.features import HANDMADE_DIM, HSV_BINS, extract, handmade, haralick, hsv_histogram, hu_moments


@pytest.fixture
def grey(real_crops: list[Image.Image]) -> np.ndarray:
    return cv2.cvtColor(resize_square(real_crops[0], 128), cv2.COLOR_RGB2GRAY)


def test_handmade_vector_shape(real_crops: list[Image.Image]):
    vectors = np.stack([handmade(c) for c in real_crops[:4]])
    assert vectors.shape == (4, HANDMADE_DIM) == (4, 7 + 13 + 512)
    assert np.isfinite(vectors).all()
    assert not np.allclose(vectors[0], vectors[1])  # different faces, different features


def test_hu_moments_are_rotation_and_scale_invariant(grey: np.ndarray):
    reference = hu_moments(grey)
    for turned in (np.rot90(grey), np.rot90(grey, 2)):
        assert np.allclose(hu_moments(np.ascontiguousarray(turned)), reference, rtol=1e-3, atol=1e-3)
    bigger = cv2.resize(grey, (256, 256), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(hu_moments(bigger)[:4], reference[:4], rtol=0.05, atol=0.05)


def test_haralick_is_averaged_over_directions(grey: np.ndarray):
    """A quarter turn swaps the 0°/90° and 45°/135° co-occurrence directions; the mean over them stays put."""
    assert np.allclose(haralick(np.ascontiguousarray(np.rot90(grey))), haralick(grey), rtol=1e-6)
    assert haralick(grey).shape == (13,)


def test_hsv_histogram_sums_to_one(real_crops: list[Image.Image]):
    hist = hsv_histogram(resize_square(real_crops[0], 128))
    assert hist.shape == (HSV_BINS**3,) and abs(hist.sum() - 1) < 1e-5 and (hist >= 0).all()
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    assert hsv_histogram(red).max() == pytest.approx(1.0)  # one colour, one bin


def test_extract_caches_by_content(real_crops: list[Image.Image], tmp_path: Path):
    paths = []
    for i, crop in enumerate(real_crops[:3]):
        paths.append(tmp_path / f"{i}.png")
        crop.save(paths[-1])
    calls = []

    def counting(image: Image.Image) -> np.ndarray:
        calls.append(1)
        return handmade(image)

    first = extract(paths, tmp_path / "cache", "handmade", {"size": 128}, per_image=counting)
    again = extract(paths, tmp_path / "cache", "handmade", {"size": 128}, per_image=counting)
    assert len(calls) == 3 and np.array_equal(first, again)
    extract(paths, tmp_path / "cache", "handmade", {"size": 64}, per_image=counting)  # other settings, new entry
    assert len(calls) == 6
