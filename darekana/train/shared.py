"""Where the offline weights and datasets of ``../shared`` are: the one place training, tests and benchmarks
look for them (``$DAREKANA_SHARED`` overrides it: an installed darekana has no checkout beside it); the
group picture of real faces that tests and benchmarks both compose; and the name of the machine that a
timing or a training record ran on."""

from __future__ import annotations

import io
import os
import platform
from pathlib import Path

from PIL import Image

SHARED = Path(os.environ.get("DAREKANA_SHARED") or Path(__file__).resolve().parents[3] / "shared")
DATASETS = SHARED / "datasets"
WEIGHTS = SHARED / "weights"
MOBILENET_V2_TRUNK = WEIGHTS / "mobilenet_v2-imagenet-features.pth"  # ImageNet MobileNetV2, features only
FACEBOXES_WEIGHTS = WEIGHTS / "anime-faceboxes.pth"  # the anime head detector train detector starts from
# The anime-trained embedding network darekana ships (``train base``), which ``train fit`` builds on.
BASE_NETWORK = Path(__file__).resolve().parents[1] / "recognizer" / "data" / "anime-base.onnx"


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


def machine() -> str:
    """The processor, core count and system: what a timing or a training record says it ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
