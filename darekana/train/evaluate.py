"""Scoring a bundle on a folder of faces (or of whole pictures), including characters it does not know."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from darekana.progress import progress
from darekana.recognizer.decision import PRECISION
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import ImageError, load_image
from darekana.recognizer.results import Decision, Verdict

from .calibrate import FALSE_REJECTION
from .data import Dataset, iter_batches, scan
from .report import classification_figures


def decisions_for(
    recognizer: Recognizer,
    dataset: Dataset,
    pictures: bool = False,
    batch: int = 64,
) -> tuple[list[Decision], list[int]]:
    """A decision per readable sample (and their indices). ``pictures``: detect faces first and take the
    most likely one, as a user's picture would be handled; otherwise each file is one face crop."""
    decisions: list[Decision] = []
    kept: list[int] = []
    order = np.arange(len(dataset.samples))
    for idx in progress(list(iter_batches(order, batch)), "evaluating", "batch"):
        crops, used = [], []
        for i in idx:
            try:
                image = load_image(dataset.samples[i].path)
            except ImageError as exc:
                dataset.skipped.append((str(dataset.samples[i].path), str(exc)))
                continue
            if pictures:
                faces = recognizer.recognize(image).faces
                decisions.append(max(faces, key=lambda f: f.detector_score or 0.0))
                kept.append(int(i))
            else:
                crops.append(image)
                used.append(int(i))
        decisions += recognizer.classify(crops)
        kept += used
    return decisions, kept


def score(decisions: list[Decision], truth: list[str], known: list[str]) -> dict[str, Any]:
    """Figures over ``decisions`` whose true labels are ``truth``; labels outside ``known`` should be unknown."""
    index = {label: i for i, label in enumerate(known)}
    known_rows = [i for i, t in enumerate(truth) if t in index]
    unknown_rows = [i for i, t in enumerate(truth) if t not in index]
    targets = np.array([index[truth[i]] for i in known_rows], dtype=np.int64)
    k = len(decisions[0].candidates) if decisions else 1
    ranked = np.array([[index[c.label] for c in decisions[i].candidates] for i in known_rows], dtype=np.int64).reshape(
        len(known_rows), k
    )
    figures = classification_figures(targets, ranked, known)
    verdicts = np.array([d.verdict.value for d in decisions])
    figures["verdicts"] = {v.value: int((verdicts[known_rows] == v).sum()) for v in Verdict}
    called_unknown = verdicts[known_rows] == Verdict.UNKNOWN
    figures["known_false_rejection_rate"] = float(called_unknown.mean()) if known_rows else 0.0
    named = [answered_right(decisions[i], truth[i])[1] for i in known_rows]
    figures["named_right"] = float(np.mean(named)) if known_rows else 0.0
    figures["known_false_rejection_per_character"] = _per_character(figures["per_class"], targets, called_unknown)
    confident = verdicts[known_rows] == Verdict.CONFIDENT
    figures["confident_precision"] = (
        float((ranked[confident, 0] == targets[confident]).mean()) if confident.any() else 0.0
    )
    if unknown_rows:
        figures["unknown_n"] = len(unknown_rows)
        figures["unknown_rejection_rate"] = float((verdicts[unknown_rows] == Verdict.UNKNOWN).mean())
        figures["unknown_not_confident_rate"] = float((verdicts[unknown_rows] != Verdict.CONFIDENT).mean())
    return figures


def answered_right(decision: Decision, label: str) -> tuple[bool, bool]:
    """Whether ``decision`` on a face of ``label`` ranks it first, and whether it names it: what people are told,
    where an "unknown" answer names nobody, so its top-1 label is never seen."""
    first = decision.candidates[0].label == label
    return first, first and decision.verdict != Verdict.UNKNOWN


def _per_character(per_class: dict[str, dict[str, Any]], targets: np.ndarray, called_unknown: np.ndarray) -> float:
    """Each character's share of its faces called unknown, into ``per_class``; returns their mean over the
    characters with faces. The promise counts faces, so a set's characters with many easy faces can hold it
    while the others' faces are called unknown twice as often: this says what a typical character gets."""
    rates = []
    for c, figures in enumerate(per_class.values()):
        mine = called_unknown[targets == c]
        figures["called_unknown"] = float(mine.mean()) if len(mine) else None  # no faces: nothing measured
        if len(mine):
            rates.append(figures["called_unknown"])
    return float(np.mean(rates)) if rates else 0.0


def promises(figures: dict[str, Any], calibration: dict[str, float]) -> dict[str, Any]:
    """What the thresholds promise against what they deliver in ``figures`` (:func:`score` of known faces the
    calibration never saw), with 95 % Wilson intervals: the false rejection rate should be within 2 points
    of its target, and confident answers right at least 98 % of the time."""
    known = sum(figures["verdicts"].values())
    confident = figures["verdicts"][Verdict.CONFIDENT.value]
    rejected, precise = figures["known_false_rejection_rate"], figures["confident_precision"]
    return {
        "false_rejection": {
            "promised": FALSE_REJECTION,
            "calibration": calibration["calibration_false_rejection"],
            "delivered": rejected,
            "interval": wilson(figures["verdicts"][Verdict.UNKNOWN.value], known),
            "n": known,
            "held": abs(rejected - FALSE_REJECTION) <= 0.02,
            "per_character": figures["known_false_rejection_per_character"],
        },
        "confident_precision": {
            "promised": PRECISION,
            "calibration": calibration["calibration_confident_precision"],
            "delivered": precise,
            "interval": wilson(round(precise * confident), confident),
            "n": confident,
            "held": precise >= 0.98,
        },
    }


def wilson(successes: int, n: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval of a proportion (95 % by default); [0, 1] when there is nothing to count."""
    if n == 0:
        return [0.0, 1.0]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(float(centre - half), 4), round(float(centre + half), 4)]


def evaluate(bundle: str | Path, folders: list[str | Path], pictures: bool = False) -> dict[str, Any]:
    return evaluate_dataset(bundle, scan(folders), pictures)


def evaluate_dataset(bundle: str | Path, dataset: Dataset, pictures: bool = False) -> dict[str, Any]:
    """The figures of :func:`evaluate` on a dataset already scanned (and perhaps filtered)."""
    return score_faces(bundle, dataset, pictures).figures


@dataclass
class Scored:
    """A bundle's figures on a dataset, and which of the faces it knows it got right, so that two bundles can be
    compared face by face (:mod:`darekana.train.compare`)."""

    figures: dict[str, Any]
    # per face of a known character, by path: {"top1": right character first, "named_right": and not "unknown"}
    right: dict[str, dict[Path, bool]]


def score_faces(bundle: str | Path, dataset: Dataset, pictures: bool = False) -> Scored:
    recognizer = Recognizer(bundle)
    decisions, kept = decisions_for(recognizer, dataset, pictures)
    known = [label.id for label in recognizer.manifest.labels]
    truth = [dataset.samples[i].label for i in kept]
    figures = score(decisions, truth, known)
    figures["skipped"] = len(dataset.skipped)
    figures["bundle"] = recognizer.version
    right: dict[str, dict[Path, bool]] = {"top1": {}, "named_right": {}}
    known_ids = set(known)
    for i, decision, label in zip(kept, decisions, truth):
        if label in known_ids:
            path = dataset.samples[i].path
            right["top1"][path], right["named_right"][path] = answered_right(decision, label)
    return Scored(figures, right)
