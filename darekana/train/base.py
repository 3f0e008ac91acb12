"""``darekana train base``: the embedding network every bundle is built on, trained once for as long as it pays.

A bundle made by ``darekana train fit`` on top of it keeps this network frozen and fits only what sits on
it (head, fallback, centres, thresholds, gallery), in minutes. So the long training lives here:

- **Resumable.** The work folder beside the output (``FILE.onnx.training/``) keeps ``checkpoints/state.pt``
  after every epoch (weights, optimizer, schedule, random states); the same command started again continues
  with the next epoch, exactly as an uninterrupted run would have. A different recipe in the same folder is
  refused rather than mixed in.
- **One split with the bundles.** The faces are split by source picture and near-duplicate group
  (:func:`darekana.train.data.split`, the fractions of :class:`darekana.train.configs.FitConfig`) and the
  network trains on the train part only. The record (``FILE.json``) lists every face's part by sha256, and
  ``train fit`` pins those faces to the same parts: a bundle calibrates and tests on faces the network never
  saw. ``hold_out`` leaves whole characters out of training, to measure how it names and rejects
  characters it never saw (``bench/enroll.py --network``).
- **Started from another base network** (``--pretrained FILE.onnx`` with its record beside it, e.g. to go
  on at another input size, or to add the characters it held out), it keeps that network's split, refuses
  to hold out a character that network trained on, and its record lists the faces both runs trained on and
  the first run's recipe under ``started_from``.
- **Outlier exposure** (``outliers``: folders of faces of no known character, :mod:`darekana.train.outliers`):
  each batch adds a few of them, taught a uniform answer, so that faces of characters it never saw land
  away from every character it knows.
- **Slimmed** (``slim``, with a base network as ``pretrained``): a MobileNetV2 with that share of the
  hidden channels of the network it starts from, taught to give that network's embedding
  (:mod:`darekana.train.slim`), for a face in fewer milliseconds. Its record names each block's width
  (``hidden``), which loading it back into torch needs.
- **Chosen on what matters.** The schedule runs to its end (no early stopping on known characters'
  validation accuracy, which says little about characters a server enrolls later); validation top-1 is
  logged only.

The output is an ONNX graph with one input ``image`` (N, 3, S, S) and one output ``embedding`` (N, D): the
pooled features (with a cosine head's projection, the projection), unnormalised.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from darekana.progress import say
from darekana.recognizer.detect import DEFAULT_DETECTOR_MODEL, DetectorSpec, Framing
from darekana.recognizer.detectors import FaceBoxesDetector
from darekana.recognizer.embeddings import PARTS
from darekana.recognizer.layout import partial, publish
from darekana.recognizer.names import character_key
from darekana.recognizer.preprocess import IMAGENET_MEAN, IMAGENET_STD

from .backbones import Backbone, MobileNetV2, build_backbone, embedding, embedding_dim, load_pretrained
from .configs import BaseConfig
from .data import Dataset, Split, load_pixels, scan, split, unpacked
from .export import to_onnx_file
from .finetune import Trainer
from .fit import resolve_pretrained, training_framing
from .network import EMBEDDING, BaseNetwork, load_network, record_path
from .outliers import outlier_faces
from .report import plot_history
from .shared import darekana_version, machine
from .slim import slim


@dataclass
class BaseResult:
    network: Path | None  # None: stopped by ``until``; the same call again continues
    record: dict[str, Any]
    epochs_done: int


def work_folder(network: str | Path) -> Path:
    return Path(str(network) + ".training")


def train_base(
    folders: list[str | Path], out: str | Path, config: BaseConfig | None = None, until: int | None = None
) -> BaseResult:
    """Trains (or resumes training) the embedding network on ``folders`` and writes ``out`` (ONNX) and its
    record beside it; with ``until``, stops after that epoch without writing them (a GPU lease, a night)."""
    config = config or BaseConfig()
    if config.slim < 1:  # the cut stem has to learn back what it lost too
        config = replace(config, finetune=replace(config.finetune, freeze_stem=False))
    out = Path(out)
    work = work_folder(out)
    started = time.perf_counter()
    source = resolve_pretrained(config.arch, config.pretrained)
    parent = _parent(source, config)
    _check_slim(config, parent)
    with unpacked(folders) as sources:
        dataset = scan(sources)
        held = _held_out(dataset, config.hold_out)
        _claim(work, config, dataset)
        pixels = load_pixels(dataset, config.img_size)
    say(dataset.summary())
    assigned = parent.split if parent else None
    parts = split(dataset, config.val, config.test, config.seed, calibration=config.calibration, assigned=assigned)
    _claim_split(work, dataset, parts)
    strangers, framing = _outliers(config, dataset, parts.train)
    y = dataset.targets
    train = np.array([i for i in parts.train if y[i] not in held], dtype=np.int64)
    val = np.array([i for i in parts.val if y[i] not in held], dtype=np.int64)
    known = sorted(set(y[train].tolist()))
    remap = np.full(len(dataset.labels), -1, np.int64)
    remap[known] = np.arange(len(known))
    say(f"training on {len(train)} faces of {len(known)} characters; {len(held)} characters held out")

    net, teacher = _networks(config, source, parent, len(known))
    trainer = Trainer(net, IMAGENET_MEAN, IMAGENET_STD, config.finetune, work / "checkpoints", teacher)
    history = trainer.fit(
        pixels[train], remap[y[train]], pixels[val], remap[y[val]], resume=True, until=until, outliers=strangers
    )
    done = history.history[-1].epoch if history.history else 0
    if not history.finished:
        say(f"stopped after epoch {done} of {config.finetune.epochs}: the same command continues")
        return BaseResult(None, {}, done)
    export_base(net.cpu(), config.img_size, out)

    epochs = [asdict(h) for h in history.history]
    record = _record(out, config, folders, dataset, parts, known, held, train, epochs) | {
        "embedding_dim": embedding_dim(net),
        "hidden": net.hidden if isinstance(net, MobileNetV2) else None,
        "pretrained": Path(source).name if source else "none",
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "device": str(trainer.device),
    }
    if strangers is not None and framing is not None:
        record["faces"]["outliers"] = len(strangers)
        record["outlier_framing"] = asdict(framing)
    if parent:
        record |= _lineage(parent, record)
    record_path(out).write_text(json.dumps(record, indent=1), encoding="utf-8")
    plot_history(epochs, work / "training.png")
    return BaseResult(out, record, done)


def _record(
    out: Path,
    config: BaseConfig,
    folders: list[str | Path],
    dataset: Dataset,
    parts: Split,
    known: list[int],
    held: set[int],
    train: np.ndarray,
    epochs: list[dict[str, Any]],
) -> dict[str, Any]:
    """The network's record (``FILE.json``): what it is, what it saw, and how it was trained."""
    return {
        "network": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "architecture": config.arch,
        "input_size": config.img_size,
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
        "data": [Path(f).name for f in folders],
        "characters": [dataset.labels[i].id for i in known],
        "held_out": sorted(dataset.labels[i].id for i in held),
        "faces": {part: len(getattr(parts, part)) for part in PARTS} | {"trained_on": len(train)},
        "recipe": asdict(config),
        "history": epochs,
        "training_seconds": round(sum(e["seconds"] for e in epochs), 1),
        "machine": machine(),
        "darekana_version": darekana_version(),
        # Every face's part, by content: ``train fit`` pins these faces to the same parts.
        "split": {dataset.samples[i].digest: part for part in PARTS for i in getattr(parts, part)},
        "trained_on": sorted(dataset.samples[i].digest for i in train),
    }


