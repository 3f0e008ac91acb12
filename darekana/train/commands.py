"""What the ``darekana train`` subcommands run (their arguments are defined in :mod:`darekana.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from darekana.recognizer.bundle import BundleError

from .base import train_base
from .card import add_figures, write_card
from .compare import compare, table
from .configs import BaseConfig, DetectorTrainConfig, FinetuneConfig, FitConfig, HeadConfig, StudyConfig
from .data import load_aliases
from .detector import train_detector
from .enroll import EnrollError, enroll
from .evaluate import evaluate
from .fit import fit
from .network import record_path
from .report import markdown, write_report
from .study import run_study as study


def resolve_device(device: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def head_config(args: argparse.Namespace) -> HeadConfig:
    return HeadConfig(kind=args.head, scale=args.scale, margin=args.margin, projection=args.projection)


def run_base(args: argparse.Namespace) -> int:
    recipe = BaseConfig().finetune
    config = BaseConfig(
        arch=args.arch,
        pretrained=args.pretrained,
        img_size=args.img_size,
        hold_out=tuple(args.hold_out),
        finetune=replace(
            recipe,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=resolve_device(args.device),
        ),
    )
    result = train_base(args.data, args.out, config, args.until)
    if result.network is None:
        print(f"stopped after epoch {result.epochs_done}; run the same command again to continue")
        return 0
    last = result.record["history"][-1]
    print(
        f"network written to {result.network} ({result.record['sha256'][:12]}): {len(result.record['history'])} "
        f"epochs, validation top-1 {last['val_accuracy']:.4f}; record in {record_path(result.network)}"
    )
    return 0


def _figures(path: Path) -> dict:
    """A JSON file, or the last line of a benchmark's output (JSON lines)."""
    try:
        text = path.read_text(encoding="utf-8")
        try:
            figures = json.loads(text)
        except ValueError:
            figures = json.loads(text.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError) as exc:
        raise ValueError(f"figures {path}: {exc}") from None
    if not isinstance(figures, dict):
        raise ValueError(f"figures {path}: expected a JSON object")
    return figures


def run_card(args: argparse.Namespace) -> int:
    network = Path(args.network)
    for name, path in args.figures:
        add_figures(network, name, _figures(Path(path)))
    print(f"model card written to {write_card(network)}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    config = FitConfig(
        arch=args.arch,
        pretrained=args.pretrained,
        network=args.network,
        finetune_network=args.finetune,
        img_size=args.img_size,
        aliases=load_aliases(args.aliases) if args.aliases else {},
        test_split_of=args.test_split_of,
        detector=args.detector,
        detector_model=args.detector_model,
        finetune=FinetuneConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=resolve_device(args.device),
            head=head_config(args),
        ),
    )
    result = fit(args.data, args.out, config)
    r = result.report
    print(
        f"bundle written to {result.bundle}: test top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f} on {r['n']} "
        f"faces; report in {result.bundle / 'report' / 'report.md'}"
    )
    return 0


def run_detector(args: argparse.Namespace) -> int:
    config = DetectorTrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, size=args.size, lr=args.lr, seed=args.seed
    )
    result = train_detector(args.data, args.out, config)
    r = result.report
    print(
        f"{result.model}: the {result.winner} detector (held-back AP@0.5: fine-tuned {r['fine-tuned']['ap50']:.3f}, "
        f"shared weights {r['shared']['ap50']:.3f}, {r['held_back_pictures']} pictures); "
        f"report in {result.model}.report/"
    )
    return 0


def run_study(args: argparse.Namespace) -> int:
    config = StudyConfig(
        quick=args.quick,
        backbone=args.backbone,
        pretrained=args.pretrained,
        finetune_archs=tuple(args.archs),
        epochs=args.epochs or 0,
        device=resolve_device(args.device),
    )
    results = study(args.data, args.out, config)
    print(f"study finished in {results['seconds']:.0f} s: {Path(args.out) / 'report.md'}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    figures = evaluate(args.bundle, args.data, pictures=args.pictures)
    if args.report:
        write_report(figures, Path(args.report), f"{args.bundle} on {', '.join(args.data)}")
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(markdown(figures, f"{args.bundle} on {', '.join(args.data)}"))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    result = compare(args.old, args.new, args.data, args.tolerance, args.test_split_of)
    for which, n in result.leakage.items():
        if n:
            print(
                f"darekana: warning: {n} of the {result.faces} faces scored are in {which.upper()}'s "
                "training, validation or calibration split, which flatters it; "
                f"--test-split-of {args.old} scores held-back faces only",
                file=sys.stderr,
            )
    print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else table(result))
    if not result.passed:
        print(f"darekana: refusing {args.new}: worse than {args.old}: {'; '.join(result.reasons)}", file=sys.stderr)
        return 1
    return 0


def run_enroll(args: argparse.Namespace) -> int:
    if Path(args.out).resolve() == Path(args.bundle).resolve():
        print("darekana: --out must differ from BUNDLE: the bundle being read is not overwritten", file=sys.stderr)
        return 2
    try:
        result = enroll(args.bundle, args.data, args.out)
    except (BundleError, EnrollError) as exc:
        print(f"darekana: {exc}", file=sys.stderr)
        return 2
    r = result.report
    print(
        f"bundle written to {result.bundle}: added {', '.join(result.added) or 'none'}; more faces of "
        f"{', '.join(result.extended) or 'none'}; known test faces top-1 {r['top1']:.4f} on {r['n']}"
    )
    return 0
