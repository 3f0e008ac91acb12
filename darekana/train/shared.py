"""Where the offline weights and datasets of ``../shared`` are: the one place training, tests and benchmarks
look for them (``$DAREKANA_SHARED`` overrides it: an installed darekana has no checkout beside it); and
what a timing or a training record says it ran on: the machine and darekana's version."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SHARED = Path(os.environ.get("DAREKANA_SHARED") or Path(__file__).resolve().parents[3] / "shared")
DATASETS = SHARED / "datasets"
WEIGHTS = SHARED / "weights"
MOBILENET_V2_TRUNK = WEIGHTS / "mobilenet_v2-imagenet-features.pth"  # ImageNet MobileNetV2, features only
FACEBOXES_WEIGHTS = WEIGHTS / "anime-faceboxes.pth"  # the anime head detector train detector starts from
# The anime-trained embedding network darekana ships (``train base``), which ``train fit`` builds on.
BASE_NETWORK = Path(__file__).resolve().parents[1] / "recognizer" / "data" / "anime-base.onnx"


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


def darekana_version() -> str:
    try:
        return version("darekana")
    except PackageNotFoundError:
        return "0+unknown"
