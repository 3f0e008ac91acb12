"""A base network (``darekana train base``) with its training record: loading it, checked, and embedding
faces with it or with a bundle's network.

The record (``FILE.json`` beside ``FILE.onnx``) says what the network is (architecture, input size,
normalisation), what it was trained on and how, and every face's part of the split it was trained with, by
sha256: ``train fit`` pins those faces to the same parts. Its ``sha256`` must match the network file: a
network retrained or damaged without its record is refused, not trusted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from darekana.progress import progress
from darekana.recognizer.decision import l2_normalize
from darekana.recognizer.onnx import open_session
from darekana.recognizer.preprocess import normalize

from .shared import BASE_NETWORK

EMBEDDING = "embedding"
RECORD_SUFFIX = ".json"


def record_path(network: str | Path) -> Path:
    """The training record beside a base network: ``FILE.onnx`` -> ``FILE.json``."""
    return Path(network).with_suffix(RECORD_SUFFIX)


@dataclass(frozen=True)
class BaseNetwork:
    path: Path
    sha256: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    split: dict[str, str] = field(repr=False)  # sha256 of a face -> its part
    record: dict[str, Any] = field(repr=False)


def resolve_network(network: str) -> BaseNetwork | None:
    """The base network a bundle is built on: ``auto`` is the shipped one when present, ``none`` none."""
    if network == "auto":
        return load_network(BASE_NETWORK) if BASE_NETWORK.is_file() else None
    return None if network == "none" else load_network(Path(network))


def load_network(path: Path) -> BaseNetwork:
    """The network at ``path`` with its record; ``ValueError`` when either is missing, unreadable or they
    do not belong together."""
    if not path.is_file():
        raise ValueError(f"base network not found: {path}")
    try:
        record = json.loads(record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"the record of {path} cannot be read ({record_path(path)}): {exc}") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if record.get("sha256") != digest:
        raise ValueError(f"{path} does not match its record {record_path(path)} (sha256 {digest[:12]})")
    try:
        return BaseNetwork(
            path,
            digest,
            int(record["input_size"]),
            _rgb(record["mean"]),
            _rgb(record["std"]),
            dict(record["split"]),
            record,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{record_path(path)} is not a base network's record: {exc!r}") from None


def _rgb(values: list[float]) -> tuple[float, float, float]:
    r, g, b = map(float, values)
    return r, g, b


def base_embeddings(network: BaseNetwork, pixels: np.ndarray, copy: Path | None = None) -> np.ndarray:
    """The raw embeddings (N, D) of uint8 faces (N, S, S, 3), through the network or ``copy`` of it (its int8
    copy: ``darekana.train.quantize``)."""
    return run_batched(open_session(copy or network.path), [EMBEDDING], pixels, network.mean, network.std)[0]


def embed(
    session: ort.InferenceSession,
    pixels: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    desc: str = "embedding",
    batch: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """A bundle's network (``model.onnx``): its logits and unit embeddings for uint8 faces (N, S, S, 3)."""
    logits, embeddings = run_batched(session, ["logits", "embedding"], pixels, mean, std, desc, batch)
    return logits, l2_normalize(embeddings)


def run_batched(
    session: ort.InferenceSession,
    outputs: list[str],
    pixels: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    desc: str = "embedding",
    batch: int = 128,
) -> list[np.ndarray]:
    """``outputs`` of a network with input ``image`` for uint8 faces (N, S, S, 3), ``batch`` at a time."""
    runs = [
        session.run(outputs, {"image": normalize(pixels[start : start + batch], mean, std)})
        for start in progress(range(0, len(pixels), batch), desc, "batch")
    ]
    if runs:
        return [np.concatenate(column) for column in zip(*runs)]
    widths = {o.name: o.shape[1] for o in session.get_outputs()}
    return [np.zeros((0, widths[name]), np.float32) for name in outputs]
