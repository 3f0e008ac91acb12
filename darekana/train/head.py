"""A bundle on a frozen base network: the classification head fitted on its embeddings, and the bundle's
``model.onnx`` made by putting that head on the base network's graph.

The head is multinomial logistic regression on the L2-normalised embedding (the same vector the fallback
and the centres read), fitted full-batch with L-BFGS; its L2 penalty is the one of ``PENALTIES`` with the
lowest validation log-loss. (Chosen by top-1, ties went to strong penalties whose probabilities were flat:
0.3 on training faces of a 10-character bundle, so hardly an answer was "confident".) Seconds on a CPU for a
hundred characters, where fine-tuning takes a quarter of an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

from darekana.recognizer.layout import partial, publish
from darekana.recognizer.onnx import open_session

from .network import EMBEDDING

PENALTIES = (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
DEFAULT_PENALTY = 1e-5  # without validation faces
UNIT, LOGITS = "unit_embedding", "logits"


@dataclass
class LinearHead:
    """``logits = unit(embedding) @ weight.T + bias``."""

    weight: np.ndarray  # (C, D) float32
    bias: np.ndarray  # (C,) float32
    penalty: float
    val_log_loss: float

    def logits(self, unit: np.ndarray) -> np.ndarray:
        return unit @ self.weight.T + self.bias


def fit_head(
    train_unit: np.ndarray,
    train_y: np.ndarray,
    val_unit: np.ndarray,
    val_y: np.ndarray,
    n_classes: int,
    iterations: int = 200,
) -> LinearHead:
    """The head with the penalty of ``PENALTIES`` whose probabilities fit ``val`` best (``DEFAULT_PENALTY``
    without validation faces)."""
    heads = [_head(train_unit, train_y, val_unit, val_y, n_classes, p, iterations) for p in _penalties(val_y)]
    return min(heads, key=lambda head: head.val_log_loss)


def _penalties(val_y: np.ndarray) -> tuple[float, ...]:
    return PENALTIES if len(val_y) else (DEFAULT_PENALTY,)


def _head(
    train_unit: np.ndarray,
    train_y: np.ndarray,
    val_unit: np.ndarray,
    val_y: np.ndarray,
    n_classes: int,
    penalty: float,
    iterations: int,
) -> LinearHead:
    weight, bias = _lbfgs(train_unit, train_y, n_classes, penalty, iterations)
    if not len(val_y):
        return LinearHead(weight, bias, penalty, 0.0)
    logits = torch.from_numpy(val_unit @ weight.T + bias)
    return LinearHead(weight, bias, penalty, float(F.cross_entropy(logits, torch.from_numpy(val_y.astype(np.int64)))))


def _lbfgs(x: np.ndarray, y: np.ndarray, n_classes: int, penalty: float, iterations: int) -> tuple[np.ndarray, ...]:
    features, targets = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
    weight = torch.zeros(n_classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(features @ weight.T + bias, targets) + penalty * weight.pow(2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return weight.detach().numpy().astype(np.float32), bias.detach().numpy().astype(np.float32)


def compose(base: Path, head: LinearHead, out: Path) -> Path:
    """``out``: the base network's graph with the head on its embedding, outputs ``logits`` and
    ``embedding`` as every bundle's model has; checked against the head on the base's own output."""
    model = onnx.load(str(base))
    graph = model.graph
    if [o.name for o in graph.output] != [EMBEDDING]:
        raise ValueError(f"{base} is not a base network: its outputs are not just {EMBEDDING!r}")
    graph.initializer.extend(
        [numpy_helper.from_array(head.weight, "head.weight"), numpy_helper.from_array(head.bias, "head.bias")]
    )
    graph.node.extend(
        [
            helper.make_node("LpNormalization", [EMBEDDING], [UNIT], axis=1, p=2),
            helper.make_node("Gemm", [UNIT, "head.weight", "head.bias"], [LOGITS], transB=1),
        ]
    )
    embedding = graph.output.pop()
    graph.output.extend([helper.make_tensor_value_info(LOGITS, onnx.TensorProto.FLOAT, ["n", len(head.bias)])])
    graph.output.append(embedding)
    onnx.checker.check_model(model)
    written = partial(out)
    onnx.save(model, str(written))
    _check(base, written, head, graph.input[0].type.tensor_type.shape.dim[2].dim_value)
    publish(written, out)
    return out


def _check(base: Path, composed: Path, head: LinearHead, size: int) -> None:
    probe = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    raw = open_session(base).run([EMBEDDING], {"image": probe})[0]
    expected = head.logits(raw / np.linalg.norm(raw, axis=1, keepdims=True))
    got = open_session(composed).run([LOGITS], {"image": probe})[0]
    if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
        raise RuntimeError(f"the composed model's logits differ from the head's by {np.abs(got - expected).max():.4g}")
