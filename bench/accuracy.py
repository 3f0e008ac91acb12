"""Accuracy benchmark: train a bundle on hololive-20 and on animeface-10 (each with its own held-back test
split), then score open-set rejection with the other dataset's characters as unknowns.

    python bench/accuracy.py [--epochs 8] [--out runs/bench]

Prints one JSON line: per dataset top-1, top-5, test size, false rejection of known faces, rejection of
unknown characters, training seconds; plus the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from darekana.train.configs import (
    FinetuneConfig,  # noqa: E402
    FitConfig,
)
from darekana.train.evaluate import evaluate  # noqa: E402
from darekana.train.fit import fit  # noqa: E402
from darekana.train.shared import DATASETS  # noqa: E402

from common import machine  # noqa: E402

PAIRS = {"hololive-20": "animeface-10", "animeface-10": "hololive-20"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--datasets", nargs="+", default=list(PAIRS))
    args = p.parse_args()
    figures: dict[str, object] = {"benchmark": "accuracy", "machine": machine(), "epochs": args.epochs}
    for name in args.datasets:
        with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON line
            result = fit(
                [DATASETS / name], Path(args.out) / name, FitConfig(finetune=FinetuneConfig(epochs=args.epochs))
            )
            unknown = evaluate(result.bundle, [DATASETS / PAIRS[name]])
        r = result.report
        figures[name] = {
            "test_n": r["n"],
            "top1": round(r["top1"], 4),
            "top5": round(r["top5"], 4),
            "known_false_rejection_rate": round(r["known_false_rejection_rate"], 4),
            "confident_precision": round(r["confident_precision"], 4),
            "unknown_dataset": PAIRS[name],
            "unknown_n": unknown["unknown_n"],
            "unknown_rejection_rate": round(unknown["unknown_rejection_rate"], 4),
            "unknown_not_confident_rate": round(unknown["unknown_not_confident_rate"], 4),
            "training_seconds": r["training_seconds"],
            "epochs_run": len(r["history"]),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
