"""Open-set benchmark: how well a bundle's verdicts separate characters it knows from ones it never saw.

    python -m bench.openset [--bundles models] [--sets hololive-20 animeface-10 115] [--epochs 8]

For each set (``bench.faces.SETS``) it takes the bundle ``BUNDLES/<set>`` (training it when missing), and scores
the bundle's validation and test faces (its ``embeddings.npz``) and every face of the set's unknown source
(the other dataset; the heads of paperface-heads' held-back pictures for ``115``) with several rejection
scores, and prints one JSON line. Per score: the threshold chosen the way calibration does (reject 5 % of
known *validation* faces) and what it gives on held-out faces (known test false rejection, unknown
rejection), a curve (unknown rejection at a known test false-rejection rate of 1/2/5/10 %) and the AUROC
of known test against unknown faces. ``engine`` is what the bundle does (distance to the answer's class centre,
``darekana.recognizer.centres``); ``cosine`` is what bundle formats 1-2 did (cosine similarity to the
answer's mean embedding).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.common import machine
from bench.faces import SETS, embedded, unknown_crops
from darekana.recognizer.bundle import load_manifest
from darekana.recognizer.decision import l2_normalize
from darekana.recognizer.embeddings import Embedded, load_embeddings
from darekana.recognizer.engine import Recognizer
from darekana.train.configs import FinetuneConfig, FitConfig
from darekana.train.fit import fit
from darekana.train.shared import DATASETS

FALSE_REJECTION = 0.05  # what calibration rejects of known validation faces
CURVE = (0.01, 0.02, 0.05, 0.10)


@dataclass
class Faces:
    """What a bundle says about some faces: its decisions, the answer, the probabilities and embeddings."""

    answer: np.ndarray
    confidence: np.ndarray
    distance: np.ndarray
    unit: np.ndarray


def bundle_for(directory: Path, name: str, epochs: int) -> Path:
    if not (directory / name / "manifest.json").is_file():
        with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON line
            datasets: list[str | Path] = [DATASETS / d for d in SETS[name][0]]
            fit(datasets, directory / name, FitConfig(finetune=FinetuneConfig(epochs=epochs)))
    return directory / name


def judged(recognizer: Recognizer, embedded: Embedded) -> Faces:
    decisions = recognizer.decide(embedded.logits, embedded.unit)
    index = {label.id: i for i, label in enumerate(recognizer.manifest.labels)}
    return Faces(
        np.array([index[d.label] for d in decisions]),
        np.array([d.confidence for d in decisions]),
        np.array([d.distance for d in decisions]),
        embedded.unit,
    )


def scores(train: Embedded, n_classes: int) -> dict[str, Callable[[Faces], np.ndarray]]:
    """Rejection scores, higher for faces more like a known character."""
    means = l2_normalize(np.stack([train.unit[train.targets == c].mean(0) for c in range(n_classes)]))

    def knn(f: Faces, k: int = 5) -> np.ndarray:
        out = np.zeros(len(f.answer))
        for c in np.unique(f.answer):
            sims = f.unit[f.answer == c] @ train.unit[train.targets == c].T
            out[f.answer == c] = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
        return out

    return {
        "engine": lambda f: -f.distance,
        "cosine": lambda f: np.einsum("nd,nd->n", f.unit, means[f.answer]),
        "top1_probability": lambda f: f.confidence,
        "knn5": knn,
    }


def measure(score: Callable[[Faces], np.ndarray], val: Faces, test: Faces, unknown: Faces) -> dict[str, object]:
    threshold = np.quantile(score(val), FALSE_REJECTION)
    known, other = score(test), score(unknown)
    curve = {f"{int(r * 100)}%": round(float((other < np.quantile(known, r)).mean()), 4) for r in CURVE}
    auroc = roc_auc_score(np.r_[np.ones(len(known)), np.zeros(len(other))], np.r_[known, other])
    return {
        "known_false_rejection": round(float((known < threshold).mean()), 4),
        "unknown_rejection": round(float((other < threshold).mean()), 4),
        "curve": curve,
        "auroc": round(float(auroc), 4),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundles", default="models", help="folder holding (or to hold) the bundles")
    p.add_argument("--epochs", type=int, default=8, help="for bundles that must be trained first")
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=["hololive-20", "animeface-10"])
    args = p.parse_args()
    figures: dict[str, object] = {"benchmark": "openset", "machine": machine(), "calibrated_at": FALSE_REJECTION}
    for name in args.sets:
        bundle = bundle_for(Path(args.bundles), name, args.epochs)
        manifest = load_manifest(bundle)
        parts = load_embeddings(bundle, manifest.n_network, manifest.embedding_dim)
        if parts is None:
            sys.exit(f"{bundle} keeps no embeddings.npz (made before darekana kept them): train it again")
        recognizer = Recognizer(bundle)
        val, test = judged(recognizer, parts["val"]), judged(recognizer, parts["test"])
        unknown = judged(
            recognizer, embedded(bundle, unknown_crops(SETS[name][1], manifest.framing), "embedding unknown faces")
        )
        figures[name] = {
            "bundle": str(bundle),
            "test_top1": manifest.metrics.get("test_top1"),
            "val_n": len(val.answer),
            "test_n": len(test.answer),
            "unknown_source": SETS[name][1],
            "unknown_n": len(unknown.answer),
            **{key: measure(s, val, test, unknown) for key, s in scores(parts["train"], len(manifest.labels)).items()},
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
