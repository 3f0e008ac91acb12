"""The int8 copy of a base network that a frozen bundle serves: weights int8 per output channel (in 7 bits, below),
activations 8-bit with ranges read off the bundle's own training faces (ONNX Runtime's static quantization, QDQ
format), the first convolutions left in float32.

All in int8, the shipped 192 px network embedded a face in a quarter of the float32 time on one core of an AMD EPYC
with VNNI, but rejected heads of other shows less often (59 % against 69 % at 5 % of known faces rejected, AUROC
0.948 against 0.955): the error of the first, high-resolution layers carries through the network. With the first
nine convolutions (MobileNetV2's stem and first three blocks, a quarter of its work) in float32, 68 % (AUROC 0.955),
and a face through the whole bundle in 0.66 of the float32 time (docs/benchmarks.md, "int8 faces"). Batch
normalisation is folded into the convolutions first (``quant_pre_process``): quantized unfolded, the network came
out three times slower and its embeddings only 0.96 alike.

Weights take 7 bits (``reduce_range``): on x86 CPUs without VNNI, ONNX Runtime multiplies uint8 activations by int8
weights with an instruction whose 16-bit sums saturate, so the same bundle named the 115 worse on such a host
(0.958 against 0.962 on one with VNNI). With 7-bit weights no sum can saturate, and on an AMD EPYC without VNNI the
embeddings came out closer to float32's (median cosine 0.998 against 0.993; docs/benchmarks.md, "7-bit weights").
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from darekana.recognizer.layout import partial, publish
from darekana.recognizer.preprocess import normalize

from .configs import INT8_WEIGHT_BITS

# Faces whose activations set the int8 ranges: 64 and 128 gave embeddings as alike (cosine 0.993 against 0.993),
# and min-max ranges take a second or two where histograms of all of MobileNetV2's activations ran out of memory.
CALIBRATION_FACES = 64
FLOAT_CONVOLUTIONS = 9  # the first, in graph order, kept in float32
_BATCH = 16
_WARNINGS_OFF = 3  # ONNX Runtime's log severity "error": folding warns once per unused constant


class _Faces(CalibrationDataReader):
    """Calibration input, a batch at a time."""

    def __init__(self, inputs: np.ndarray):
        self._batches = iter([{"image": inputs[i : i + _BATCH]} for i in range(0, len(inputs), _BATCH)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def calibration_sample(pixels: np.ndarray, count: int = CALIBRATION_FACES) -> np.ndarray:
    """``count`` of ``pixels`` evenly spaced (all when fewer): the same faces give the same network."""
    picked = np.unique(np.linspace(0, len(pixels) - 1, min(count, len(pixels))).round().astype(int))
    return pixels[picked]


def quantize(network: Path, pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...], out: Path) -> Path:
    """``out``: ``network`` (float32 ONNX, input ``image``) in int8 but for its first ``FLOAT_CONVOLUTIONS``
    convolutions, its activation ranges measured on ``calibration_sample(pixels)`` (uint8 faces (N, S, S, 3) at
    the network's input size)."""
    if not len(pixels):
        raise ValueError("quantizing a network needs faces to measure its activations on")
    inputs = normalize(calibration_sample(pixels), mean, std)
    with tempfile.TemporaryDirectory() as tmp, _quiet():
        folded = Path(tmp) / "folded.onnx"
        quant_pre_process(str(network), str(folded))
        convolutions = [n.name for n in onnx.load(str(folded)).graph.node if n.op_type == "Conv"]
        written = partial(out)
        quantize_static(
            str(folded),
            str(written),
            _Faces(inputs),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=INT8_WEIGHT_BITS == 7,  # ONNX Runtime's only choices are 8 and 7
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=convolutions[:FLOAT_CONVOLUTIONS],
        )
    return publish(written, out)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    ort.set_default_logger_severity(_WARNINGS_OFF)
    try:
        yield
    finally:
        ort.set_default_logger_severity(2)  # ONNX Runtime's default, "warning"
