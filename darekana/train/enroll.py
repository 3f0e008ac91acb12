"""``darekana train enroll``: new characters (or more faces of known ones) for a bundle in under a minute.

The network is not touched. Its embedding of a few face crops per character is enough for a class centre
(``darekana.recognizer.centres``) and for the fallback SVM: both are refitted on the embeddings of the bundle's own
training faces, kept in the bundle (``embeddings.npz``; bundles made before that are embedded again from
``split.json``), plus the new crops, and the thresholds are chosen again on the bundle's validation faces
with the engine's routing for enrolled characters (see ``darekana.recognizer.engine``). The network keeps answering
for the characters it was trained on. The new bundle is built in ``OUT.partial`` and renamed into place when
complete, like ``darekana.train.fit``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

from darekana.progress import say
from darekana.recognizer.bundle import Label, Manifest, load_manifest, write_manifest
from darekana.recognizer.embeddings import PARTS, Embedded, load_embeddings, save_embeddings
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.gallery import Gallery, Source, load_gallery
from darekana.recognizer.images import ImageError, load_image
from darekana.recognizer.layout import (
    EMBEDDINGS_FILE,
    FORMAT_VERSION,
    MODEL_FILE,
    PROTOTYPES_FILE,
    REPORT_FOLDER,
    SPLIT_FILE,
    fresh_partial,
    publish,
)
from darekana.recognizer.names import character_key, display_name
from darekana.recognizer.onnx import open_session
from darekana.recognizer.preprocess import resize_square

from .data import Dataset, Sample, load_pixels, scan, unpacked
from .evaluate import score
from .fallback import fit_fallback
from .gallery import build_gallery
from .network import embed
from .report import write_report
from .shared import darekana_version

CENTRE = 0.85  # the centre crop among a new face's views: a slightly tighter framing of the same face


class EnrollError(ValueError):
    """Input that cannot be enrolled; the message says which files or folders and why."""


@dataclass
class EnrollResult:
    bundle: Path
    added: list[str]  # label ids new to the bundle
    extended: list[str]  # label ids the bundle knew, given more faces
    report: dict[str, Any]


def enroll(bundle: str | Path, folders: list[str | Path], out: str | Path) -> EnrollResult:
    """Enrolls the faces in ``folders`` (folders of faces, or zips of them such as the bot's correction
    exports) into ``bundle`` and writes the new bundle to ``out``."""
    with unpacked(folders) as sources:
        return _enroll(Path(bundle), sources, folders, Path(out))


def _enroll(source: Path, sources: list[Path], folders: list[str | Path], out: Path) -> EnrollResult:
    manifest = load_manifest(source)
    new = _scan_new(sources)
    labels, added, extended = _merged_labels(manifest.labels, new)
    index = {label.id: i for i, label in enumerate(labels)}
    say(f"enrolling {len(new.samples)} faces: {len(added)} new characters, {len(extended)} known ones extended")

    split = json.loads((source / SPLIT_FILE).read_text(encoding="utf-8"))
    session = open_session(source / MODEL_FILE)
    parts = _bundle_faces(source, session, manifest, split, labels)
    fresh = _embed_new(session, manifest, new, [index[_match(labels, s.label)] for s in new.samples])
    _check_covered(source, labels, parts["train"], fresh)

    staging = fresh_partial(out)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(REPORT_FOLDER, "*.tmp", PROTOTYPES_FILE))
    parts["train"] = parts["train"] + fresh
    save_embeddings(staging, parts)
    _gallery(source, manifest, new, fresh).save(staging)
    thresholds, calibration = fit_fallback(parts, labels, staging)
    split["train"] = split["train"] + [str(sample.path) for sample in new.samples]
    if "train_sha256" in split:  # kept in step with "train": `train compare` reads it to spot leaked faces
        split["train_sha256"] = split["train_sha256"] + [sample.digest for sample in new.samples]
    (staging / SPLIT_FILE).write_text(json.dumps(split, indent=1), encoding="utf-8")
    record = {
        "from": str(source.resolve()),
        "added": added,
        "extended": extended,
        "faces": len(new.samples),
        "data": [str(Path(f).resolve()) for f in folders],
    }
    enrolled = replace(
        manifest,
        labels=labels,
        thresholds=thresholds,
        network_labels=manifest.n_network,
        format_version=FORMAT_VERSION,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        darekana_version=darekana_version(),
        training={**manifest.training, "enrolled": manifest.training.get("enrolled", []) + [record]},
        metrics={**manifest.metrics, "calibration": calibration},
    )
    write_manifest(staging, enrolled)  # the engine below loads the bundle, so it must be complete already
    report = _score_test(staging, parts["test"], labels)
    enrolled.metrics.update({"test_top1": report["top1"], "test_top5": report["top5"], "test_n": report["n"]})
    write_manifest(staging, enrolled)
    write_report(report, staging / REPORT_FOLDER, f"{out.name}: {source.name} plus {', '.join(added + extended)}")
    return EnrollResult(publish(staging, out), added, extended, report)


def _scan_new(folders: Sequence[str | Path]) -> Dataset:
    """The new faces; every character folder must hold readable crops, else nothing is enrolled."""
    try:
        new = scan(folders)
    except (FileNotFoundError, ValueError) as exc:
        raise EnrollError(str(exc)) from None
    used = {s.path.parent for s in new.samples}
    empty = [str(p) for f in map(Path, folders) for p in sorted(f.iterdir()) if p.is_dir() and p not in used]
    if empty:
        raise EnrollError(f"no face crops in {', '.join(empty)}")
    unreadable = []
    for sample in new.samples:
        try:
            load_image(sample.path)
        except ImageError as exc:
            unreadable.append(f"{sample.path} ({exc})")
    if unreadable or new.skipped:
        problems = unreadable + [f"{path} ({why})" for path, why in new.skipped]
        raise EnrollError(f"cannot enroll {len(problems)} files: {'; '.join(problems[:5])}")
    return new


def _check_covered(source: Path, labels: list[Label], train: Embedded, fresh: Embedded) -> None:
    """Every character needs faces for the refitted fallback and its centre."""
    present = {labels[t].id for t in np.concatenate([train.targets, fresh.targets])}
    missing = [label.id for label in labels if label.id not in present]
    if missing:
        raise EnrollError(
            f"{source}/{SPLIT_FILE} lists no readable training faces of {', '.join(missing)}: "
            "the fallback is refitted on them, so they must still be where the bundle was trained"
        )


def _match(labels: list[Label], folder_label: str) -> str:
    """The label id a folder name means: a label that is the same character (``hatsune_miku/`` enrolls
    more faces of ``000_hatsune_miku``); the folder name itself when new."""
    key = character_key(folder_label)  # the rule `train fit` merges folders by
    return next((label.id for label in labels if character_key(label.id) == key), folder_label)


def _merged_labels(known: list[Label], new: Dataset) -> tuple[list[Label], list[str], list[str]]:
    """The bundle's labels in their order (the network's logits index the first ones), then the new ones;
    enrolled characters count the crops their centre is made from."""
    crops = Counter(_match(known, s.label) for s in new.samples)
    known_ids = {label.id for label in known}
    added = sorted(i for i in crops if i not in known_ids)
    extended = sorted(i for i in crops if i in known_ids)
    grown = [replace(k, crops=k.crops + crops[k.id]) if k.crops is not None and k.id in crops else k for k in known]
    return grown + [Label(i, display_name(i), crops[i]) for i in added], added, extended


def _bundle_faces(
    source: Path, session: ort.InferenceSession, manifest: Manifest, split: dict[str, list[str]], labels: list[Label]
) -> dict[str, Embedded]:
    """The bundle's own faces through its network: as kept in the bundle, else embedded again."""
    kept = load_embeddings(source, manifest.n_network, manifest.embedding_dim)
    if kept is not None:
        say(f"using the {sum(len(e.targets) for e in kept.values())} faces embedded in {source / EMBEDDINGS_FILE}")
        return kept
    return {part: _embed_files(session, manifest, split[part], labels, part) for part in PARTS if part in split}


