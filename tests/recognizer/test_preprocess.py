"""Network input: the arithmetic training and the engine share."""

from __future__ import annotations

import numpy as np

from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize


def test_normalize_gives_the_per_channel_formula_bit_for_bit_in_nchw():
    pixels = np.random.default_rng(0).integers(0, 256, (3, 7, 5, 3), dtype=np.uint8)
    mean, std = np.asarray(IMAGENET_MEAN, np.float32), np.asarray(IMAGENET_STD, np.float32)
    expected = ((pixels.astype(np.float32) / 255.0 - mean) / std).transpose(0, 3, 1, 2)
    got = normalize(pixels, IMAGENET_MEAN, IMAGENET_STD)
    assert got.dtype == np.float32 and got.shape == (3, 3, 7, 5) and got.flags.c_contiguous
    assert np.array_equal(got, expected)
