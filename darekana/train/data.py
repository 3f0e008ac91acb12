"""Labeled face folders: reading them, cleaning them, and splitting them without leaks.

A dataset is a folder with one sub-folder per character (``hatsune_miku/``, or nagadomi's ``000_hatsune_miku/``),
or a zip of such folders (the bot's correction export). Several sources merge by character: folder names
are compared without nagadomi's ``NNN_`` prefix, case and punctuation (``000_hatsune_miku``, ``hatsune_miku``
and ``Hatsune-Miku`` are one character, whose label id is the first folder name met), and an alias table can
map more names onto one. Unreadable files are skipped and reported, byte-identical files are kept once (and
dropped entirely when they appear under two characters). Faces cut from the same source picture
(``<md5>-<n>.jpg`` in hololive-20, ``<sha256[:32]>-<n>.png`` in correction exports) always land in the same
split, and a split can keep an earlier bundle's test faces as its test set, so successive bundles are
scored on the same faces.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from scipy.cluster.hierarchy import DisjointSet
from sklearn.model_selection import StratifiedGroupKFold

from darekana.progress import progress
from darekana.recognizer.bundle import Label
from darekana.recognizer.embeddings import PARTS
from darekana.recognizer.images import PICTURE_SUFFIXES, ImageError, load_image
from darekana.recognizer.layout import SPLIT_FILE
from darekana.recognizer.names import character_key, display_name
from darekana.recognizer.preprocess import resize_square

# hololive-20's "<md5>-<n>" and exports' "<sha256[:32]>-<n>"; moeimouto's "face_<A>_<B>_<n>"
_SOURCE_GROUP = re.compile(r"^(?:([0-9a-f]{32})-\d+|(face_\d+_\d+)_\d+)$")
MAX_UNPACKED = 4 * 1024**3  # a correction export bigger than this is not one
# Faces whose 64-bit difference hashes differ in at most this many bits are one picture resized, re-encoded
# or lightly edited (docs/benchmarks.md measures how few pairs of other characters fall this close).
NEAR_DUPLICATE_BITS = 6
# Faces are hashed at this side whatever side a network reads them at: hashed at 192 px instead, the groups and
# so the whole split came out otherwise (296 of 2,279 test faces in common), and networks trained at two sizes
# could not be compared on the same faces. 160 px was the base network's until 2026-12-07, so splits are as they were.
HASH_SIDE = 160


def source_group(path: Path) -> str:
    """Faces from one source picture share a group: the md5 prefix, or moeimouto's ``face_A_B``, when files
    follow those patterns; otherwise each file is its own."""
    match = _SOURCE_GROUP.match(path.stem)
    return (match.group(1) or match.group(2)) if match else str(path)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    group: str
    digest: str = ""  # sha256 of the file: how faces are recognised across copies and exports


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
        return (
            f"{len(self.samples)} faces of {len(counts)} characters{spread}; "
            f"{len(self.skipped)} skipped (unreadable, or filed under two characters), "
            f"{self.duplicates} duplicates dropped"
        )


def scan(folders: Sequence[str | Path], aliases: Mapping[str, str] | None = None) -> Dataset:
    """Every image under the character sub-folders of ``folders``, de-duplicated by content, characters
    merged across folders (see the module's docstring); ``aliases`` maps other names to a character."""
    alias = {character_key(k): character_key(v) for k, v in (aliases or {}).items()}
    label_of: dict[str, str] = {}  # character key -> label id (the first folder name met)
    by_digest: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    skipped: list[tuple[str, str]] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {folder}")
        for character in sorted(p for p in folder.iterdir() if p.is_dir()):
            key = character_key(character.name)
            label = label_of.setdefault(alias.get(key, key), character.name)
            for path in sorted(character.iterdir()):
                if path.suffix.lower() not in PICTURE_SUFFIXES or not path.is_file():
                    continue
                by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append((path, label))
    samples, duplicates = [], 0
    for digest, copies in by_digest.items():
        labels = {label for _, label in copies}
        if len(labels) == 1:
            duplicates += len(copies) - 1
            samples.append(Sample(copies[0][0], copies[0][1], source_group(copies[0][0]), digest))
        else:
            skipped += [(str(p), f"identical picture under {len(labels)} characters") for p, _ in copies]
    if not samples:
        raise ValueError(f"no pictures found in {', '.join(map(str, folders))}: expected one sub-folder per character")
    samples.sort(key=lambda s: (s.label, str(s.path)))
    label_ids = sorted({s.label for s in samples})
    return Dataset(samples, [Label(i, display_name(i)) for i in label_ids], skipped, duplicates)


@contextmanager
def unpacked(sources: Sequence[str | Path]) -> Iterator[list[Path]]:
    """The sources as folders: zips (correction exports) are unpacked into a temporary folder for the
    duration; members that would land outside it, or an archive too large to be an export, are refused."""
    with tempfile.TemporaryDirectory(prefix="darekana-data-") as tmp:
        folders = []
        for n, source in enumerate(map(Path, sources)):
            if source.suffix.lower() != ".zip":
                folders.append(source)
                continue
            target = Path(tmp) / str(n)
            _unzip(source, target)
            folders.append(target)
        yield folders


def _unzip(archive: Path, target: Path) -> None:
    if not archive.is_file():
        raise FileNotFoundError(f"dataset archive not found: {archive}")
    try:
        with zipfile.ZipFile(archive) as z:
            members = z.infolist()
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise ValueError(f"{archive} unpacks to more than {MAX_UNPACKED // 1024**3} GB")
            for member in members:
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
                    raise ValueError(f"{archive} is unsafe: member {member.filename!r} would land outside the folder")
            z.extractall(target)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{archive} is not a readable zip: {exc}") from None


def load_aliases(path: str | Path) -> dict[str, str]:
    """An alias table: a JSON object mapping names (folder names, corrections' labels) to a character."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"aliases {path}: {exc}") from None
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise ValueError(f'aliases {path}: expected a JSON object like {{"miku": "hatsune_miku"}}')
    return table


def load_pixels(dataset: Dataset, size: int, desc: str = "loading faces") -> np.ndarray:
    """All faces resized to ``size``² as one uint8 array (N, size, size, 3); unreadable ones are dropped
    from ``dataset`` in place and added to its ``skipped`` list, and near-duplicate faces are put in one
    source group (:func:`group_near_duplicates`), so no split separates them."""
    kept, pixels, hashes = [], [], []
    # Pillow lets go of the GIL while it decodes and resizes, so threads read faces on every core.
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        faces = pool.map(lambda sample: _read_face(sample.path, size), dataset.samples)
        for sample, face in zip(dataset.samples, progress(faces, desc, "img")):
            if isinstance(face, ImageError):
                dataset.skipped.append((str(sample.path), str(face)))
                continue
            pixels.append(face[0])
            hashes.append(face[1])
            kept.append(sample)
    dataset.samples = kept
    if not pixels:
        return np.zeros((0, size, size, 3), np.uint8)
    group_near_duplicates(dataset, np.array(hashes, dtype=np.uint64))
    return np.stack(pixels)


def _read_face(path: Path, size: int) -> tuple[np.ndarray, int] | ImageError:
    """The face at ``path`` at ``size``² and its :func:`face_hash`, or why it cannot be read."""
    try:
        image = load_image(path)
    except ImageError as exc:
        return exc
    face = resize_square(image, size)
    return face, difference_hash(face) if size == HASH_SIDE else face_hash(image)


def face_hash(image: Image.Image) -> int:
    """The difference hash a face is grouped by (:func:`load_pixels`), at ``HASH_SIDE`` whatever the size."""
    return difference_hash(resize_square(image, HASH_SIDE))


def difference_hash(face: np.ndarray) -> int:
    """A 64-bit perceptual hash of a uint8 RGB face: whether each of 8×8 grey cells is brighter than its
    right-hand neighbour. Resizing, re-encoding and small edits change few of its bits.

    >>> a = np.tile(np.arange(0, 256, 2, dtype=np.uint8)[None, :, None], (128, 1, 3))
    >>> difference_hash(a) == difference_hash(a[:, ::-1]) ^ (2**64 - 1)
    True
    """
    grey = np.asarray(Image.fromarray(face).convert("L").resize((9, 8), Image.Resampling.BOX), np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def near_duplicate_pairs(hashes: np.ndarray, bits: int = NEAR_DUPLICATE_BITS, chunk: int = 1024) -> np.ndarray:
    """Index pairs (i < j) of uint64 ``hashes`` at most ``bits`` apart, as an (M, 2) array."""
    pairs = []
    for start in range(0, len(hashes), chunk):
        block = np.bitwise_count(hashes[start : start + chunk, None] ^ hashes[None, :])
        i, j = np.nonzero(block <= bits)
        i += start
        pairs.append(np.stack([i[i < j], j[i < j]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def group_near_duplicates(dataset: Dataset, hashes: np.ndarray) -> None:
    """Merges the source groups of faces of one character whose uint64 difference ``hashes`` lie within
    ``NEAR_DUPLICATE_BITS`` of each other, in place. Pairs under two
    characters are left apart: at that distance most are look-alikes, not copies, and chaining them would
    glue unrelated groups together."""
    assert len(hashes) == len(dataset.samples), "one hash per face"
    groups = DisjointSet(s.group for s in dataset.samples)
    for i, j in near_duplicate_pairs(hashes):
        a, b = dataset.samples[i], dataset.samples[j]
        if a.label == b.label:
            groups.merge(a.group, b.group)
    dataset.samples = [replace(s, group=groups[s.group]) for s in dataset.samples]


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    val: np.ndarray  # early stopping
    test: np.ndarray
    calibration: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # thresholds


def split(
    dataset: Dataset,
    val: float = 0.15,
    test: float = 0.15,
    seed: int = 0,
    fixed_test: frozenset[str] = frozenset(),
    calibration: float = 0.0,
    assigned: Mapping[str, str] | None = None,
) -> Split:
    """Stratified train/validation/test indices that keep each source picture's faces together, and with
    ``calibration`` a fourth such split for choosing thresholds on faces of pictures that neither training
    nor early stopping saw.

    With ``fixed_test`` (sha256 digests of an earlier bundle's test faces), those faces, and every face of
    their source pictures, are the test set of the characters they show; those characters' other faces
    only go to train and validation. Characters without such faces are split as usual.

    With ``assigned`` (digest -> part, the split a base network was trained with), every source group
    holding such a face goes to that part (to the earliest of ``PARTS`` when its faces disagree, so a face
    the network trained on never lands in calibration or test), and only the other faces are split here;
    without a ``calibration`` share, faces assigned to calibration go to validation."""
    y, groups = dataset.targets, np.array([s.group for s in dataset.samples])
    pinned = _pinned_parts(dataset, assigned or {})
    if calibration == 0:  # thresholds chosen on validation faces: the pinned calibration faces are those
        pinned[pinned == "calibration"] = "val"
    open_ = pinned == ""
    held_groups = {s.group for s in dataset.samples if s.digest in fixed_test}
    fixed = np.array([g in held_groups for g in groups], dtype=bool) & open_
    covered = np.isin(y, y[fixed])
    free = np.flatnonzero(~covered & open_)
    rest, test_idx = _group_fold(free, y, groups, test, seed) if len(free) else (free, free)
    rest = np.concatenate([rest, np.flatnonzero(covered & ~fixed & open_)])
    test_idx = np.concatenate([test_idx, np.flatnonzero(fixed)])
    calibration_idx = np.empty(0, dtype=np.int64)
    if calibration > 0 and len(rest):
        rest, calibration_idx = _group_fold(rest, y, groups, calibration / (1 - test), seed + 2)
    train_idx, val_idx = (
        _group_fold(rest, y, groups, val / (1 - test - calibration), seed + 1) if len(rest) else (rest, rest)
    )
    parts = {"train": train_idx, "val": val_idx, "calibration": calibration_idx, "test": test_idx}
    parts = {part: np.sort(np.concatenate([idx, np.flatnonzero(pinned == part)])) for part, idx in parts.items()}
    return Split(**parts)


def _pinned_parts(dataset: Dataset, assigned: Mapping[str, str]) -> np.ndarray:
    """Each face's part as ``assigned`` decides it for its source group, or "" where it says nothing."""
    order = {part: i for i, part in enumerate(PARTS)}
    by_group: dict[str, str] = {}
    for sample in dataset.samples:
        part = assigned.get(sample.digest)
        if part is None:
            continue
        if part not in order:
            raise ValueError(f"unknown split part {part!r}; expected one of {', '.join(PARTS)}")
        earlier = by_group.get(sample.group)
        if earlier is None or order[part] < order[earlier]:
            by_group[sample.group] = part
    return np.array([by_group.get(s.group, "") for s in dataset.samples], dtype=object)


def held_back_digests(bundle: str | Path) -> frozenset[str]:
    """The content digests of a bundle's test faces, from its ``split.json``."""
    path = Path(bundle) / SPLIT_FILE
    try:
        split_file = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the test split of {bundle}: {exc}") from None
    if "test_sha256" in split_file:
        return frozenset(split_file["test_sha256"])
    # Bundles written before digests were recorded list paths only: hash the files that are still there.
    found = [Path(p) for p in split_file.get("test", []) if Path(p).is_file()]
    if not found:
        raise ValueError(f"{path} lists no test faces that can still be read")
    return frozenset(hashlib.sha256(p.read_bytes()).hexdigest() for p in found)


def _group_fold(
    index: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    folds = max(2, round(1 / fraction))
    # Classes with fewer faces than folds would make the splitter warn and leave them out of held-back sets.
    n_splits = max(2, min(folds, min(Counter(y[index]).values())))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    keep, held = next(splitter.split(index, y[index], groups[index]))
    return index[keep], index[held]


def iter_batches(index: np.ndarray, size: int) -> Iterable[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start : start + size]
