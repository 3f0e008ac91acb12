"""``darekana train study``: the study the project grew from (Guan & Ge), re-run on any folder of faces.

Three strategies on one leak-free split (``darekana.train.data.split``; classical models train on train+validation,
networks on train with validation for choosing the epoch; everything is scored on the same test faces):

1. hand-made features (Hu moments, Haralick texture, HSV histogram) into seven tuned classifiers;
2. frozen network features (ResNet-18 by default) into the same seven;
3. fine-tuning ResNet-18/34/50/101 with the study's recipe, and our production recipe (``train fit``).

Writes ``results.json``, ``report.md`` and ``report.html`` with the study's tables, tuning curves,
confusion matrices and the most-confused pairs with example crops. Features are cached in ``OUT/cache``,
so a stopped study restarts where it was.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from darekana.progress import say
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD

from .backbones import TORCHVISION_URLS, build_backbone, load_pretrained
from .classical import CLASSIFIERS, Tuned, grids, tune
from .configs import FinetuneConfig, FitConfig, StudyConfig
from .data import Dataset, Split, load_pixels, scan, split
from .features import HANDMADE_DIM, HSV_BINS, extract, handmade, network_embedder
from .finetune import Trainer
from .fit import fit, resolve_pretrained
from .shared import MOBILENET_V2_TRUNK
from .study_report import write_study_report


@dataclass
class FinetuneRow:
    arch: str
    recipe: str
    pretrained: str
    epochs: int
    best_epoch: int
    val_accuracy: float
    train_accuracy: float
    test_accuracy: float
    fit_seconds: float
    predicted: list[int] = field(repr=False, default_factory=list)


def cached_weights(arch: str) -> str | None:
    """torchvision's ImageNet weights for ``arch`` when torch.hub already holds them (nothing is downloaded)."""
    if arch not in TORCHVISION_URLS:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_URLS[arch].rsplit("/", 1)[1]
    return str(path) if path.is_file() else None


def resolve(arch: str, pretrained: str) -> str | None:
    """``train fit``'s choice of weights, except that ``auto`` first takes torchvision's from torch.hub's cache."""
    return (pretrained == "auto" and cached_weights(arch)) or resolve_pretrained(arch, pretrained)


def feature_backbone(config: StudyConfig) -> tuple[str, str | None]:
    """The backbone for strategy 2 and its weights. Random features say nothing, so with ``auto`` and no
    ImageNet weights for the asked backbone, the offline ImageNet MobileNetV2 trunk stands in (and says so)."""
    source = resolve(config.backbone, config.pretrained)
    if source is None and config.pretrained == "auto" and MOBILENET_V2_TRUNK.is_file():
        say(f"no offline ImageNet weights for {config.backbone}: strategy 2 uses mobilenet_v2 (ImageNet) instead")
        return "mobilenet_v2", str(MOBILENET_V2_TRUNK)
    return config.backbone, source


def run_classical(
    name: str, features: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, test: np.ndarray, quick: bool
) -> list[Tuned]:
    rows = []
    for classifier, (estimator, grid) in grids(quick).items():
        say(f"{name}: tuning {classifier}")
        rows.append(tune(classifier, estimator, grid, features[fit_rows], y[fit_rows], features[test], y[test]))
        say(f"{name}: {classifier} test accuracy {rows[-1].test_accuracy:.3f} with {rows[-1].best_params}")
    return rows


def run_finetune(
    arch: str, config: StudyConfig, pixels: np.ndarray, y: np.ndarray, parts: Split, n_classes: int, workdir: Path
) -> FinetuneRow:
    net = build_backbone(arch, n_classes, seed=config.seed)
    source = resolve(arch, config.pretrained)
    if source:
        load_pretrained(net, source)
    settings = FinetuneConfig.study(config.epochs, freeze_stem=False, device=config.device, seed=config.seed)
    trainer = Trainer(net, IMAGENET_MEAN, IMAGENET_STD, settings, workdir / arch)
    started = time.perf_counter()
    result = trainer.fit(pixels[parts.train], y[parts.train], pixels[parts.val], y[parts.val])
    seconds = time.perf_counter() - started
    predicted = trainer.logits(pixels[parts.test]).argmax(1)
    train_accuracy = float((trainer.logits(pixels[parts.train]).argmax(1) == y[parts.train]).mean())
    return FinetuneRow(
        arch,
        "study",
        source or "none (from scratch)",
        config.epochs,
        result.best_epoch,
        result.best_val_accuracy,
        train_accuracy,
        float((predicted == y[parts.test]).mean()),
        round(seconds, 1),
        predicted.tolist(),
    )


