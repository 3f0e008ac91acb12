"""The model bundle: one directory holding everything a trained recognizer needs.

::

    bundle/
      manifest.json     format version, architecture, input size, normalisation, framing, labels,
                        thresholds, metrics, training data, creation time, darekana version, file checksums
      model.onnx        the network: input ``image`` (N, 3, S, S) float32; outputs ``logits`` (N, C) and
                        ``embedding`` (N, D), the penultimate activations
      fallback.onnx     SVM on the L2-normalised embedding: outputs ``label`` and ``probabilities`` (N, C)
      centres.npz       the class-centre model (``darekana.recognizer.centres``): ``means`` (C, D),
                        ``whitening`` (D, D) float32 and, from format 7, the ``background_*`` arrays the
                        distances are relative to, for open-set rejection and answering enrolled characters
      detector.onnx     the face detector (FaceBoxes; ``darekana.recognizer.detectors``), named with its
                        options by the manifest's ``detector``, which the crop ``framing`` was measured with
      gallery.npz       a few thumbnails of each character's faces with their embeddings: the evidence an
                        answer shows (``darekana.recognizer.gallery``)

Format 2 added ``network_labels``: characters enrolled after training (``darekana train enroll``) are known
to the fallback and the centres only, so the network's logits cover just the first ``network_labels``
labels. Format 1 bundles have no such field and load as bundles whose network knows every label.
Format 3 replaced ``prototypes.npy`` and the cosine ``similarity`` threshold by ``centres.npz`` and a
``distance`` threshold; older bundles still load (``darekana.recognizer.centres`` says how).
Format 4 added ``detector`` and its model file; bundles without it were framed with animeface and load with
it (``darekana.recognizer.detect.ANIMEFACE_SPEC``).
Format 5 added ``gallery.npz``; older bundles load without one, and their answers show no evidence.
Format 6 added the ``doubt`` threshold (``Thresholds``), which lets enrolled characters' answers be confident;
older bundles load with none, and theirs never are.

``load_manifest(path)`` validates a bundle without loading any model; every problem (missing file,
bad checksum, newer format, inconsistent labels) is a :class:`BundleError` whose message says what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .detect import ANIMEFACE_SPEC, DetectorSpec, Framing
from .errors import BundleError
from .layout import (
    CENTRES_FILE,
    CENTRES_FORMAT,
    FALLBACK_FILE,
    FORMAT_VERSION,
    GALLERY_FILE,
    GALLERY_FORMAT,
    MANIFEST_FILE,
    MODEL_FILE,
    PROTOTYPES_FILE,
)


def bundle_files(manifest: Manifest) -> tuple[str, ...]:
    """The files the bundle of ``manifest`` holds besides the manifest, each checksummed in it."""
    files: tuple[str, ...] = (
        MODEL_FILE,
        FALLBACK_FILE,
        CENTRES_FILE if manifest.format_version >= CENTRES_FORMAT else PROTOTYPES_FILE,
    )
    files += (GALLERY_FILE,) if manifest.format_version >= GALLERY_FORMAT else ()
    return files + ((manifest.detector.file,) if manifest.detector.file else ())


@dataclass(frozen=True)
class Label:
    id: str
    name: str
    # a character enrolled after training (``train enroll``, extra characters): how many crops its centre was
    # made from; None for the characters the network learned
    crops: int | None = None


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds chosen on validation data at training time.

    ``primary``: below this top-1 probability the fallback SVM answers instead of the network.
    ``confident``: an answer at or above this probability is stated as fact; below, it is "unsure".
    ``distance``: distance of a face to its answer's centre (``darekana.recognizer.centres``) beyond which the face is
    "unknown" (none of the known characters); for an enrolled character's centre, the distance over its spread
    (``darekana.recognizer.decision.centre_spread``).
    ``enrolled_margin``: a face goes to its nearest enrolled character when that centre is nearer than the
    nearest known character's centre plus this margin (it can be negative); bundles without enrolled
    characters do not use it.
    ``temperature``: of the centre model's probabilities, for the faces it answers (enrolled characters).
    ``doubt``: in a bundle with enrolled characters, a known character's answer is confident only when the
    nearest enrolled centre is further from the face than the nearest known one by more than this (a face of
    a new character is often nearest a known one, and the network is sure of it), and enrolled characters'
    answers may be confident too. None, as in bundles enrolled before it was chosen: they never are.
    """

    primary: float = 0.5
    confident: float = 0.8
    distance: float = math.inf
    enrolled_margin: float = 0.0
    temperature: float = 1.0
    doubt: float | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Thresholds:
        raw = dict(raw)
        if "similarity" in raw:  # formats 1 and 2: the same rule as a cosine similarity (darekana.recognizer.centres)
            raw["distance"] = math.sqrt(max(0.0, 2 - 2 * raw.pop("similarity")))
        return cls(**raw)


