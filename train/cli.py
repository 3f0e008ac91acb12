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
    fit.set_defaults(run=run_fit)

    ev = train.add_parser("evaluate", help="score a bundle on folders of faces or pictures")
    ev.add_argument("bundle", metavar="BUNDLE")
    ev.add_argument("data", nargs="+", metavar="DATA")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--pictures", action="store_true", help="files are whole pictures: detect faces first")
    ev.add_argument("--report", metavar="DIR", help="also write report.md, report.json and confusion.png here")
    ev.set_defaults(run=run_evaluate)


def run_fit(args: argparse.Namespace) -> int:
    from .finetune import FinetuneConfig
    from .fit import FitConfig, fit

    config = FitConfig(arch=args.arch, pretrained=args.pretrained, img_size=args.img_size,
                       finetune=FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                               seed=args.seed))
    result = fit(args.data, args.out, config)
    r = result.report
    print(f"bundle written to {result.bundle}: test top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f} on {r['n']} "
          f"faces; report in {result.bundle / 'report' / 'report.md'}")
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