def _outliers(config: BaseConfig, dataset: Dataset, train: np.ndarray) -> tuple[np.ndarray | None, Framing | None]:
    """The outlier faces, their heads framed as the training faces are (as a bundle would cut them)."""
    if not config.outliers:
        return None, None
    framing = training_framing(dataset, train, FaceBoxesDetector(DetectorSpec(), DEFAULT_DETECTOR_MODEL))
    faces = outlier_faces(config.outliers, config.img_size, framing)
    say(f"{len(faces)} faces of no known character (heads framed as {framing}), taught a uniform answer")
    return faces, framing


def _networks(
    config: BaseConfig, source: str | None, parent: BaseNetwork | None, classes: int
) -> tuple[Backbone, Backbone | None]:
    """The network to train, from ``source``; and with ``config.slim``, the network it was cut from, to teach it."""
    hidden = parent.record.get("hidden") if parent else None
    net = build_backbone(config.arch, classes, hidden=hidden, seed=config.seed)
    if source:
        load_pretrained(net, source)
    if config.slim < 1:
        return _slimmed(net, config, parent, classes), net
    return net, None


def _check_slim(config: BaseConfig, parent: BaseNetwork | None) -> None:
    """Refuses a slimming the run could not do as asked, before any face is read."""
    if not 0 < config.slim <= 1:
        raise ValueError(f"--slim must be in (0, 1], not {config.slim}")
    if config.slim == 1:
        if config.finetune.distil_mix:
            raise ValueError("--distil-mix blends faces for a teacher: it needs --slim below 1")
        return
    if parent is None or config.arch != "mobilenet_v2":
        raise ValueError("--slim cuts a MobileNetV2 base network: give one as --pretrained (FILE.onnx, record beside)")
    heads = (
        parent.record.get("recipe", {}).get("finetune", {}).get("head", {}).get("kind", "linear"),
        config.finetune.head.kind,
    )
    if not set(heads) <= {"linear", "bnneck"}:  # a cosine head's embedding is its projection, not the features
        raise ValueError("--slim teaches pooled features: neither network may have a cosine head")