def _embed_files(
    session: ort.InferenceSession, manifest: Manifest, paths: list[str], labels: list[Label], part: str
) -> Embedded:
    """The bundle's own faces of one split; files since moved or deleted are skipped, and said so."""
    samples = [Sample(Path(p), _match(labels, Path(p).parent.name), "") for p in paths]
    known = {label.id for label in labels}
    dataset = Dataset([s for s in samples if s.label in known and s.path.is_file()], labels)
    if len(dataset.samples) < len(samples):
        say(f"{part}: {len(samples) - len(dataset.samples)} of the bundle's faces are gone or unlabeled; skipped")
    pixels = load_pixels(dataset, manifest.input_size, f"loading {part} faces")
    logits, unit = embed(session, pixels, manifest.mean, manifest.std, f"embedding {part} faces")
    return Embedded(logits, unit, dataset.targets)


def _embed_new(session: ort.InferenceSession, manifest: Manifest, new: Dataset, targets: list[int]) -> Embedded:
    """Four views of each new face (as is, mirrored, centre crop, both): a character enrolled from one crop
    still has the three examples the SVM's 3-fold probability calibration needs."""
    pixels, view_targets = [], []
    for sample, target in zip(new.samples, targets):
        for view in _views(load_image(sample.path)):
            pixels.append(resize_square(view, manifest.input_size))
            view_targets.append(target)
    logits, unit = embed(session, np.stack(pixels), manifest.mean, manifest.std, "embedding new faces")
    return Embedded(logits, unit, np.array(view_targets, dtype=np.int64))


def _gallery(source: Path, manifest: Manifest, new: Dataset, fresh: Embedded) -> Gallery:
    """The bundle's gallery and some of the new faces (as they are: the first of each one's views). Bundles
    made before galleries existed get a gallery of the enrolled faces only."""
    old = load_gallery(source) if manifest.format_version >= 5 else None
    views = len(fresh.targets) // max(len(new.samples), 1)
    added = build_gallery([s.path for s in new.samples], fresh.targets[::views], fresh.unit[::views], Source.ENROLLED)
    return added if old is None else old + added


def _views(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    dx, dy = round(w * (1 - CENTRE) / 2), round(h * (1 - CENTRE) / 2)
    centre = image.crop((dx, dy, w - dx, h - dy))
    return [image, ImageOps.mirror(image), centre, ImageOps.mirror(centre)]


def _score_test(staging: Path, test: Embedded, labels: list[Label]) -> dict[str, Any]:
    """The bundle's held-back test faces through the new bundle: whether the known characters still hold."""
    decisions = Recognizer(staging).decide(test.logits, test.unit)
    return score(decisions, [labels[t].id for t in test.targets], [label.id for label in labels])
