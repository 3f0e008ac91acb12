"""``darekana train fit`` and ``darekana train evaluate``. Heavy imports (torch) wait until a command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recognizer.backbones import ARCHITECTURES


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="make and score model bundles").add_subparsers(dest="train_command",
                                                                                           required=True)
    fit = train.add_parser("fit", help="fine-tune a network on folders of faces and export a bundle")
    fit.add_argument("data", nargs="+", metavar="DATA", help="folder with one sub-folder of faces per character")
    fit.add_argument("--out", required=True, help="bundle directory to write")
    fit.add_argument("--arch", choices=ARCHITECTURES, default="mobilenet_v2")
    fit.add_argument("--pretrained", default="auto",
                     help="torchvision weights URL, a local .pth, 'none', or 'auto' (offline MobileNetV2 trunk)")
    fit.add_argument("--epochs", type=int, default=8)
    fit.add_argument("--img-size", type=int, default=128)
    fit.add_argument("--batch-size", type=int, default=64)
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when a GPU is there)")
    fit.set_defaults(run=run_fit)

    study = train.add_parser("study", help="re-run the Guan & Ge study (three strategies) on a folder of faces")
    study.add_argument("data", metavar="DATA")
    study.add_argument("--out", default="runs/study", help="where results.json, report.md/html and plots go")
    study.add_argument("--quick", action="store_true", help="small grids, few epochs: minutes on a 2-core CPU")
    study.add_argument("--backbone", choices=ARCHITECTURES, default="resnet18", help="strategy 2's feature network")
    study.add_argument("--pretrained", default="auto",
                       help="weights for the networks: URL, .pth, 'none', or 'auto' (torchvision weights when "
                            "cached locally; the offline MobileNetV2 trunk stands in for strategy 2)")
    study.add_argument("--archs", nargs="*", choices=ARCHITECTURES[:4], default=list(ARCHITECTURES[:4]),
                       help="networks to fine-tune with the study's recipe (none: skip strategy 3)")
    study.add_argument("--epochs", type=int, help="study recipe epochs (default 25, 2 with --quick)")
    study.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    study.set_defaults(run=run_study)

    ev = train.add_parser("evaluate", help="score a bundle on folders of faces or pictures")
    ev.add_argument("bundle", metavar="BUNDLE")
    ev.add_argument("data", nargs="+", metavar="DATA")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--pictures", action="store_true", help="files are whole pictures: detect faces first")
    ev.add_argument("--report", metavar="DIR", help="also write report.md, report.json and confusion.png here")
    ev.set_defaults(run=run_evaluate)


def resolve_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def run_fit(args: argparse.Namespace) -> int:
    from .finetune import FinetuneConfig
    from .fit import FitConfig, fit

    config = FitConfig(arch=args.arch, pretrained=args.pretrained, img_size=args.img_size,
                       finetune=FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                               seed=args.seed, device=resolve_device(args.device)))
    result = fit(args.data, args.out, config)
    r = result.report
    print(f"bundle written to {result.bundle}: test top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f} on {r['n']} "
          f"faces; report in {result.bundle / 'report' / 'report.md'}")
    return 0


def run_study(args: argparse.Namespace) -> int:
    from .study import StudyConfig, run_study as study

    config = StudyConfig(quick=args.quick, backbone=args.backbone, pretrained=args.pretrained,
                         finetune_archs=tuple(args.archs), epochs=args.epochs, device=resolve_device(args.device))
    results = study(args.data, args.out, config)
    print(f"study finished in {results['seconds']:.0f} s: {Path(args.out) / 'report.md'}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate
    from .report import markdown, write_report

    figures = evaluate(args.bundle, args.data, pictures=args.pictures)
    if args.report:
        write_report(figures, Path(args.report), f"{args.bundle} on {', '.join(args.data)}")
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(markdown(figures, f"{args.bundle} on {', '.join(args.data)}"))
    return 0
