"""What the training-side benchmarks share (torch is loaded here): the sets they train on, and the crops
of characters a bundle should reject."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from darekana.recognizer.bundle import load_manifest
from darekana.recognizer.detect import Framing
from darekana.recognizer.embeddings import Embedded
from darekana.recognizer.images import PICTURE_SUFFIXES, load_image
from darekana.recognizer.layout import MODEL_FILE
from darekana.recognizer.onnx import open_session
from darekana.recognizer.preprocess import resize_square
from darekana.train.detection import head_crops, load_voc, split_pictures
from darekana.train.network import embed
from darekana.train.shared import DATASETS

# Each benchmark set: the datasets trained on, and a source of characters none of them hold.
SETS: dict[str, tuple[list[str], str]] = {
    "animeface-10": (["animeface-10"], "hololive-20"),
    "hololive-20": (["hololive-20"], "animeface-10"),
    # the held-back pictures' heads: the tuning pictures' may have been trained on (``train base --outliers``)
    "115": (["animeface-10", "moeimouto-85", "hololive-20"], "paperface-heads:held"),
}
Characters = dict[str, list[Path]]


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES and p.is_file())


def characters_of(dataset: Path) -> Characters:
    return {folder.name: images(folder) for folder in sorted(p for p in dataset.iterdir() if p.is_dir())}


def unknown_crops(name: str, framing: Framing, sample: int = 0, seed: int = 0) -> list[Image.Image]:
    """The crops of an unknown source: a folder of character folders (``sample`` of them drawn with
    ``seed``; 0: all), or VOC pictures cut into their head boxes with ``framing`` (the bundle's: as it cuts
    a detected head), so that framing gives nothing away (``paperface-heads``: all of them; ``paperface-heads:held``:
    those of its held-back pictures only, which ``train base --outliers`` never trains on)."""
    name, _, part = name.partition(":")
    dataset = DATASETS / name
    if (dataset / "boxes").is_dir():
        pictures = load_voc([dataset])
        if part not in ("", "held"):
            raise ValueError(f"{name}:{part}: the only part of a VOC set to name is 'held'")
        return head_crops(split_pictures(pictures)[1] if part else pictures, framing)
    if part:
        raise ValueError(f"{name}:{part}: only VOC sets have a held-back part")
    paths = [p for folder in characters_of(dataset).values() for p in folder]
    if sample and len(paths) > sample:
        paths = [paths[i] for i in sorted(np.random.default_rng(seed).choice(len(paths), sample, replace=False))]
    return [load_image(p) for p in paths]


def embedded(bundle: Path, crops: list[Image.Image], desc: str) -> Embedded:
    """The bundle's network's logits and unit embeddings of ``crops`` (no class targets: -1)."""
    manifest = load_manifest(bundle)
    pixels = np.stack([resize_square(c, manifest.input_size) for c in crops])
    logits, unit = embed(open_session(bundle / MODEL_FILE), pixels, manifest.mean, manifest.std, desc)
    return Embedded(logits, unit, np.full(len(crops), -1))
