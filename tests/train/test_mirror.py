"""The base network reading each face with its mirror image, against the two read one by one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from darekana.recognizer.images import load_image
from darekana.recognizer.preprocess import resize_square
from darekana.train.mirror import mirrored
from darekana.train.network import base_embeddings, load_network
from darekana.train.quantize import quantize
from darekana.train.shared import BASE_NETWORK, DATASETS

pytestmark = pytest.mark.skipif(not BASE_NETWORK.is_file(), reason="no base network shipped")


def _faces(size: int) -> np.ndarray:
    paths = sorted((DATASETS / "animeface-10").glob("*/*.png"))[::90]
    return np.stack([resize_square(load_image(p), size) for p in paths])


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_a_mirrored_network_answers_the_mean_of_a_face_and_its_mirror_image(precision: str, tmp_path: Path):
    network = load_network(BASE_NETWORK)
    faces = _faces(network.input_size)
    trunk = network.path
    if precision == "int8":
        trunk = quantize(trunk, faces, network.mean, network.std, tmp_path / "int8.onnx")
    both = base_embeddings(network, faces, mirrored(trunk, tmp_path / "mirrored.onnx"))
    plain = base_embeddings(network, faces, trunk)
    flipped = base_embeddings(network, np.ascontiguousarray(faces[:, :, ::-1]), trunk)
    assert len(faces) >= 5 and both.shape == plain.shape
    np.testing.assert_allclose(both, (plain + flipped) / 2, rtol=1e-4, atol=1e-4)
    assert not np.allclose(plain, flipped, atol=1e-2)  # the mirror image is another reading of the face
    np.testing.assert_allclose(base_embeddings(network, faces[:1], tmp_path / "mirrored.onnx"), both[:1], atol=1e-4)


def test_only_a_base_network_can_be_mirrored(tmp_path: Path, trained_bundle: Path):
    with pytest.raises(ValueError, match="not a base network"):
        mirrored(trained_bundle / "model.onnx", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
