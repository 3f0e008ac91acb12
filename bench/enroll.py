"""Enrolment benchmark: animeface-10's characters enrolled into a hololive-20 bundle from 1, 5 and 20 crops
each (``darekana train enroll``), recognised on their other crops, while hololive-20's test faces still are.

    python bench/enroll.py [--bundle models/hololive-20] [--epochs 8] [--shots 1 5 20]

The bundle is trained first when missing. Prints one JSON line: per number of crops, top-1 on the enrolled
characters' other crops (and how many of those were called unknown), top-1 on the bundle's held-back
hololive-20 test faces after enrolling (and before, from the bundle), and the seconds enrolling took;
``new_confident``: the share of the new characters' other crops answered "confident" (none should be: the
engine never is for enrolled characters), ``new_centres_right``: how often the answers of the enrolled
centres were right, ``new_centres_top1_probability``: their mean top-1 probability, against which to read it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from darekana.recognizer.bundle import load_manifest  # noqa: E402
from darekana.recognizer.engine import Model, Recognizer, Verdict  # noqa: E402
from darekana.recognizer.images import load_image  # noqa: E402
from darekana.train.configs import (
    FinetuneConfig,  # noqa: E402
    FitConfig,
)
from darekana.train.data import IMAGE_SUFFIXES  # noqa: E402
from darekana.train.enroll import enroll  # noqa: E402
from darekana.train.fit import fit  # noqa: E402
from darekana.train.shared import DATASETS  # noqa: E402

from common import machine  # noqa: E402

NEW = DATASETS / "animeface-10"


def faces_of(folder: Path) -> list[Path]:
    """A character's crops in a fixed shuffled order, so the first few enrolled are not all alike by name."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [paths[i] for i in np.random.default_rng(0).permutation(len(paths))]


def enrolled_figures(bundle: Path, shots: int, work: Path) -> dict[str, object]:
    characters = sorted(p for p in NEW.iterdir() if p.is_dir())
    held: list[tuple[Path, str]] = []
    for folder in characters:
        (work / "faces" / folder.name).mkdir(parents=True)
        crops = faces_of(folder)
        for path in crops[:shots]:
            (work / "faces" / folder.name / path.name).symlink_to(path)
        held += [(path, folder.name) for path in crops[shots:]]
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON line
        result = enroll(bundle, [work / "faces"], work / "enrolled")
    seconds = time.perf_counter() - started
    decisions = Recognizer(result.bundle).classify([load_image(p) for p, _ in held])
    right = np.array([d.label == truth for d, (_, truth) in zip(decisions, held)])
    confident = np.array([d.verdict is Verdict.CONFIDENT for d in decisions])
    centres = [(d.confidence, ok) for d, ok in zip(decisions, right) if d.model is Model.CENTRES]
    return {
        "new_n": len(held),
        "new_top1": round(float(right.mean()), 4),
        "new_called_unknown": round(float(np.mean([d.verdict is Verdict.UNKNOWN for d in decisions])), 4),
        "new_confident": round(float(confident.mean()), 4),
        "new_centres_n": len(centres),
        "new_centres_right": round(float(np.mean([ok for _, ok in centres])), 4) if centres else None,
        "new_centres_top1_probability": round(float(np.mean([p for p, _ in centres])), 4) if centres else None,
        "known_test_top1": round(result.report["top1"], 4),
        "known_false_rejection_rate": round(result.report["known_false_rejection_rate"], 4),
        "enroll_seconds": round(seconds, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", default="models/hololive-20", help="a hololive-20 bundle; trained when missing")
    p.add_argument("--epochs", type=int, default=8, help="for a bundle that must be trained first")
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5, 20], help="crops enrolled per character")
    args = p.parse_args()
    bundle = Path(args.bundle)
    if not (bundle / "manifest.json").is_file():
        with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON line
            fit([DATASETS / "hololive-20"], bundle, FitConfig(finetune=FinetuneConfig(epochs=args.epochs)))
    manifest = load_manifest(bundle)
    figures: dict[str, object] = {
        "benchmark": "enroll",
        "machine": machine(),
        "bundle": str(bundle),
        "known_test_top1_before": manifest.metrics.get("test_top1"),
        "new_characters": len([p for p in NEW.iterdir() if p.is_dir()]),
    }
    for shots in args.shots:
        with tempfile.TemporaryDirectory(prefix="darekana-enroll-") as work:
            figures[f"{shots}_crops"] = enrolled_figures(bundle, shots, Path(work))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
