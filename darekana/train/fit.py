"""``darekana train fit``: from folders of labeled faces to a finished, evaluated model bundle.

Steps: scan and de-duplicate → load → leak-free split → fine-tune → export the network to ONNX → embed every
split *with the exported model* (what production will run) and keep the embeddings → fit the fallback SVM
and the class-centre model, and choose thresholds on the calibration split → pick the gallery of evidence
thumbnails → put the face detector in the bundle and measure the crop framing with it → write the manifest
→ score the test split with ``recognizer.Recognizer`` → report. The bundle is built in ``OUT.partial`` and
renamed into place only when complete, so a crash never leaves a half bundle where a good one is expected.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from darekana.progress import say
from darekana.recognizer.bundle import Manifest, write_manifest
from darekana.recognizer.decision import l2_normalize
from darekana.recognizer.detect import (
    ANIMEFACE,
    ANIMEFACE_SPEC,
    DEFAULT_DETECTOR_MODEL,
    FACEBOXES,
    Detector,
    DetectorSpec,
    Framing,
    measure_framing,
)
from darekana.recognizer.detectors import open_detector
from darekana.recognizer.embeddings import PARTS, Embedded, save_embeddings
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.gallery import Source
from darekana.recognizer.images import load_image
from darekana.recognizer.layout import DETECTOR_FILE, MODEL_FILE, REPORT_FOLDER, SPLIT_FILE, fresh_partial, publish
from darekana.recognizer.onnx import open_session
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD

from .backbones import Backbone, build_backbone, load_pretrained
from .configs import DEFAULT_INPUT_SIZE, FitConfig
from .data import Dataset, Split, held_back_digests, load_pixels, scan, split, unpacked
from .evaluate import promises, score
from .export import export_network
from .fallback import fit_fallback
from .finetune import STATE_FILE, EpochLog, FinetuneResult, Trainer
from .gallery import build_gallery
from .head import compose, fit_head
from .mirror import mirrored
from .network import BaseNetwork, base_embeddings, embed, resolve_network
from .quantize import quantize
from .report import plot_history, plot_reliability, write_report
from .shared import darekana_version, imagenet_trunk


@dataclass
class FitResult:
    bundle: Path
    report: dict[str, Any]


def resolve_pretrained(arch: str, pretrained: str) -> str | None:
    if pretrained == "auto":
        return imagenet_trunk(arch)
    return None if pretrained == "none" else pretrained


def fit(folders: list[str | Path], out: str | Path, config: FitConfig | None = None) -> FitResult:
    """Trains a bundle on ``folders`` (folders of faces, or zips of them such as the bot's correction
    exports) and writes it to ``out``."""
    config = config or FitConfig()
    fixed_test = held_back_digests(config.test_split_of) if config.test_split_of else frozenset()
    base = resolve_network(config.network)
    with unpacked(folders) as sources:
        return _fit(sources, folders, Path(out), config, fixed_test, base)


def input_size(config: FitConfig, base: BaseNetwork | None) -> int:
    """The faces' side: the base network's when it stays frozen (its graph is fixed to it), else as asked.
    Options only fine-tuning reads are refused on a frozen network rather than silently ignored."""
    if base is not None and not config.finetune_network:
        if config.img_size not in (0, base.input_size):
            raise ValueError(f"{base.path.name} takes {base.input_size} px faces; drop --img-size or fine-tune it")
        if config.finetune.head.kind != "linear":
            raise ValueError(f"--head {config.finetune.head.kind} is for fine-tuning: add --finetune or --network none")
    return config.img_size or (base.input_size if base else DEFAULT_INPUT_SIZE)


def _fit(
    sources: list[Path],
    folders: list[str | Path],
    out: Path,
    config: FitConfig,
    fixed_test: frozenset[str],
    base: BaseNetwork | None,
) -> FitResult:
    staging = fresh_partial(out)
    staging.mkdir(parents=True)
    started = time.perf_counter()

    size = input_size(config, base)
    dataset = scan(sources, config.aliases)
    pixels = load_pixels(dataset, size)
    say(dataset.summary())
    parts = _split(dataset, config, fixed_test, base)
    _write_split(staging / SPLIT_FILE, dataset, parts)
    y = dataset.targets

    network = _network(config, base, size, len(dataset.labels), pixels, y, parts, staging)
    embedded = {
        part: Embedded(network.logits[i], network.unit[i], y[i]) for part in PARTS for i in [getattr(parts, part)]
    }
    save_embeddings(staging, embedded)
    thresholds, calibration = fit_fallback(embedded, dataset.labels, staging)
    paths = [dataset.samples[i].path for i in parts.train]
    build_gallery(paths, y[parts.train], network.unit[parts.train], Source.TRAINING).save(staging)

    detector = install_detector(config.detector, config.detector_model, staging)
    manifest = Manifest(
        architecture=base.record["architecture"] if base else config.arch,
        input_size=size,
        mean=base.mean if base else IMAGENET_MEAN,  # fine-tuning a base network keeps its normalisation
        std=base.std if base else IMAGENET_STD,
        labels=dataset.labels,
        framing=training_framing(dataset, parts.train, open_detector(detector, staging)),
        detector=detector,
        thresholds=thresholds,
        embedding_dim=int(network.unit.shape[1]),
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        darekana_version=darekana_version(),
        training=_training_record(folders, config, dataset, parts) | network.training,
        metrics={"calibration": calibration},
    )
    write_manifest(staging, manifest)  # the engine below loads the bundle, so it must be complete already
    report = _report(staging, out.name, manifest, dataset, parts, network, started)
    write_manifest(staging, manifest)

    return FitResult(publish(staging, out), report)


def _split(dataset: Dataset, config: FitConfig, fixed_test: frozenset[str], base: BaseNetwork | None) -> Split:
    """The faces' parts: by source picture and near-duplicate group, those the base network's record names
    pinned to its parts, and ``fixed_test`` (an earlier bundle's test faces) kept as the test set."""
    assigned = base.split if base else None
    parts = split(dataset, config.val, config.test, config.finetune.seed, fixed_test, config.calibration, assigned)
    if fixed_test:
        say(
            f"test split of {config.test_split_of}: {len(parts.test)} test faces, "
            f"{sum(dataset.samples[i].digest in fixed_test for i in parts.test)} of them its own"
        )
    return parts


def _training_record(folders: list[str | Path], config: FitConfig, dataset: Dataset, parts: Split) -> dict[str, Any]:
    """What the manifest says of the data the bundle was made from."""
    return {
        "data": [str(Path(f).resolve()) for f in folders],
        "aliases": config.aliases,
        "test_split_of": config.test_split_of,
        "detector_model": str(Path(config.detector_model).resolve()) if config.detector_model else None,
        "faces": {part: len(getattr(parts, part)) for part in PARTS},
        "skipped": len(dataset.skipped),
        "duplicates": dataset.duplicates,
    }


@dataclass
class _Network:
    """The bundle's network, written to its folder: every face's logits and unit embedding, its history
    (empty when frozen) and what the manifest says of how it was made."""

    logits: np.ndarray
    unit: np.ndarray
    history: list[EpochLog]
    training: dict[str, Any]


def _network(
    config: FitConfig,
    base: BaseNetwork | None,
    size: int,
    n_classes: int,
    pixels: np.ndarray,
    y: np.ndarray,
    parts: Split,
    staging: Path,
) -> _Network:
    """``model.onnx`` in ``staging``: a head on the frozen base network, or a fine-tuned network."""
    built_on = {"network": {"file": base.path.name, "sha256": base.sha256}} if base else {}
    if base and not config.finetune_network:
        return _frozen(config, base, n_classes, pixels, y, parts, staging, built_on)
    source = str(base.path) if base else resolve_pretrained(config.arch, config.pretrained)
    if base:
        config = replace(config, arch=base.record["architecture"])
    hidden = base.record.get("hidden") if base else None
    net, history = _finetune(config, source, hidden, n_classes, pixels, y, parts, staging)
    export_network(net.cpu(), size, staging)
    logits, unit = embed(open_session(staging / MODEL_FILE), pixels, IMAGENET_MEAN, IMAGENET_STD)
    tuned = {"pretrained": source or "none", "finetune": asdict(config.finetune), "best_epoch": history.best_epoch}
    return _Network(logits, unit, history.history, built_on | tuned)


def _frozen(
    config: FitConfig,
    base: BaseNetwork,
    n_classes: int,
    pixels: np.ndarray,
    y: np.ndarray,
    parts: Split,
    staging: Path,
    built_on: dict[str, Any],
) -> _Network:
    """A head fitted on the frozen base network's embeddings, composed onto it: onto its int8 copy (made on the
    bundle's training faces) reading each face with its mirror image, unless ``config`` turns either off. The faces
    are embedded by what will serve them."""
    with tempfile.TemporaryDirectory() as tmp:
        trunk = base.path
        if config.int8:
            trunk = quantize(trunk, pixels[parts.train], base.mean, base.std, Path(tmp) / "int8.onnx")
        if config.mirror:
            trunk = mirrored(trunk, Path(tmp) / "mirrored.onnx")
        unit = l2_normalize(base_embeddings(base, pixels, trunk))
        head = fit_head(unit[parts.train], y[parts.train], unit[parts.val], y[parts.val], n_classes)
        compose(trunk, head, staging / MODEL_FILE)
    head_record = {"kind": "linear", "penalty": head.penalty, "val_log_loss": head.val_log_loss}
    frozen = {"head": head_record, "precision": config.precision, "mirror": config.mirror}
    return _Network(head.logits(unit), unit, [], built_on | frozen)


def _report(
    staging: Path,
    name: str,
    manifest: Manifest,
    dataset: Dataset,
    parts: Split,
    network: _Network,
    started: float,
) -> dict[str, Any]:
    """Scores the test split with the bundle's own engine, writes the report and its plots, and adds the
    figures to ``manifest``."""
    decisions = Recognizer(staging).decide(network.logits[parts.test], network.unit[parts.test])
    truth = [dataset.samples[i].label for i in parts.test]
    report = score(decisions, truth, [label.id for label in dataset.labels])
    report["promises"] = promises(report, manifest.metrics["calibration"])
    report["history"] = [asdict(h) for h in network.history]
    report["training_seconds"] = round(time.perf_counter() - started, 1)
    manifest.training["seconds"] = report["training_seconds"]
    manifest.metrics.update({"test_top1": report["top1"], "test_top5": report["top5"], "test_n": report["n"]})
    write_report(report, staging / REPORT_FOLDER, f"{name}: held-back test split")
    if report["history"]:
        plot_history(report["history"], staging / REPORT_FOLDER / "training.png")
    plot_reliability(
        np.array([d.candidates[0].probability for d in decisions]),
        np.array([d.candidates[0].label == t for d, t in zip(decisions, truth)]),
        manifest.thresholds.confident,
        staging / REPORT_FOLDER / "reliability.png",
    )
    return report


def _finetune(
    config: FitConfig,
    source: str | None,
    hidden: list[int] | None,
    n_classes: int,
    pixels: np.ndarray,
    y: np.ndarray,
    parts: Split,
    staging: Path,
) -> tuple[Backbone, FinetuneResult]:
    net = build_backbone(config.arch, n_classes, hidden=hidden, seed=config.finetune.seed)
    if source:
        load_pretrained(net, source)
    # A network trained from scratch has no generic early layers worth keeping frozen.
    settings = replace(config.finetune, freeze_stem=source is not None)
    trainer = Trainer(net, IMAGENET_MEAN, IMAGENET_STD, settings, staging / "checkpoints")
    result = trainer.fit(pixels[parts.train], y[parts.train], pixels[parts.val], y[parts.val])
    (staging / "checkpoints" / STATE_FILE).unlink()  # a bundle is never resumed; best.pt is its network
    return net, result


def _write_split(path: Path, dataset: Dataset, parts: Split) -> None:
    """Which file went where: evaluation and retraining reuse the same held-back faces."""
    names = {part: [str(dataset.samples[i].path) for i in getattr(parts, part)] for part in PARTS}
    for part in PARTS:  # paths may be relative, and those of unpacked zips vanish
        names[f"{part}_sha256"] = [dataset.samples[i].digest for i in getattr(parts, part)]
    path.write_text(json.dumps(names, indent=1), encoding="utf-8")


def install_detector(kind: str, model: str | None, directory: Path) -> DetectorSpec:
    """Puts the face detector into the bundle at ``directory`` and returns what the manifest says of it."""
    if kind == ANIMEFACE:
        return ANIMEFACE_SPEC
    if kind != FACEBOXES:
        raise ValueError(f"unknown detector {kind!r}: {FACEBOXES} or {ANIMEFACE}")
    shutil.copyfile(model or DEFAULT_DETECTOR_MODEL, directory / DETECTOR_FILE)
    return DetectorSpec()


def training_framing(dataset: Dataset, train: np.ndarray, detector: Detector, sample: int = 300) -> Framing:
    """The training crops' framing, read off a sample of them; the default when faces are too few."""
    chosen = np.random.default_rng(0).permutation(train)[:sample]
    crops = (load_image(dataset.samples[i].path) for i in chosen)
    return measure_framing(crops, detector) or Framing()
