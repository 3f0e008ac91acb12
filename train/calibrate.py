"""Choosing the bundle's decision thresholds on validation data, with the engine's own decision rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recognizer.bundle import Thresholds
from recognizer.engine import defer_to_enrolled, route, verdicts

# A face the network gives under 30 % always goes to the fallback, and no answer under 50 % is "confident",
# however a small validation split happens to fall.
PRIMARY_GRID = np.round(np.arange(0.3, 0.975, 0.025), 3)
CONFIDENT_GRID = np.round(np.arange(0.5, 0.995, 0.01), 3)


@dataclass(frozen=True)
class Outputs:
    """What the bundle's models say about a set of faces: primary and fallback probabilities, and each
    face's cosine similarity to the prototype of the class each model predicts; ``defer`` marks faces the
    engine sends to the fallback whatever the network says (enrolled characters)."""

    primary: np.ndarray
    fallback: np.ndarray
    similarity_primary: np.ndarray
    similarity_fallback: np.ndarray
    defer: np.ndarray | None = None

    def similarity(self, threshold: float) -> np.ndarray:
        use_primary, _ = route(self.primary, self.fallback, threshold, self.defer)
        return np.where(use_primary, self.similarity_primary, self.similarity_fallback)

    def routed(self, threshold: float) -> np.ndarray:
        return route(self.primary, self.fallback, threshold, self.defer)[1]


def outputs(primary: np.ndarray, fallback: np.ndarray, unit_embeddings: np.ndarray, prototypes: np.ndarray,
            n_network: int | None = None) -> Outputs:
    """``primary`` covers every label (see ``recognizer.engine.pad_primary``); ``n_network``: how many of them
    the network knows, when characters were enrolled after training."""
    sims = unit_embeddings @ prototypes.T
    rows = np.arange(len(sims))
    defer = defer_to_enrolled(fallback, sims, n_network) if n_network is not None else None
    return Outputs(primary, fallback, sims[rows, primary.argmax(1)], sims[rows, fallback.argmax(1)], defer)


def choose_thresholds(val: Outputs, targets: np.ndarray, false_rejection: float = 0.05,
                      precision: float = 0.99) -> tuple[Thresholds, dict[str, float]]:
    """``primary``: the routing threshold with the best validation top-1 (the lowest on ties: the network
    is the stronger model). ``similarity``: rejects ``false_rejection`` of known validation faces.
    ``confident``: the lowest probability above which answers are right at least ``precision`` of the time."""
    accuracy = [_routed_accuracy(val, targets, t) for t in PRIMARY_GRID]
    primary = float(PRIMARY_GRID[int(np.argmax(accuracy))])
    similarity = float(np.quantile(val.similarity(primary), false_rejection)) if len(targets) else 0.0
    confident = 0.99
    probs = val.routed(primary)
    right = probs.argmax(1) == targets
    for c in CONFIDENT_GRID:
        answered = probs.max(1) >= c
        if answered.any() and right[answered].mean() >= precision:
            confident = float(c)
            break
    thresholds = Thresholds(primary=primary, confident=confident, similarity=similarity)
    verdict = verdicts(probs, val.similarity(primary), thresholds)
    stats = {
        "val_top1_routed": float(max(accuracy)),
        "val_false_rejection": float((verdict == 2).mean()),
        "val_confident_share": float((verdict == 0).mean()),
        "val_confident_precision": float(right[verdict == 0].mean()) if (verdict == 0).any() else 0.0,
    }
    return thresholds, stats


def _routed_accuracy(val: Outputs, targets: np.ndarray, threshold: float) -> float:
    return float((val.routed(threshold).argmax(1) == targets).mean())
