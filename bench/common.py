"""What every benchmark prints alongside its figures: which machine, and where the data is."""

from __future__ import annotations

import io
import os
import platform
from pathlib import Path

from PIL import Image

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def picture(crops: list[Image.Image], side: int) -> bytes:
    """A PNG picture of ``side`` px with the real face crops pasted side by side on a plain canvas."""
    canvas = Image.new("RGB", (side, side * 2 // 3), (250, 250, 245))
    cell = side // len(crops)
    for i, crop in enumerate(crops):
        face = crop.resize((int(cell * 0.8), int(cell * 0.8 * crop.height / crop.width)))
        canvas.paste(face, (i * cell + cell // 10, side // 8))
    out = io.BytesIO()
    canvas.save(out, "PNG")
    return out.getvalue()