@dataclass
class Manifest:
    architecture: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    labels: list[Label]
    framing: Framing = field(default_factory=Framing)
    detector: DetectorSpec = field(default_factory=DetectorSpec)
    thresholds: Thresholds = field(default_factory=Thresholds)
    embedding_dim: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    darekana_version: str = ""
    checksums: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    network_labels: int | None = None  # the network's logits cover labels[:network_labels]; None: all of them

    @property
    def n_network(self) -> int:
        """How many labels, the first ones, the network itself knows; the rest were enrolled."""
        return self.network_labels or len(self.labels)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        raw = dict(raw)
        raw["labels"] = [Label(**item) for item in raw["labels"]]
        raw["framing"] = Framing(**raw.get("framing", {}))
        raw["detector"] = DetectorSpec.from_dict(raw["detector"]) if "detector" in raw else ANIMEFACE_SPEC
        raw["thresholds"] = Thresholds.from_dict(raw.get("thresholds", {}))
        raw["mean"], raw["std"] = tuple(raw["mean"]), tuple(raw["std"])
        return cls(**raw)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_version(directory: Path, manifest: Manifest) -> str:
    """What names a bundle in answers and tag files: its directory's name and when it was made."""
    return f"{directory.name}@{manifest.created_at}"


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Checksum the bundle's files into ``manifest`` and write it last, so a half-written bundle has none."""
    manifest.checksums = {name: sha256_file(directory / name) for name in bundle_files(manifest)}
    tmp = directory / (MANIFEST_FILE + ".tmp")
    tmp.write_text(manifest.to_json(), encoding="utf-8")
    tmp.replace(directory / MANIFEST_FILE)


def load_manifest(directory: str | Path, verify: bool = True) -> Manifest:
    """The validated manifest of the bundle in ``directory``; ``verify`` also checks file checksums."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise BundleError(f"no model bundle at {directory}: not a directory")
    if not path.is_file():
        raise BundleError(f"{directory} is not a complete model bundle: {MANIFEST_FILE} is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is corrupt: {exc}") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{path} is corrupt: not a JSON object")
    version = raw.get("format_version")
    if type(version) is not int or version < 1:
        raise BundleError(f"{path} is corrupt: format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{directory} has bundle format {version!r}; this darekana reads format "
            f"{FORMAT_VERSION} or older; upgrade darekana"
        )
    try:
        manifest = Manifest.from_dict(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path} is incomplete or malformed: {exc!r}") from None
    _check_consistent(directory, manifest)
    if verify:
        _check_files(directory, manifest)
    return manifest


def _check_consistent(directory: Path, manifest: Manifest) -> None:
    ids = [label.id for label in manifest.labels]
    if not ids:
        raise BundleError(f"{directory}: the manifest lists no characters")
    if len(set(ids)) != len(ids):
        raise BundleError(f"{directory}: the manifest lists a character twice")
    if manifest.input_size < 16 or manifest.input_size > 1024:
        raise BundleError(f"{directory}: input size {manifest.input_size} is out of range")
    detector_file = manifest.detector.file
    if detector_file is not None and (not detector_file or Path(detector_file).name != detector_file):
        raise BundleError(f"{directory}: detector file {detector_file!r} is not a file name in the bundle")
    if manifest.network_labels is not None and not 1 <= manifest.network_labels <= len(ids):
        raise BundleError(f"{directory}: network_labels {manifest.network_labels} is not between 1 and {len(ids)}")


def _check_files(directory: Path, manifest: Manifest) -> None:
    for name in bundle_files(manifest):
        path = directory / name
        if not path.is_file():
            raise BundleError(f"{directory} is not a complete model bundle: {name} is missing")
        expected = manifest.checksums.get(name)
        if expected is None or sha256_file(path) != expected:
            raise BundleError(f"{directory}/{name} is corrupt or was changed after export (checksum mismatch)")
