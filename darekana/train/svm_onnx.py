"""The fallback SVM (an RBF ``SVC`` in a sigmoid ``CalibratedClassifierCV``) as a compact ONNX graph.

skl2onnx builds scikit-learn's one-vs-rest decision function element by element: about five nodes per
pair of characters, so 34,000 nodes for 115 characters. Its converter takes 200 s to write that graph
(its node-name check is quadratic) and ONNX Runtime 54 ms to run it for one face. Here the same arithmetic
is 2·C + 32 nodes (262 for 115 characters), mostly matrix products, built from the fitted attributes:

1. the RBF kernel against every support vector, ``exp(-gamma·‖x − sv‖²)``;
2. each pair's decision value: the support vectors of each character, times their dual coefficients against
   every other character, one product per character, then gathered per pair
   (:func:`darekana.train.svm.pair_columns`), plus ``intercept_``;
3. scikit-learn's one-vs-rest shape of those values (``sklearn.utils.multiclass._ovr_decision_function``):
   votes plus the summed confidences squashed into (−1/3, 1/3), both linear maps of the pair values;
4. each character's sigmoid (``expit(−(a·f + b))``), normalised to sum to one (uniform when all are 0).

Two characters are scikit-learn's binary case: one decision value, positive for the second, and
``p₀ = 1 − p₁``. :func:`svm_graph` is checked against ``predict_proba`` where it is written
(``darekana.train.export.export_fallback``), except on faces where a pair of characters is within float32's
rounding of a tie (:func:`clear_of_ties`).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

from .svm import pair_columns

INPUT = "unit"
# A pair's decision value nearer 0 than this is a tie float32 cannot settle: the graph (float32) and
# scikit-learn (float64) may give that pair's vote to different characters, which moves the probabilities.
TIE = 1e-5


class _Graph:
    """Nodes and constants, with names made up as they are added."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.constants: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, value: np.ndarray | np.generic, hint: str = "c") -> str:
        name = self.name(hint)
        self.constants.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, out: str | None = None, **attributes: Any) -> str:
        output = out or self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output


def _pair_decisions(g: _Graph, svc: SVC) -> str:
    """(N, pairs) decision values, pairs (0,1), (0,2), ..., (1,2), ... as ``SVC.decision_function(ovo)``."""
    sv = svc.support_vectors_.astype(np.float32)
    gamma = float(svc._gamma)
    counts = svc.n_support_
    starts = np.r_[0, np.cumsum(counts)]
    n_classes = len(counts)
    squared = g.op("ReduceSumSquare", INPUT, axes=[1], keepdims=1)
    cross = g.op("MatMul", INPUT, g.const(sv.T, "sv_t"))
    distance = g.op(
        "Add", g.op("Add", squared, g.op("Mul", cross, g.const(np.float32(-2)))), g.const((sv * sv).sum(1)[None, :])
    )
    kernel = g.op("Exp", g.op("Mul", distance, g.const(np.float32(-gamma))))
    coef = svc.dual_coef_.astype(np.float32)  # (C − 1, S)
    parts = []
    for c in range(n_classes):
        block = g.op(
            "Slice", kernel, g.const(np.array([starts[c]])), g.const(np.array([starts[c + 1]])), g.const(np.array([1]))
        )
        parts.append(g.op("MatMul", block, g.const(coef[:, starts[c] : starts[c + 1]].T.copy(), "coef")))
    per_class = g.op("Concat", *parts, axis=1)  # class c's columns: c·(C−1) ... (c+1)·(C−1) − 1
    first, second = pair_columns(n_classes)
    total = g.op(
        "Add", g.op("Gather", per_class, g.const(first), axis=1), g.op("Gather", per_class, g.const(second), axis=1)
    )
    return g.op("Add", total, g.const(svc.intercept_.astype(np.float32)))


def _ovr(g: _Graph, decisions: str, n_classes: int) -> str:
    """scikit-learn's one-vs-rest decision function from the pair values (more than two classes)."""
    pairs = [(i, j) for i in range(n_classes) for j in range(i + 1, n_classes)]
    signs = np.zeros((len(pairs), n_classes), np.float32)  # +1 for a pair's first class, −1 for its second
    for p, (i, j) in enumerate(pairs):
        signs[p, i], signs[p, j] = 1.0, -1.0
    signs_name = g.const(signs, "signs")
    won = g.op("Cast", g.op("GreaterOrEqual", decisions, g.const(np.float32(0))), to=TensorProto.FLOAT)
    # A class wins the pairs where it comes first and d ≥ 0 and those where it comes second and d < 0:
    # won·signs counts the first kind less the losses of the second; class c comes second in c pairs.
    votes = g.op("Add", g.op("MatMul", won, signs_name), g.const(np.arange(n_classes, dtype=np.float32)))
    confidence = g.op("MatMul", decisions, signs_name)
    scale = g.op("Mul", g.op("Add", g.op("Abs", confidence), g.const(np.float32(1))), g.const(np.float32(3)))
    return g.op("Add", votes, g.op("Div", confidence, scale))


def svm_graph(model: CalibratedClassifierCV, opset: int) -> onnx.ModelProto:
    """``model`` (fitted with ``ensemble=False``, sigmoid) as ONNX: input ``unit`` (N, D) float32, outputs
    ``label`` (N,) int64 and ``probabilities`` (N, C) float32."""
    (calibrated,) = model.calibrated_classifiers_
    svc: SVC = calibrated.estimator
    n_classes = len(svc.classes_)
    a = np.array([c.a_ for c in calibrated.calibrators], np.float32)
    b = np.array([c.b_ for c in calibrated.calibrators], np.float32)
    g = _Graph()
    decisions = _pair_decisions(g, svc)
    if n_classes == 2:  # one calibrator, for the second class
        second = g.op("Sigmoid", g.op("Neg", g.op("Add", g.op("Mul", decisions, g.const(a)), g.const(b))))
        probabilities = g.op("Concat", g.op("Sub", g.const(np.float32(1)), second), second, axis=1, out="probabilities")
    else:
        scores = _ovr(g, decisions, n_classes)
        sigmoid = g.op("Sigmoid", g.op("Neg", g.op("Add", g.op("Mul", scores, g.const(a)), g.const(b))))
        total = g.op("ReduceSum", sigmoid, g.const(np.array([1], np.int64)), keepdims=1)
        zero = g.op("Equal", total, g.const(np.float32(0)))
        uniform = g.const(np.full((1, n_classes), 1 / n_classes, np.float32))
        probabilities = g.op("Where", zero, uniform, g.op("Div", sigmoid, total), out="probabilities")
    best = g.op("ArgMax", probabilities, axis=1, keepdims=0)
    g.op("Gather", g.const(np.asarray(svc.classes_, np.int64)), best, axis=0, out="label")
    graph = helper.make_graph(
        g.nodes,
        "fallback_svm",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["n", svc.support_vectors_.shape[1]])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", n_classes]),
        ],
        g.constants,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def clear_of_ties(model: CalibratedClassifierCV, faces: np.ndarray) -> np.ndarray:
    """Which of ``faces`` no pair of characters decides within ``TIE`` of a tie (with two characters there
    are no votes, so every face): there the graph must give scikit-learn's probabilities."""
    (calibrated,) = model.calibrated_classifiers_
    if len(calibrated.estimator.classes_) == 2:
        return np.ones(len(faces), bool)
    pairs = copy.copy(calibrated.estimator)  # the fitted arrays shared; only the output's shape differs
    pairs.decision_function_shape = "ovo"
    return np.abs(pairs.decision_function(faces)).min(axis=1) > TIE
