"""Open-set benchmark: how well a bundle's verdicts separate characters it knows from ones it never saw.

    python bench/openset.py [--bundles models] [--epochs 8]

For hololive-20 and animeface-10 it takes the bundle ``BUNDLES/<dataset>`` (training it when missing), scores
the bundle's validation and test faces (``split.json``) and every face of the other dataset (unknown
characters) with several rejection scores, and prints one JSON line. Per score: the threshold chosen the way
calibration does (reject 5 % of known *validation* faces) and what it gives on held-out faces (known test
false rejection, unknown rejection), plus a curve: unknown rejection at a known test false-rejection rate of
1/2/5/10 %. ``predicted`` is what the engine does (cosine similarity to the answer's prototype).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATASETS, machine  # noqa: E402

from recognizer.bundle import FALLBACK_FILE, MODEL_FILE, PROTOTYPES_FILE, Manifest, load_manifest  # noqa: E402
from recognizer.engine import defer_to_enrolled, l2_normalize, pad_primary, route  # noqa: E402
from recognizer.images import load_image  # noqa: E402
from recognizer.preprocess import to_batch  # noqa: E402
from train.data import IMAGE_SUFFIXES  # noqa: E402
from train.finetune import FinetuneConfig  # noqa: E402
from train.fit import FitConfig, fit  # noqa: E402

PAIRS = {"hololive-20": "animeface-10", "animeface-10": "hololive-20"}
FALSE_REJECTION = 0.05  # what calibration rejects of known validation faces
CURVE = (0.01, 0.02, 0.05, 0.10)


@dataclass
class Faces:
    """What a bundle says about some faces: routed probabilities, similarity to every prototype, and the
    label index each model answers."""

    probs: np.ndarray
    similarities: np.ndarray
    unit: np.ndarray
    labels: np.ndarray  # true label index, -1 for unknown characters

    @property
    def predicted(self) -> np.ndarray:
        return self.similarities[np.arange(len(self.probs)), self.probs.argmax(1)]


def bundle_for(directory: Path, name: str, epochs: int) -> Path:
    if not (directory / name / "manifest.json").is_file():
        fit([DATASETS / name], directory / name, FitConfig(finetune=FinetuneConfig(epochs=epochs)))
    return directory / name


def faces(bundle: Path, manifest: Manifest, paths: list[Path], batch: int = 64) -> Faces:
    net = ort.InferenceSession(str(bundle / MODEL_FILE), providers=["CPUExecutionProvider"])
    svm = ort.InferenceSession(str(bundle / FALLBACK_FILE), providers=["CPUExecutionProvider"])
    centres = np.load(bundle / PROTOTYPES_FILE)
    index = {label.id: i for i, label in enumerate(manifest.labels)}
    probs, sims, units = [], [], []
    for start in range(0, len(paths), batch):
        crops = [load_image(p) for p in paths[start:start + batch]]
        logits, embedding = net.run(["logits", "embedding"], {"image": to_batch(crops, manifest.input_size,
                                                                                manifest.mean, manifest.std)})
        unit = l2_normalize(embedding)
        fallback = svm.run(None, {svm.get_inputs()[0].name: unit})[1]
        sim = unit @ centres.T
        defer = defer_to_enrolled(fallback, sim, manifest.n_network)  # all False unless characters were enrolled
        primary = pad_primary(logits, len(manifest.labels))
        probs.append(route(primary, fallback, manifest.thresholds.primary, defer)[1])
        sims.append(sim)
        units.append(unit)
    return Faces(np.concatenate(probs), np.concatenate(sims), np.concatenate(units),
                 np.array([index.get(p.parent.name, -1) for p in paths]))


def knn(train: Faces, k: int) -> Callable[[Faces], np.ndarray]:
    """Mean cosine similarity to the ``k`` nearest training faces of the answered character: a class's
    faces are spread around its mean, which a single prototype cannot say."""
    def score(f: Faces) -> np.ndarray:
        pred, out = f.probs.argmax(1), np.zeros(len(f.probs))
        for c in np.unique(pred):
            sims = f.unit[pred == c] @ train.unit[train.labels == c].T
            out[pred == c] = np.sort(sims, axis=1)[:, -k:].mean(axis=1)
        return out
    return score


def scores(val: Faces, train: Faces) -> dict[str, Callable[[Faces], np.ndarray]]:
    """Rejection scores (higher: more like a known character). The per-class and combined ones are fitted on
    the known validation faces only; no unknown character is seen before testing."""
    n = val.probs.shape[1]
    pred = val.probs.argmax(1)
    per_class = np.array([np.quantile(val.predicted[pred == c], FALSE_REJECTION) if (pred == c).sum() >= 5
                          else np.quantile(val.predicted, FALSE_REJECTION) for c in range(n)])
    sorted_sim, sorted_prob = np.sort(val.predicted), np.sort(val.probs.max(1))

    def percentile(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.searchsorted(reference, x) / len(reference)

    return {
        "predicted": lambda f: f.predicted,
        "nearest": lambda f: f.similarities.max(1),
        "softmax": lambda f: f.probs.max(1),
        "per_class": lambda f: f.predicted - per_class[f.probs.argmax(1)],
        "min_percentile": lambda f: np.minimum(percentile(sorted_sim, f.predicted),
                                               percentile(sorted_prob, f.probs.max(1))),
        "margin": lambda f: f.predicted - np.sort(f.similarities, 1)[:, -2],
        "knn1": knn(train, 1),
        "knn5": knn(train, 5),
    }


def measure(score: Callable[[Faces], np.ndarray], val: Faces, test: Faces, unknown: Faces) -> dict[str, object]:
    threshold = np.quantile(score(val), FALSE_REJECTION)
    known, other = score(test), score(unknown)
    curve = {f"{int(r * 100)}%": round(float((other < np.quantile(known, r)).mean()), 4) for r in CURVE}
    return {"known_false_rejection": round(float((known < threshold).mean()), 4),
            "unknown_rejection": round(float((other < threshold).mean()), 4), "curve": curve}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundles", default="models", help="folder holding (or to hold) the bundles")
    p.add_argument("--epochs", type=int, default=8, help="for bundles that must be trained first")
    p.add_argument("--datasets", nargs="+", default=list(PAIRS))
    args = p.parse_args()
    figures: dict[str, object] = {"benchmark": "openset", "machine": machine(), "calibrated_at": FALSE_REJECTION}
    for name in args.datasets:
        bundle = bundle_for(Path(args.bundles), name, args.epochs)
        manifest = load_manifest(bundle)
        split = json.loads((bundle / "split.json").read_text())
        train, val, test = (faces(bundle, manifest, [Path(f) for f in split[part]])
                            for part in ("train", "val", "test"))
        unknown = faces(bundle, manifest, images(DATASETS / PAIRS[name]))
        figures[name] = {"bundle": str(bundle), "val_n": len(val.labels), "test_n": len(test.labels),
                         "unknown_n": len(unknown.labels),
                         **{key: measure(s, val, test, unknown) for key, s in scores(val, train).items()}}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
