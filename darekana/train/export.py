"""Writing a trained network and its fallback into a bundle directory (see ``darekana.recognizer.bundle``)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from sklearn.calibration import CalibratedClassifierCV
from torch import nn

from darekana.recognizer.layout import FALLBACK_FILE, MODEL_FILE
from darekana.recognizer.onnx import open_session

from .backbones import Backbone, CosineHead, head_of
from .svm_onnx import INPUT, clear_of_ties, svm_graph

OPSET = 17


def to_onnx_file(
    module: nn.Module,
    probe: torch.Tensor,
    path: Path,
    outputs: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    fold_constants: bool = True,
) -> ort.InferenceSession:
    """Exports ``module`` (one input, ``image``) to ``path`` and opens it, for the caller to check. Without
    ``fold_constants`` BatchNorm stays a node of its own and every weight keeps its torch name, so the graph
    loads back into torch (``darekana.train.backbones.load_pretrained``); ONNX Runtime fuses it at load
    anyway, so it runs as fast."""
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of dynamo, which takes ~10x longer and gives
        # the same graph for these plain CNNs; torch is pinned, so the warning carries no risk here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (probe,),
            str(path),
            input_names=["image"],
            output_names=outputs,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            dynamo=False,
            do_constant_folding=fold_constants,
        )
    return open_session(path)


class _LogitsAndEmbedding(nn.Module):
    def __init__(self, net: Backbone):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.embed(image)
        head = head_of(self.net)
        if isinstance(head, CosineHead):  # no targets: the logits carry no margin
            embedding = head.embedding(features)
            return head.logits(embedding), embedding
        return head(features), features


def export_network(net: Backbone, size: int, directory: Path) -> Path:
    """``model.onnx`` with a dynamic batch axis, checked against torch on a random batch."""
    contiguous = net.eval().to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
    wrapper = _LogitsAndEmbedding(contiguous).eval()
    path = directory / MODEL_FILE
    probe = torch.randn(2, 3, size, size)
    axes = {"image": {0: "n"}, "logits": {0: "n"}, "embedding": {0: "n"}}
    session = to_onnx_file(wrapper, probe, path, ["logits", "embedding"], axes)
    with torch.inference_mode():
        expected = [t.numpy() for t in wrapper(probe)]
    got = session.run(["logits", "embedding"], {"image": probe.numpy()})
    for name, a, b in zip(("logits", "embedding"), got, expected):
        if not np.allclose(a, b, atol=1e-3, rtol=1e-3):
            raise RuntimeError(f"ONNX export's {name} differs from torch by {np.abs(a - b).max():.4g}")
    return path


def export_fallback(svm: CalibratedClassifierCV, probe: np.ndarray, directory: Path) -> Path:
    """``fallback.onnx``: the SVM with outputs ``label`` and ``probabilities``, checked against scikit-learn
    on ``probe`` (some of the unit embeddings it was fitted on), those on a tie between two characters aside."""
    path = directory / FALLBACK_FILE
    path.write_bytes(svm_graph(svm, OPSET).SerializeToString())
    probe = probe.astype(np.float32)
    clear = clear_of_ties(svm, probe)
    if clear.sum() < len(probe) / 2:
        raise RuntimeError(f"the fallback cannot be checked: {np.sum(~clear)} of {len(probe)} faces sit on a tie")
    got = open_session(path).run(["probabilities"], {INPUT: probe[clear]})[0]
    expected = svm.predict_proba(probe[clear])
    if not np.allclose(got, expected, atol=1e-4):
        raise RuntimeError(
            f"ONNX fallback's probabilities differ from scikit-learn's by {np.abs(got - expected).max():.4g}"
        )
    return path
