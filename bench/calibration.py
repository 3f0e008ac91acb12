"""Calibration benchmark: do the verdicts keep their promises on faces the thresholds were not chosen on?

    python -m bench.calibration [--datasets animeface-10] [--seeds 0 1] [--epochs 8] [--out runs/calibration]

For each dataset and seed, makes two bundles that differ only in where the thresholds are chosen:
``validation`` (the faces that also stop training early, as bundles were made before) and ``calibration``
(a split of its own, by source picture, that neither training nor early stopping sees). Each is scored on
its held-back test split: top-1, and the promises (5 % of known faces called "unknown", "confident"
answers right 99 % of the time) as chosen and as delivered, with 95 % intervals. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import machine
from darekana.train.configs import FinetuneConfig, FitConfig
from darekana.train.fit import fit
from darekana.train.shared import DATASETS

# Both keep 70 % of the faces out of training's way the same: validation alone, or validation + calibration.
RECIPES = {"validation": {"val": 0.15, "calibration": 0.0}, "calibration": {"val": 0.1, "calibration": 0.15}}


def run(dataset: str, seed: int, recipe: str, args: argparse.Namespace) -> dict[str, object]:
    tune = FinetuneConfig(epochs=args.epochs, seed=seed)
    config = FitConfig(**RECIPES[recipe], network=args.network, finetune=tune)  # type: ignore[arg-type]
    out = Path(args.out)
    report = fit([DATASETS / dataset], out / f"{dataset}-{recipe}-{seed}", config).report
    promises = report["promises"]
    return {
        "dataset": dataset,
        "seed": seed,
        "thresholds_on": recipe,
        "test_n": report["n"],
        "top1": round(report["top1"], 4),
        **{
            f"{name}_{what}": promise[what]
            for name, promise in promises.items()
            for what in ("calibration", "delivered", "interval", "held")
        },
        "confident_n": promises["confident_precision"]["n"],
        "training_seconds": report["training_seconds"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["animeface-10"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--epochs", type=int, default=8, help="when fine-tuning")
    p.add_argument(
        "--network",
        default=FitConfig().network,
        help="base network to build on ('auto': the shipped one; its split fixes the faces, so seeds only "
        "vary fine-tuning), or 'none': fine-tune from ImageNet",
    )
    p.add_argument("--out", default="runs/calibration")
    args = p.parse_args()
    rows = [run(dataset, seed, recipe, args) for dataset in args.datasets for seed in args.seeds for recipe in RECIPES]
    figures = {"benchmark": "calibration", "machine": machine(), "network": args.network, "epochs": args.epochs}
    print(json.dumps(figures | {"runs": rows}))


if __name__ == "__main__":
    main()