def _slimmed(net: Backbone, config: BaseConfig, parent: BaseNetwork | None, classes: int) -> MobileNetV2:
    """``config.slim`` of ``net``'s hidden channels; ``net``, the base network it was loaded from, teaches it."""
    assert parent is not None and isinstance(net, MobileNetV2)  # _check_slim
    student = slim(net, config.slim, classes)
    say(f"slimmed to {sum(student.hidden)} of {sum(net.hidden)} hidden channels; {parent.path.name} teaches it")
    return student


def _parent(source: str | None, config: BaseConfig) -> BaseNetwork | None:
    """The base network training starts from, when ``source`` is one (an ONNX file with its record)."""
    if source is None or not record_path(source).is_file():
        return None
    parent = load_network(Path(source))
    if parent.record.get("architecture") != config.arch:
        raise ValueError(f"{source} is a {parent.record.get('architecture')}, not a {config.arch}")
    unseen = {character_key(n) for n in parent.record.get("held_out", [])}
    seen = sorted(n for n in config.hold_out if character_key(n) not in unseen)
    if seen:
        raise ValueError(f"{source} trained on {', '.join(seen)}: a network started from it cannot hold them out")
    return parent


def _lineage(parent: BaseNetwork, record: dict[str, Any]) -> dict[str, Any]:
    """What the network starting this run was and saw: its faces count as trained on too (in the list and
    in the count the model card quotes)."""
    earlier = parent.record
    kept = ("network", "sha256", "input_size", "pretrained", "recipe", "training_seconds", "machine")
    started_from = {key: earlier[key] for key in kept if key in earlier} | {
        "last_epoch": earlier["history"][-1] if earlier.get("history") else None,
        "started_from": earlier.get("started_from"),
    }
    both = sorted(set(record["trained_on"]) | set(earlier.get("trained_on", [])))
    faces = record["faces"] | {"trained_on": len(both)}
    return {"started_from": started_from, "trained_on": both, "faces": faces}


def _claim(work: Path, config: BaseConfig, dataset: Dataset) -> None:
    """The work folder belongs to one recipe on one set of faces: a resumed run must be the same run (on
    any device: a run stopped on a CPU may continue on a GPU)."""
    work.mkdir(parents=True, exist_ok=True)
    settings = asdict(replace(config, hold_out=tuple(sorted(config.hold_out))))
    del settings["finetune"]["device"]
    faces = hashlib.sha256("".join(sorted(s.digest for s in dataset.samples)).encode()).hexdigest()
    recipe = json.dumps(settings | {"faces": faces}, sort_keys=True)
    _stake(work / "recipe.json", recipe, "holds a run of another recipe or other faces")


def _claim_split(work: Path, dataset: Dataset, parts: Split) -> None:
    """A resumed run must go on with the split it began with: where the code that splits faces has changed since
    (as when near-duplicates came to be hashed at one size), going on would train on faces it had held back.
    Folders begun before the split was claimed are taken at their word."""
    digests = [s.digest for s in dataset.samples]
    chosen = {part: sorted(digests[i] for i in getattr(parts, part)) for part in PARTS}
    claim = hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()
    _stake(work / "split.sha256", claim, "began on another split of these faces (the code that splits them changed)")


def _stake(path: Path, claim: str, refusal: str) -> None:
    """Writes ``claim`` to ``path`` in a work folder, refusing where the folder already holds another."""
    if path.is_file() and path.read_text(encoding="utf-8") != claim:
        raise ValueError(f"{path.parent} {refusal} ({path}); delete the folder to start afresh, or give another --out")
    path.write_text(claim, encoding="utf-8")


def _held_out(dataset: Dataset, names: tuple[str, ...]) -> set[int]:
    """Label indices of the characters named in ``names`` (label ids or names, compared as ``scan`` does)."""
    index = {character_key(label.id): i for i, label in enumerate(dataset.labels)}
    missing = [n for n in names if character_key(n) not in index]
    if missing:
        raise ValueError(f"characters to hold out not in the data: {', '.join(missing)}")
    return {index[character_key(n)] for n in names}


class _Embedding(nn.Module):
    """The network up to its embedding (a cosine head's projection included, its class weights not), its
    weights named ``net.<torch name>`` in the graph (what ``load_pretrained`` reads)."""

    def __init__(self, net: Backbone):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return embedding(self.net, image)


def export_base(net: Backbone, size: int, path: Path) -> Path:
    """The network's embedding as ONNX (dynamic batch), checked against torch."""
    module = _Embedding(net.eval().to(memory_format=torch.contiguous_format)).eval()  # type: ignore[call-overload]
    probe = torch.randn(2, 3, size, size)
    written = partial(path)
    axes = {"image": {0: "n"}, EMBEDDING: {0: "n"}}
    session = to_onnx_file(module, probe, written, [EMBEDDING], axes, fold_constants=False)
    with torch.inference_mode():
        expected = module(probe).numpy()
    got = session.run([EMBEDDING], {"image": probe.numpy()})[0]
    if not np.allclose(got, expected, atol=1e-3, rtol=1e-3):
        raise RuntimeError(f"ONNX export differs from torch by {np.abs(got - expected).max():.4g}")
    publish(written, path)
    return path
