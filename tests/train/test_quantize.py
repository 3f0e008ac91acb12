"""The int8 copy a frozen bundle serves: the shipped network quantized on real crops, against its float32 self."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from darekana.recognizer.decision import l2_normalize
from darekana.recognizer.images import load_image
from darekana.recognizer.preprocess import resize_square
from darekana.train.network import EMBEDDING, base_embeddings, load_network
from darekana.train.quantize import CALIBRATION_FACES, calibration_sample, quantize
from darekana.train.shared import BASE_NETWORK, DATASETS

pytestmark = pytest.mark.skipif(not BASE_NETWORK.is_file(), reason="no base network shipped")


def _faces(size: int, step: int, offset: int) -> np.ndarray:
    paths = sorted((DATASETS / "moeimouto-85").glob("*/*.jpg"))[offset::step]
    return np.stack([resize_square(load_image(p), size) for p in paths])


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    network = load_network(BASE_NETWORK)
    faces = _faces(network.input_size, 180, 0)
    return quantize(network.path, faces, network.mean, network.std, tmp_path_factory.mktemp("int8") / "int8.onnx")


def test_the_int8_copy_embeds_other_faces_as_the_float32_network_does(quantized: Path):
    network = load_network(BASE_NETWORK)
    faces = _faces(network.input_size, 180, 90)  # none of the faces its ranges were measured on
    exact = l2_normalize(base_embeddings(network, faces))
    served = l2_normalize(base_embeddings(network, faces, quantized))
    cosine = (exact * served).sum(1)
    assert len(faces) >= 20 and np.median(cosine) > 0.98 and cosine.min() > 0.95, cosine
    # and it is a network of its own: the same faces through it differ from the float32 ones
    assert not np.allclose(exact, served, atol=1e-4)


def test_the_int8_copy_holds_8_bit_weights_and_keeps_the_embedding_output(quantized: Path):
    model = onnx.load(str(quantized))
    weights = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(weights) >= 50  # every convolution's
    assert [o.name for o in model.graph.output] == [EMBEDDING]
    assert quantized.stat().st_size < BASE_NETWORK.stat().st_size / 3


def test_no_weight_can_saturate_a_cpu_without_vnni(quantized: Path):
    # such a CPU adds two uint8 × int8 products in 16 bits: 2 · 255 · 64 fits, 2 · 255 · 128 does not
    model = onnx.load(str(quantized))
    weights = [numpy_helper.to_array(i) for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64


def test_the_same_faces_give_the_same_int8_network(quantized: Path, tmp_path: Path):
    network = load_network(BASE_NETWORK)
    again = quantize(network.path, _faces(network.input_size, 180, 0), network.mean, network.std, tmp_path / "q.onnx")
    assert again.read_bytes() == quantized.read_bytes()


def test_quantizing_needs_faces(tmp_path: Path):
    network = load_network(BASE_NETWORK)
    empty = np.zeros((0, network.input_size, network.input_size, 3), np.uint8)
    with pytest.raises(ValueError, match="needs faces"):
        quantize(network.path, empty, network.mean, network.std, tmp_path / "q.onnx")
    assert not (tmp_path / "q.onnx").exists()


def test_the_calibration_sample_is_spread_over_the_faces_and_all_of_few():
    pixels = np.arange(1000)
    sample = calibration_sample(pixels)
    assert len(sample) == CALIBRATION_FACES and sample[0] == 0 and sample[-1] == 999
    assert np.all(np.diff(sample) >= 15)
    assert list(calibration_sample(pixels[:5])) == [0, 1, 2, 3, 4]
