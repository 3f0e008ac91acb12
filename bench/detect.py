"""Detection benchmark: how many real heads each detector finds, how cleanly, and how fast.

    python -m bench.detect [--model darekana/recognizer/data/faceboxes-anime-heads.onnx] [--runs 20] [--tune]

On paperface-heads' held-back pictures (``darekana.train.detection.split_pictures``: never trained or tuned on), side
by side in one run: animeface, FaceBoxes with the shared weights, and FaceBoxes with ``--model`` (the
shipped model, or another ``train detector`` output), each single-scale with the bundle defaults
(``darekana.recognizer.detect.DetectorSpec``) and multi-scale (``MULTI_SCALE``). Prints one JSON line: recall and
precision at IoU 0.3 and 0.5, AP@0.5, the share of pictures with at least one detection, and ms p50/p95 per
picture (one thread) with the pictures resized to 512, 1024 and 2048 px.

``--tune`` instead sweeps score threshold, NMS IoU and longest side on the validation pictures of
``train detector`` (outside the held-back split, and never trained on) and prints one JSON line per
setting: how the defaults were chosen.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from PIL import Image

from bench.common import machine
from darekana.recognizer.detect import (
    ANIMEFACE_SPEC,
    DEFAULT_DETECTOR_MODEL,
    FACEBOXES,
    MULTI_SCALE,
    Detector,
    DetectorSpec,
)
from darekana.recognizer.detectors import AnimefaceDetector, FaceBoxesDetector
from darekana.recognizer.images import load_image
from darekana.train.detection import Annotated, figures, load_voc, pr_curve, run_detector
from darekana.train.detector import detector_splits
from darekana.train.shared import DATASETS

SIDES = (512, 1024, 2048)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 1), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1)}


Factory = Callable[[DetectorSpec], Detector]


def quality(make: Factory, spec: DetectorSpec, data: list[Annotated]) -> dict[str, object]:
    """Figures at the detector's own threshold, and AP, from one run that keeps everything scored ≥ 0.05: NMS
    takes boxes best first, so a box below the threshold never removes one above it, and the detections at the
    threshold are exactly those of a run at it."""
    found = run_detector(make(replace(spec, score=min(0.05, spec.score))), data)
    row: dict[str, object] = {}
    for iou in (0.3, 0.5):
        f = figures(data, found, iou, spec.score)
        row[f"recall@{iou}"], row[f"precision@{iou}"] = round(f["recall"], 4), round(f["precision"], 4)
    row["pictures_with_detection"] = round(figures(data, found, 0.5, spec.score)["pictures_with_detection"], 4)
    if spec.kind == FACEBOXES:  # the detections below ``sure`` are answered but marked: how clean the rest is
        f = figures(data, found, 0.5, spec.sure)
        row["recall@0.5_sure"], row["precision@0.5_sure"] = round(f["recall"], 4), round(f["precision"], 4)
    row["ap50"] = round(pr_curve(data, found, 0.5)["ap"], 4)
    return row


def speed(detector: Detector, pictures: list[Image.Image], runs: int) -> dict[str, dict[str, float]]:
    out = {}
    for side in SIDES:
        scaled = [
            p.resize(
                (round(p.width * side / max(p.size)), round(p.height * side / max(p.size))), Image.Resampling.BILINEAR
            )
            for p in pictures
        ]
        detector.detect(scaled[0])
        ms = []
        for i in range(runs):
            start = time.perf_counter()
            detector.detect(scaled[i % len(scaled)])
            ms.append((time.perf_counter() - start) * 1000)
        out[f"{side}px"] = percentiles(ms)
    return out


def detectors(model: Path | None, shared: Path) -> dict[str, tuple[Factory, DetectorSpec]]:
    found: dict[str, tuple[Factory, DetectorSpec]] = {"animeface": (AnimefaceDetector, ANIMEFACE_SPEC)}
    for name, path in (("faceboxes_shared", shared), ("faceboxes", model)):
        if path is None:
            continue
        make = partial(lambda spec, path: FaceBoxesDetector(spec, path, threads=1), path=path)
        found[name] = (make, DetectorSpec())
        found[f"{name}_multiscale"] = (make, DetectorSpec(scales=MULTI_SCALE))
    return found


def tune(model: Path, data: list[Annotated]) -> None:
    for max_side in (768, 1024):
        for nms_iou in (0.3, 0.45):
            for scales in ((1.0,), MULTI_SCALE):
                spec = DetectorSpec(score=0.05, nms_iou=nms_iou, max_side=max_side, scales=scales)
                found = run_detector(FaceBoxesDetector(spec, model, threads=1), data)
                curve = pr_curve(data, found, 0.5)
                row = {
                    "max_side": max_side,
                    "nms_iou": nms_iou,
                    "scales": scales,
                    "ap50": round(curve["ap"], 4),
                    "ms_p50": round(statistics.median(found.ms), 1),
                }
                for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
                    f = figures(data, found, 0.5, threshold)
                    row[f"score_{threshold}"] = [round(f["recall"], 4), round(f["precision"], 4)]
                print(json.dumps(row), flush=True)


def shared_model(folder: Path) -> Path:
    from darekana.train.faceboxes import export_detector, load_faceboxes

    return export_detector(load_faceboxes(), folder / "shared.onnx")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=DEFAULT_DETECTOR_MODEL, help="a FaceBoxes ONNX (train detector)")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--tune", action="store_true")
    args = p.parse_args()
    _, tuning, held = detector_splits(load_voc([DATASETS / "paperface-heads"]))
    model = args.model if args.model.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        shared = shared_model(Path(tmp))
        if args.tune:
            tune(model or shared, tuning)
            return
        figures_out: dict[str, object] = {
            "benchmark": "detect",
            "machine": machine(),
            "held_back_pictures": len(held),
            "held_back_heads": sum(len(a.boxes) for a in held),
            "model": str(model) if model else "shared weights only",
            "defaults": DetectorSpec().__dict__ | {"multi_scale": MULTI_SCALE},
        }
        pictures = [load_image(a.path) for a in held[:20]]
        for name, (make, spec) in detectors(model, shared).items():
            figures_out[name] = {**quality(make, spec, held), "ms": speed(make(spec), pictures, args.runs)}
    print(json.dumps(figures_out))


if __name__ == "__main__":
    main()
