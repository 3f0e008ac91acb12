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
    fit.add_argument("data", nargs="+", metavar="DATA",
                     help="folder with one sub-folder of faces per character, or a zip of them (correction export)")
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
    fit.add_argument("--aliases", metavar="JSON", help='names to merge: {"miku": "hatsune_miku", ...}')
    fit.add_argument("--test-split-of", metavar="BUNDLE",
                     help="keep this earlier bundle's test faces as the test set, so the two compare fairly")
    fit.add_argument("--detector", choices=("faceboxes", "animeface"), default="faceboxes",
                     help="face detector the bundle uses and measures its crop framing with")
    fit.add_argument("--detector-model", metavar="FILE.onnx",
                     help="a FaceBoxes model from 'train detector' (default: the one darekana ships)")
    fit.set_defaults(run=run_fit)

    det = train.add_parser("detector", help="fine-tune the FaceBoxes head detector on pictures with Pascal VOC "
                                            "boxes; writes it, or the shared weights if they score better")
    det.add_argument("data", nargs="+", metavar="DATA", help="folder of pictures with VOC .xml boxes "
                     "(side by side, or pictures/ beside boxes/ as in paperface-heads)")
    det.add_argument("--out", required=True, metavar="FILE.onnx", help="detector to write (report in FILE.onnx.report/)")
    det.add_argument("--epochs", type=int, default=30)
    det.add_argument("--batch-size", type=int, default=16)
    det.add_argument("--size", type=int, default=512, help="side of the square training views")
    det.add_argument("--lr", type=float, default=1e-3)
    det.add_argument("--seed", type=int, default=0)
    det.set_defaults(run=run_detector)

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

    cmp = train.add_parser("compare", help="gate a promotion: score OLD and NEW on the same faces; exit 1 when "
                                           "NEW is worse beyond the tolerance")
    cmp.add_argument("old", metavar="OLD")
    cmp.add_argument("new", metavar="NEW")
    cmp.add_argument("data", nargs="+", metavar="DATA", help="folders of faces, ideally ones neither bundle trained on")
    cmp.add_argument("--tolerance", type=float, default=0.01, help="largest loss accepted in any gated figure")
    cmp.add_argument("--test-split-of", metavar="BUNDLE",
                     help="score only this bundle's test-split faces of DATA (usually OLD)")
    cmp.add_argument("--json", action="store_true", help="print one JSON object")
    cmp.set_defaults(run=run_compare)

    enroll = train.add_parser("enroll", help="add characters, or faces of known ones, to a bundle in seconds "
                                             "(fallback and class centres only; the network is kept)")
    enroll.add_argument("bundle", metavar="BUNDLE")
    enroll.add_argument("data", nargs="+", metavar="DATA", help="folder with one sub-folder of face crops per "
                        "character, or a zip of them (correction export)")
    enroll.add_argument("--out", required=True, help="bundle directory to write (may not be BUNDLE)")
    enroll.set_defaults(run=run_enroll)


def resolve_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def run_fit(args: argparse.Namespace) -> int:
    from .finetune import FinetuneConfig
    from .data import load_aliases
    from .fit import FitConfig, fit

    config = FitConfig(arch=args.arch, pretrained=args.pretrained, img_size=args.img_size,
                       aliases=load_aliases(args.aliases) if args.aliases else {}, test_split_of=args.test_split_of,
                       detector=args.detector, detector_model=args.detector_model,
                       finetune=FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                               seed=args.seed, device=resolve_device(args.device)))
    result = fit(args.data, args.out, config)
    r = result.report
    print(f"bundle written to {result.bundle}: test top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f} on {r['n']} "
          f"faces; report in {result.bundle / 'report' / 'report.md'}")
    return 0


def run_detector(args: argparse.Namespace) -> int:
    from .detector import DetectorTrainConfig, train_detector

    config = DetectorTrainConfig(epochs=args.epochs, batch_size=args.batch_size, size=args.size, lr=args.lr,
                                 seed=args.seed)
    result = train_detector(args.data, args.out, config)
    r = result.report
    print(f"{result.model}: the {result.winner} detector (held-back AP@0.5: fine-tuned {r['fine-tuned']['ap50']:.3f}, "
          f"shared weights {r['shared']['ap50']:.3f}, {r['held_back_pictures']} pictures); "
          f"report in {result.model}.report/")
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


def run_compare(args: argparse.Namespace) -> int:
    import sys

    from .compare import compare, table

    result = compare(args.old, args.new, args.data, args.tolerance, args.test_split_of)
    for which, n in result.leakage.items():
        if n:
            print(f"darekana: warning: {n} of the {result.faces} faces scored are in {which.upper()}'s training or "
                  f"validation split, which flatters it; --test-split-of {args.old} scores held-back faces only",
                  file=sys.stderr)
    print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else table(result))
    if not result.passed:
        print(f"darekana: refusing {args.new}: worse than {args.old}: {'; '.join(result.reasons)}", file=sys.stderr)
        return 1
    return 0


def run_enroll(args: argparse.Namespace) -> int:
    import sys

    from recognizer.bundle import BundleError

    from .enroll import EnrollError, enroll

    if Path(args.out).resolve() == Path(args.bundle).resolve():
        print("darekana: --out must differ from BUNDLE: the bundle being read is not overwritten", file=sys.stderr)
        return 2
    try:
        result = enroll(args.bundle, args.data, args.out)
    except (BundleError, EnrollError) as exc:
        print(f"darekana: {exc}", file=sys.stderr)
        return 2
    r = result.report
    print(f"bundle written to {result.bundle}: added {', '.join(result.added) or 'none'}; more faces of "
          f"{', '.join(result.extended) or 'none'}; known test faces top-1 {r['top1']:.4f} on {r['n']}")
    return 0
