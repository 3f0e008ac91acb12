"""What every benchmark shares, torch-free: the machine a figure ran on, and the group picture of real faces
that the serving benchmarks (and the tests, ``tests/pictures.py``) compose."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from PIL import Image

from darekana.train.network import resolve_network
from darekana.train.shared import machine

__all__ = ["ROOT", "machine", "network_figures", "side_by_side", "today"]

ROOT = Path(__file__).resolve().parents[1]  # the repository


def today() -> str:
    """When a figure was measured (ISO date): the model card quotes it beside the machine."""
    return dt.date.today().isoformat()


def network_figures(network: str) -> dict[str, object] | None:
    """The base network a benchmark's bundles are built on ('auto': the shipped one; 'none': fine-tuned from
    ImageNet instead): its file, checksum and training seed, which tell a recipe's twins apart."""
    base = resolve_network(network)
    if base is None:
        return None
    path = base.path.resolve()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path  # kept lines name no one's machine
    return {"file": str(shown), "sha256": base.sha256, "seed": base.record["recipe"]["finetune"]["seed"]}


def side_by_side(crops: list[Image.Image], side: int) -> bytes:
    """A PNG picture of ``side`` px with real face crops pasted side by side on a plain canvas, left to right:
    a group picture whose faces tests and benchmarks know."""
    canvas = Image.new("RGB", (side, side * 2 // 3), (250, 250, 245))
    cell = side // len(crops)
    for i, crop in enumerate(crops):
        face = crop.resize((int(cell * 0.8), int(cell * 0.8 * crop.height / crop.width)))
        canvas.paste(face, (i * cell + cell // 10, side // 8))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()
