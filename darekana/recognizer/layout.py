"""The bundle's layout: the names of its files, the format versions that brought them, and how a bundle (or
any file of one) is written: in full beside its place, then renamed into it, so a crash never leaves half a
bundle where a good one is expected. What each file holds is told in ``darekana.recognizer.bundle``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
FALLBACK_FILE = "fallback.onnx"
CENTRES_FILE = "centres.npz"
PROTOTYPES_FILE = "prototypes.npy"  # formats 1 and 2, before the centres
DETECTOR_FILE = "detector.onnx"
GALLERY_FILE = "gallery.npz"
# Training's records, kept in the bundle for enrolment and for comparing bundles; the recognizer reads only
# the calibration faces' embeddings, to place extra characters (``darekana.recognizer.extra``).
SPLIT_FILE = "split.json"
EMBEDDINGS_FILE = "embeddings.npz"
REPORT_FOLDER = "report"

# 7: centres.npz holds the background its distances are relative to; an older darekana must refuse such a
# bundle rather than hold absolute distances to thresholds chosen on relative ones
FORMAT_VERSION = 7
CENTRES_FORMAT = 3  # centres.npz and the distance threshold
GALLERY_FORMAT = 5  # gallery.npz

PARTIAL_SUFFIX = ".partial"
# The link to the bundle in service, which `darekana bundle promote` re-points (`make run` makes it): what the
# bot serves and what `darekana tag` and `darekana recognize` read unless told otherwise.
CURRENT_BUNDLE = Path("models/current")


def partial(path: Path) -> Path:
    """Where ``path`` (a bundle folder or a file) is written before it is complete."""
    return path.with_name(path.name + PARTIAL_SUFFIX)


def fresh_partial(folder: Path) -> Path:
    """An empty staging folder for the bundle ``folder``, left-overs of an interrupted run removed."""
    staging = partial(folder)
    shutil.rmtree(staging, ignore_errors=True)
    return staging


def publish(written: Path, path: Path) -> Path:
    """``written`` (complete, from :func:`partial`) renamed into ``path``, replacing what was there."""
    if written.is_dir() and path.exists():
        shutil.rmtree(path)
    written.replace(path)
    return path
