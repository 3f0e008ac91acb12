"""Writing a trained network and its fallback into a bundle directory (see ``recognizer.bundle``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from sklearn.calibration import CalibratedClassifierCV
from skl2onnx import to_onnx
from torch import nn

from recognizer.backbones import Backbone
from recognizer.bundle import FALLBACK_FILE, MODEL_FILE

OPSET = 17


class _LogitsAndEmbedding(nn.Module):
    def __init__(self, net: Backbone):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.net.embed(image)
        head = self.net.fc if hasattr(self.net, "fc") else self.net.classifier
        return head(embedding), embedding


def export_network(net: Backbone, size: int, directory: Path) -> Path:
    """``model.onnx`` with a dynamic batch axis, checked against torch on a random batch."""
    wrapper = _LogitsAndEmbedding(net.eval().to(memory_format=torch.contiguous_format)).eval()
    path = directory / MODEL_FILE
    probe = torch.randn(2, 3, size, size)
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of dynamo, which takes ~10x longer and gives
        # the same graph for these plain CNNs; torch is pinned, so the warning carries no risk here.
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (probe,), str(path), input_names=["image"], output_names=["logits", "embedding"],
                          dynamic_axes={"image": {0: "n"}, "logits": {0: "n"}, "embedding": {0: "n"}},
                          opset_version=OPSET, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = wrapper(probe)[0].numpy()
    got = session.run(["logits"], {"image": probe.numpy()})[0]
    if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
        raise RuntimeError(f"ONNX export differs from torch by {np.abs(got - expected).max():.4g}")
    return path


def export_fallback(svm: CalibratedClassifierCV, dim: int, directory: Path) -> Path:
    """``fallback.onnx``: the SVM with outputs ``label`` and ``probabilities`` (a plain tensor, no zipmap)."""
    with warnings.catch_warnings():
        # skl2onnx reads SVC attributes that scikit-learn 1.9 marks deprecated; the values are still right.
        warnings.simplefilter("ignore", FutureWarning)
        model = to_onnx(svm, np.zeros((1, dim), np.float32), options={id(svm): {"zipmap": False}},
                        target_opset={"": OPSET, "ai.onnx.ml": 3})
    path = directory / FALLBACK_FILE
    path.write_bytes(model.SerializeToString())
    return path
