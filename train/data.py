"""Labeled face folders: reading them, cleaning them, and splitting them without leaks.

A dataset is a folder with one sub-folder per character (``hatsune_miku/``, or nagadomi's ``000_hatsune_miku/``);
the sub-folder name is the label id. Several folders merge by label id. Unreadable files are skipped and
reported, byte-identical files are kept once (and dropped entirely when they appear under two characters).
Faces cut from the same source picture (``<md5>-<n>.jpg`` in hololive-20) always land in the same split.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold
from .progress import progress

from recognizer.bundle import Label
from recognizer.images import ImageError, load_image
from recognizer.preprocess import resize_square

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp"}
_NAGADOMI_PREFIX = re.compile(r"^\d{3}_")
_SOURCE_GROUP = re.compile(r"^([0-9a-f]{32})-\d+$")


def display_name(label_id: str) -> str:
    """``000_hatsune_miku`` -> ``Hatsune Miku``; ``irys_(hololive)`` -> ``Irys (Hololive)``."""
    return _NAGADOMI_PREFIX.sub("", label_id).replace("_", " ").title()


def source_group(path: Path) -> str:
    """Faces from one source picture share a group: the md5 prefix when files follow that pattern."""
    match = _SOURCE_GROUP.match(path.stem)
    return match.group(1) if match else str(path)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    group: str


@dataclass
class Dataset:
    samples: list[Sample]
    labels: list[Label]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    duplicates: int = 0

    @property
    def targets(self) -> np.ndarray:
        index = {label.id: i for i, label in enumerate(self.labels)}
        return np.array([index[s.label] for s in self.samples], dtype=np.int64)

    def summary(self) -> str:
        counts = Counter(s.label for s in self.samples)
        spread = f" ({min(counts.values())}–{max(counts.values())} each)" if counts else ""
        return (f"{len(self.samples)} faces of {len(counts)} characters{spread}; "
                f"{len(self.skipped)} skipped (unreadable, or filed under two characters), "
                f"{self.duplicates} duplicates dropped")


def scan(folders: Sequence[str | Path]) -> Dataset:
    """Every image under the character sub-folders of ``folders``, de-duplicated by content."""
    by_digest: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    skipped: list[tuple[str, str]] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {folder}")
        for character in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(character.iterdir()):
                if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                    continue
                by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append((path, character.name))
    samples, duplicates = [], 0
    for copies in by_digest.values():
        labels = {label for _, label in copies}
        if len(labels) == 1:
            duplicates += len(copies) - 1
            samples.append(Sample(copies[0][0], copies[0][1], source_group(copies[0][0])))
        else:
            skipped += [(str(p), f"identical picture under {len(labels)} characters") for p, _ in copies]
    if not samples:
        raise ValueError(f"no pictures found in {', '.join(map(str, folders))}: expected one sub-folder per character")
    samples.sort(key=lambda s: (s.label, str(s.path)))
    label_ids = sorted({s.label for s in samples})
    return Dataset(samples, [Label(i, display_name(i)) for i in label_ids], skipped, duplicates)


def load_pixels(dataset: Dataset, size: int, desc: str = "loading faces") -> np.ndarray:
    """All faces resized to ``size``² as one uint8 array (N, size, size, 3); unreadable ones are dropped
    from ``dataset`` in place and added to its ``skipped`` list."""
    kept, pixels = [], []
    for sample in progress(dataset.samples, desc, "img"):
        try:
            pixels.append(resize_square(load_image(sample.path), size))
            kept.append(sample)
        except ImageError as exc:
            dataset.skipped.append((str(sample.path), str(exc)))
    dataset.samples = kept
    return np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split(dataset: Dataset, val: float = 0.15, test: float = 0.15, seed: int = 0) -> Split:
    """Stratified train/validation/test indices that keep each source picture's faces together."""
    y, groups = dataset.targets, np.array([s.group for s in dataset.samples])
    rest, test_idx = _group_fold(np.arange(len(y)), y, groups, test, seed)
    train_idx, val_idx = _group_fold(rest, y, groups, val / (1 - test), seed + 1)
    return Split(np.sort(train_idx), np.sort(val_idx), np.sort(test_idx))


def _group_fold(index: np.ndarray, y: np.ndarray, groups: np.ndarray, fraction: float, seed: int,
                ) -> tuple[np.ndarray, np.ndarray]:
    folds = max(2, round(1 / fraction))
    # Classes with fewer faces than folds would make the splitter warn and leave them out of held-back sets.
    n_splits = max(2, min(folds, min(Counter(y[index]).values())))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    keep, held = next(splitter.split(index, y[index], groups[index]))
    return index[keep], index[held]


def iter_batches(index: np.ndarray, size: int) -> Iterable[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start:start + size]
