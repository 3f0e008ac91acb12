"""The promotion gate: score an old and a new bundle on the same faces and refuse a new one that is worse.

``darekana train compare OLD NEW DATA...`` scores both bundles with :mod:`darekana.train.evaluate` on the same scanned
faces. NEW fails when, beyond the tolerance, it names fewer known faces right (``named_right``: the right
character, not called "unknown"; top-1 alone also counts the label of an "unknown" answer, which names nobody),
it rejects more known faces as "unknown" (known false-rejection rate), or, when DATA holds characters a bundle
does not know, it rejects fewer of them (unknown rejection rate). Faces a bundle trained or calibrated on
flatter it, so the files of DATA found in either bundle's train, validation or calibration split
(``split.json``) are counted and reported as leakage; ``test_split_of`` keeps only a bundle's test faces, which
neither bundle saw when NEW was fitted with ``--test-split-of OLD``. Beside the figures, the faces both bundles
know are compared one by one: how many only OLD got right, how many only NEW did, and how likely so uneven a split
would be were the two equally good (McNemar's exact test), since a difference of a few faces in thousands is often
chance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scipy.stats import binomtest

from darekana.recognizer.layout import SPLIT_FILE

from .configs import COMPARE_TOLERANCE
from .data import Dataset, held_back_digests, scan
from .evaluate import Scored, score_faces

# (figure, direction): +1 when higher is better, -1 when lower is better
GATED = (("named_right", +1), ("known_false_rejection_rate", -1), ("unknown_rejection_rate", +1))
SHOWN = ("n", "top1", "top5", "named_right", "known_false_rejection_rate", "unknown_rejection_rate")


@dataclass
class Comparison:
    old: dict[str, Any]  # evaluate's figures for each bundle
    new: dict[str, Any]
    tolerance: float
    faces: int  # faces of DATA scored (after --test-split-of)
    # {"old": n, "new": n}: scored faces in that bundle's train, validation or calibration split
    leakage: dict[str, int]
    # per figure of single faces ("top1", "named_right"): {"faces", "only_old", "only_new", "p"} (:func:`paired`)
    paired: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons

    def deltas(self) -> dict[str, float]:
        return {name: self.new[name] - self.old[name] for name, _ in GATED if name in self.old and name in self.new}

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reasons": self.reasons,
            "tolerance": self.tolerance,
            "faces": self.faces,
            "leakage": self.leakage,
            "deltas": self.deltas(),
            "paired": self.paired,
            "old": _plain(self.old),
            "new": _plain(self.new),
        }


def compare(
    old: str | Path,
    new: str | Path,
    folders: list[str | Path],
    tolerance: float = COMPARE_TOLERANCE,
    test_split_of: str | Path | None = None,
) -> Comparison:
    """Scores ``old`` and ``new`` on the faces of ``folders`` (only ``test_split_of``'s test faces when
    given) and judges whether ``new`` may replace ``old``."""
    if tolerance < 0:
        raise ValueError(f"tolerance {tolerance} is negative")
    dataset = scan(folders)
    if test_split_of is not None:
        dataset = only_test_faces(dataset, test_split_of)
    leakage = {"old": leaked(dataset, old), "new": leaked(dataset, new)}
    # each scoring appends the files it could not read: give each its own list
    scored = [score_faces(bundle, dataclasses.replace(dataset, skipped=list(dataset.skipped))) for bundle in (old, new)]
    result = Comparison(scored[0].figures, scored[1].figures, tolerance, len(dataset.samples), leakage, paired(*scored))
    result.reasons = judge(result.old, result.new, tolerance)
    return result


def paired(old: Scored, new: Scored) -> dict[str, dict[str, Any]]:
    """For each figure of single faces, over the faces both bundles know: how many only ``old`` got right, how many
    only ``new`` did, and the exact two-sided binomial p-value of that split if either were as likely."""
    result = {}
    for name, before in old.right.items():
        after = new.right[name]
        faces = before.keys() & after.keys()
        only_old = sum(before[f] and not after[f] for f in faces)
        only_new = sum(after[f] and not before[f] for f in faces)
        p = binomtest(only_new, only_old + only_new).pvalue if only_old + only_new else 1.0
        result[name] = {"faces": len(faces), "only_old": only_old, "only_new": only_new, "p": round(float(p), 4)}
    return result


def judge(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> list[str]:
    """Why ``new`` is worse than ``old`` beyond ``tolerance``, one reason per figure; none when it is not.
    A figure measured for only one bundle (unknown faces exist for one of them) is not judged."""
    reasons = []
    for name, direction in GATED:
        if name not in old or name not in new:
            continue
        loss = (old[name] - new[name]) * direction
        if loss > tolerance:
            reasons.append(
                f"{name} {'fell' if direction > 0 else 'rose'} from {old[name]:.4f} to {new[name]:.4f} "
                f"({loss:.4f} worse, tolerance {tolerance})"
            )
    return reasons


def only_test_faces(dataset: Dataset, bundle: str | Path) -> Dataset:
    """The faces of ``dataset`` that are in ``bundle``'s test split (matched by content, so copies count)."""
    digests = held_back_digests(bundle)
    kept = [s for s in dataset.samples if s.digest in digests]
    if not kept:
        raise ValueError(f"none of the faces given is in the test split of {bundle}")
    return dataclasses.replace(dataset, samples=kept, skipped=list(dataset.skipped))


def leaked(dataset: Dataset, bundle: str | Path) -> int:
    """How many faces of ``dataset`` ``bundle`` trained or calibrated on (by path or content); 0 when the
    bundle has no ``split.json`` to tell."""
    seen = seen_in_training(bundle)
    return sum(1 for s in dataset.samples if s.digest in seen or str(s.path.resolve()) in seen)


def seen_in_training(bundle: str | Path) -> set[str]:
    """The resolved paths and content digests of ``bundle``'s train, validation and calibration faces: all the
    faces it was fitted on."""
    try:
        split = json.loads((Path(bundle) / SPLIT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    fitted = ("train", "val", "calibration")
    seen = {digest for part in fitted for digest in split.get(f"{part}_sha256", [])}
    for name in [name for part in fitted for name in split.get(part, [])]:
        path = Path(name)
        seen.add(str(path.resolve()))
        if path.is_file():  # files of unpacked correction exports are gone; their paths still count
            seen.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return seen


def table(result: Comparison) -> str:
    """A plain-text table of the figures both bundles were scored on, with the verdict."""
    rows = [f"{'':28} {'old':>8} {'new':>8} {'change':>8}"]
    for name in SHOWN:
        if name in result.old and name in result.new:
            a, b = result.old[name], result.new[name]
            rows.append(
                f"{name:28} {a:8} {b:8} {b - a:+8}"
                if isinstance(a, int)
                else f"{name:28} {a:8.4f} {b:8.4f} {b - a:+8.4f}"
            )
    for name, counts in result.paired.items():
        rows.append(
            f"{name} right by one only: old {counts['only_old']}, new {counts['only_new']} of {counts['faces']} faces "
            f"both know (p {counts['p']:.2f})"
        )
    rows.append(f"old: {result.old['bundle']}   new: {result.new['bundle']}   faces: {result.faces}")
    rows.append("PASS: the new bundle is no worse than the old one" if result.passed else "FAIL")
    return "\n".join(rows)


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    """Figures that go into JSON: the confusion matrix and per-class lists are left to `train evaluate`."""
    return {k: v for k, v in figures.items() if isinstance(v, (int, float, str, bool)) or k == "verdicts"}
