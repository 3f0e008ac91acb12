"""Latency benchmark: decode + detect + recognize real pictures of 512, 1024 and 2048 px, one face crop
alone, and a batch of crops; peak memory.

    python -m bench.latency [--bundle models/animeface-10] [--runs 30] [--threads 1]

Pictures are made from real animeface-10 crops pasted on a canvas (three faces in a row), encoded as PNG,
so decoding is part of the cost. Prints one JSON line: per size p50/p95 ms per stage and end to end,
single-crop p50/p95 ms, faces per second in a batch of 32, peak RSS MiB, and the machine. ``--threads 1``
measures on one core (the target: one face in ≤ 5 ms); without it ONNX Runtime uses every core.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

from bench.common import machine, side_by_side
from darekana.recognizer import Recognizer
from darekana.recognizer.images import load_image
from darekana.train.shared import DATASETS


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 1), "p95": round(ordered[int(0.95 * (len(ordered) - 1))], 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="models/animeface-10")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--threads", type=int, help="ONNX Runtime threads per model (default: every core)")
    args = p.parse_args()
    recognizer = Recognizer(args.bundle, threads=args.threads)
    crops = [load_image(p) for p in sorted((DATASETS / "animeface-10").glob("*/face_*.png"))[::40]]
    figures: dict[str, object] = {
        "benchmark": "latency",
        "machine": machine(),
        "bundle": recognizer.version,
        "runs": args.runs,
        "threads": args.threads or "all",
    }
    for side in (512, 1024, 2048):
        data = side_by_side(crops[:3], side)
        stages: dict[str, list[float]] = {"decode": [], "detect": [], "recognize": [], "total": []}
        faces = 0
        recognizer.recognize(data)  # warm-up
        for _ in range(args.runs):
            start = time.perf_counter()
            result = recognizer.recognize(data)
            stages["total"].append((time.perf_counter() - start) * 1000)
            for stage, ms in result.timings_ms.items():
                stages[stage].append(ms)
            faces = result.faces_detected
        figures[f"{side}px"] = {"faces": faces, **{k: percentiles(v) for k, v in stages.items()}}
    one = []
    recognizer.classify(crops[:1])
    for i in range(args.runs * 3):
        start = time.perf_counter()
        recognizer.classify([crops[i % len(crops)]])
        one.append((time.perf_counter() - start) * 1000)
    figures["one_crop_ms"] = percentiles(one)
    batch = (crops * 8)[:32]
    start = time.perf_counter()
    for _ in range(5):
        recognizer.classify(batch)
    figures["batch32_faces_per_second"] = round(5 * len(batch) / (time.perf_counter() - start), 1)
    figures["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