def colour_similarity(hsv: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Cosine similarity of the characters' mean HSV histograms: how alike their colours (hair, eyes) are."""
    means = np.stack([hsv[y == c].mean(0) for c in range(n_classes)])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return means @ means.T


def run_study(data: str | Path, out: str | Path, config: StudyConfig | None = None) -> dict[str, Any]:
    config = config or StudyConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dataset = scan([data])
    pixels = load_pixels(dataset, config.img_size)  # drops unreadable faces and groups near-duplicates first
    say(dataset.summary())
    parts = split(dataset, seed=config.seed)
    y = dataset.targets
    fit_rows = np.sort(np.concatenate([parts.train, parts.val]))
    paths = [s.path for s in dataset.samples]
    cache = out / "cache"

    hand = extract(paths, cache, "handmade", {"size": 128, "dim": HANDMADE_DIM}, per_image=handmade)
    strategy1 = run_classical("strategy 1 (hand-made)", hand, y, fit_rows, parts.test, config.quick)

    backbone, source = feature_backbone(config)
    net = build_backbone(backbone, 1000)
    if source:
        load_pretrained(net, source)
    deep = extract(
        paths, cache, f"{backbone}", {"weights": source or "none", "size": 224}, per_batch=network_embedder(net, 224)
    )
    strategy2 = run_classical(f"strategy 2 ({backbone} features)", deep, y, fit_rows, parts.test, config.quick)

    strategy3 = [
        run_finetune(arch, config, pixels, y, parts, len(dataset.labels), out / "finetune")
        for arch in config.finetune_archs
    ]
    # fine-tuned from the ImageNet trunk, as strategy 3: the shipped base network trained on these sets and
    # would pin its own split, so the row would be scored on other test faces than the strategies
    tune = FinetuneConfig(epochs=config.production_epochs, device=config.device, seed=config.seed)
    production = fit([data], out / "production", FitConfig(network="none", finetune=tune))

    results = _results(config, dataset, parts, backbone, source, strategy1, strategy2, strategy3, production.report)
    results["colour_similarity"] = colour_similarity(hand[:, -(HSV_BINS**3) :], y, len(dataset.labels)).tolist()
    results["seconds"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(_jsonable(results), indent=1, ensure_ascii=False), encoding="utf-8")
    write_study_report(results, dataset, parts, out)
    return results


def _jsonable(value: Any) -> Any:
    """Strict JSON: an unbounded hyperparameter (C = inf) becomes the string "inf"."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _results(
    config: StudyConfig,
    dataset: Dataset,
    parts: Split,
    backbone: str,
    source: str | None,
    strategy1: list[Tuned],
    strategy2: list[Tuned],
    strategy3: list[FinetuneRow],
    production: dict[str, Any],
) -> dict[str, Any]:
    def tuned(rows: list[Tuned]) -> list[dict[str, Any]]:
        return [
            {**{k: v for k, v in asdict(r).items() if k != "predicted"}, "predicted": r.predicted.tolist()}
            for r in rows
        ]

    return {
        "config": asdict(config),
        "data": {
            "labels": [label.id for label in dataset.labels],
            "names": [label.name for label in dataset.labels],
            "train": len(parts.train),
            "val": len(parts.val),
            "test": len(parts.test),
            "test_targets": dataset.targets[parts.test].tolist(),
        },
        "strategy1": {"features": "Hu moments + Haralick + HSV 8x8x8 histogram", "classifiers": tuned(strategy1)},
        "strategy2": {
            "features": f"{backbone} penultimate activations",
            "weights": source or "none",
            "classifiers": tuned(strategy2),
        },
        "strategy3": [asdict(r) for r in strategy3],
        "production": {
            "recipe": "train fit (MobileNetV2, frozen stem, AdamW one-cycle)",
            "test_accuracy": production["top1"],
            "top5": production["top5"],
            "fit_seconds": production["training_seconds"],
            "confusion_matrix": production["confusion_matrix"],
        },
        "classifier_order": list(CLASSIFIERS),
    }
