"""Accuracy benchmark: train a bundle on each set (with its own held-back test split, grouped by source
picture), then score open-set rejection on a source of characters the set does not hold.

    python -m bench.accuracy [--sets animeface-10 hololive-20 115] [--network auto|FILE.onnx|none] [--epochs 8]
                             [--float32] [--no-mirror] [--out runs/bench]

Sets (``bench.faces.SETS``): animeface-10 and hololive-20, each the other's unknowns; ``115``, the three shared
datasets together (animeface-10, moeimouto-85, hololive-20), with the heads of paperface-heads' held-back pictures,
cut as the bundle cuts a detected head, as unknowns.
A bundle already in ``OUT/<set>`` is not retrained: its report is read and its unknowns scored again. Prints one
JSON line: per set top-1 (overall and per dataset), top-5, test size, known faces called unknown (overall,
averaged over characters, and per dataset), confident precision, and whether the promises held (with 95 %
intervals), rejection of unknown characters, training minutes; plus the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from bench.common import machine, network_figures, today
from bench.faces import SETS, unknown_crops
from darekana.cli.train import add_serving_arguments
from darekana.recognizer.bundle import load_manifest
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.layout import REPORT_FOLDER
from darekana.recognizer.names import character_key
from darekana.train.configs import FinetuneConfig, FitConfig
from darekana.train.evaluate import score
from darekana.train.fit import fit
from darekana.train.shared import DATASETS

UNKNOWN = "<not a known character>"


def report_of(name: str, out: Path, config: FitConfig) -> dict:
    bundle = out / name
    if not (bundle / "manifest.json").is_file():
        datasets: list[str | Path] = [DATASETS / d for d in SETS[name][0]]
        fit(datasets, bundle, config)
    report = json.loads((bundle / REPORT_FOLDER / "report.json").read_text())
    if "known_false_rejection_per_character" not in report:
        raise SystemExit(f"{bundle} was made before its report counted faces called unknown per character: delete it")
    training = load_manifest(bundle).training
    served = (training.get("precision", "float32"), training.get("mirror", False))
    if "head" in training and served != (config.precision, config.mirror):
        # the JSON line says how the bundles served the network: a bundle reused from --out must serve it so
        raise SystemExit(f"{bundle} serves its network as {served} (precision, mirror), not as asked: delete it")
    return report


def unknown_figures(bundle: Path, source: str) -> dict[str, object]:
    recognizer = Recognizer(bundle)
    crops = unknown_crops(source, recognizer.manifest.framing)
    known = [label.id for label in recognizer.manifest.labels]
    figures = score(recognizer.classify(crops), [UNKNOWN] * len(crops), known)
    return {
        "unknown_source": source,
        "unknown_n": figures["unknown_n"],
        "unknown_rejection_rate": round(figures["unknown_rejection_rate"], 4),
        "unknown_not_confident_rate": round(figures["unknown_not_confident_rate"], 4),
    }


def by_dataset(per_class: dict[str, dict], datasets: list[str], share: str) -> dict[str, float]:
    """A per-character share of the test faces (``recall``: named right; ``called_unknown``), per dataset of the
    set, over its faces (its characters' folders name them)."""
    keys = {character_key(name): figures for name, figures in per_class.items() if figures["n"]}
    rates = {}
    for dataset in datasets:  # as ``scan`` names a character: by its key, whichever folder came first
        mine = [keys[character_key(f.name)] for f in (DATASETS / dataset).iterdir() if character_key(f.name) in keys]
        faces = sum(c["n"] for c in mine)
        rates[dataset] = round(sum(c[share] * c["n"] for c in mine) / max(faces, 1), 4)
    return rates


def set_figures(name: str, out: Path, config: FitConfig) -> dict[str, object]:
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the JSON line
        r = report_of(name, out, config)
        unknown = unknown_figures(out / name, SETS[name][1])
    return {
        "datasets": SETS[name][0],
        "characters": len(r["per_class"]),
        "test_n": r["n"],
        "top1": round(r["top1"], 4),
        "top5": round(r["top5"], 4),
        "top1_by_dataset": by_dataset(r["per_class"], SETS[name][0], "recall"),
        "known_false_rejection_rate": round(r["known_false_rejection_rate"], 4),
        "known_false_rejection_per_character": round(r["known_false_rejection_per_character"], 4),
        "known_false_rejection_by_dataset": by_dataset(r["per_class"], SETS[name][0], "called_unknown"),
        "confident_precision": round(r["confident_precision"], 4),
        "promises": r["promises"],
        **unknown,
        "training_minutes": round(r["training_seconds"] / 60, 1),
        "epochs_run": len(r["history"]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=8)
    add_serving_arguments(p, FitConfig())
    p.add_argument("--out", default="runs/bench")
    p.add_argument("--sets", nargs="+", choices=list(SETS), default=["animeface-10", "hololive-20"])
    p.add_argument(
        "--network", default=FitConfig().network, help="base network ('auto': the shipped one), or 'none': fine-tune"
    )
    args = p.parse_args()
    config = FitConfig(
        network=args.network, int8=args.int8, mirror=args.mirror, finetune=FinetuneConfig(epochs=args.epochs)
    )
    figures: dict[str, object] = {
        "benchmark": "accuracy",
        "machine": machine(),
        "date": today(),
        "network": network_figures(args.network),
        "precision": config.precision,
        "mirror": config.mirror,
    }
    for name in args.sets:
        figures[name] = set_figures(name, Path(args.out), config)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
