"""``darekana train``: everything that makes and scores a bundle. Arguments are read here, defaults from
``darekana.train.configs``; each command's code (torch included) is imported only when it runs."""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

from darekana.recognizer.detect import ANIMEFACE, FACEBOXES
from darekana.train.configs import (
    ARCHITECTURES,
    COMPARE_TOLERANCE,
    FINETUNE_ARCHS,
    HEADS,
    BaseConfig,
    DetectorTrainConfig,
    FinetuneConfig,
    FitConfig,
    HeadConfig,
    StudyConfig,
)

from .common import Commands, faces_argument

DEVICE_HELP = "cpu, cuda, or auto (cuda when a GPU is there)"


def add_commands(commands: Commands) -> None:
    train = commands.add_parser("train", help="make and score model bundles")
    group = train.add_subparsers(dest="train_command", required=True)
    for add in (_base, _card, _fit, _detector, _study, _evaluate, _compare, _enroll):
        add(group)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _share(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {value}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {value}")
    return value


def _weight(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _per_character(text: str) -> int:
    value = _whole(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a batch needs at least 2 faces of a character, not {value}")
    return value


def _look_alike_group(text: str) -> int:
    value = _whole(text)
    if value == 1 or value < 0:
        raise argparse.ArgumentTypeError(f"a group of look-alikes needs at least 2 characters (0: none), not {value}")
    return value


def add_head_arguments(p: argparse.ArgumentParser, head: HeadConfig | None = None) -> None:
    """The classification head's options (``HeadConfig``, defaults from ``head``), read back by :func:`head_config`."""
    head = head or HeadConfig()
    p.add_argument("--head", choices=HEADS, default=head.kind, help="classification head (see HeadConfig)")
    p.add_argument("--scale", type=float, default=head.scale, help="cosine heads: logit scale")
    p.add_argument("--margin", type=float, default=head.margin, help="cosine heads: margin, training only")
    p.add_argument(
        "--projection", type=int, default=head.projection, help="embedding width before a cosine head (0: none)"
    )


def add_serving_arguments(p: argparse.ArgumentParser, fit: FitConfig) -> None:
    """How a bundle serves a frozen base network (``FitConfig.int8``, ``FitConfig.mirror``, defaults from ``fit``)."""
    p.add_argument(
        "--float32",
        dest="int8",
        action="store_false",
        default=fit.int8,
        help="serve the frozen base network in float32, not its int8 copy (slower, for comparison)",
    )
    p.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        default=fit.mirror,
        help="read each face with its mirror image too, through the frozen base network (the default; twice the "
        "network's work)",
    )


def head_config(args: argparse.Namespace) -> HeadConfig:
    return HeadConfig(kind=args.head, scale=args.scale, margin=args.margin, projection=args.projection)


def _training_arguments(p: argparse.ArgumentParser, tune: FinetuneConfig) -> None:
    """The network training options ``base`` and ``fit`` share, their defaults from ``tune``."""
    p.add_argument("--epochs", type=int, default=tune.epochs)
    p.add_argument("--batch-size", type=int, default=tune.batch_size)
    p.add_argument("--lr", type=float, default=tune.lr)
    p.add_argument(
        "--label-smoothing",
        type=_share,
        default=tune.label_smoothing,
        help="share of each target spread over all classes",
    )
    p.add_argument("--seed", type=int, default=tune.seed, help="the training's seed")
    p.add_argument(
        "--triplet",
        type=_weight,
        default=tune.triplet_weight,
        metavar="WEIGHT",
        help="batch-hard triplet loss on the unit embedding at this weight beside the classification loss (0: none)",
    )
    p.add_argument("--triplet-margin", type=_weight, default=tune.triplet_margin, help="the triplet loss's margin")
    p.add_argument(
        "--faces-per-character",
        type=_per_character,
        default=tune.faces_per_character,
        metavar="K",
        help="with --triplet: each batch holds K faces of each of its characters",
    )
    p.add_argument(
        "--look-alikes",
        type=_look_alike_group,
        default=tune.look_alikes,
        metavar="G",
        help="with --triplet: batches hold groups of G characters with the nearest classifier weights (0: random)",
    )
    p.add_argument(
        "--balance",
        type=_fraction,
        default=tune.balance,
        metavar="B",
        help="with --triplet: a character with n faces gets n^(1-B) of each epoch (0: each face once; 1: all alike)",
    )
    p.add_argument(
        "--erase",
        type=_share,
        default=tune.erase,
        metavar="SHARE",
        help="random erasing: this share of training faces get a rectangle set to the mean colour",
    )
    p.add_argument(
        "--ema",
        type=_share,
        default=tune.ema,
        metavar="DECAY",
        help="validate, keep and export a moving average of the weights at this decay per step (0: the weights)",
    )
    add_head_arguments(p, tune.head)
    p.add_argument("--device", default=tune.device, help=DEVICE_HELP)


def _training(args: argparse.Namespace, tune: FinetuneConfig) -> FinetuneConfig:
    return replace(
        tune,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        label_smoothing=args.label_smoothing,
        seed=args.seed,
        triplet_weight=args.triplet,
        triplet_margin=args.triplet_margin,
        faces_per_character=args.faces_per_character,
        look_alikes=args.look_alikes,
        balance=args.balance,
        erase=args.erase,
        ema=args.ema,
        device=args.device,
        head=head_config(args),
    )


def _base(train: Commands) -> None:
    base = BaseConfig()
    p = train.add_parser(
        "base",
        help="train the embedding network bundles are built on (hours; resumable: run it again to continue)",
    )
    faces_argument(p)
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="network to write (record in FILE.json)")
    p.add_argument("--arch", choices=ARCHITECTURES, default=base.arch)
    p.add_argument(
        "--pretrained",
        default=base.pretrained,
        help="a local .pth, a base network's .onnx (its split kept), 'none', or 'auto' (--arch's ImageNet trunk)",
    )
    p.add_argument("--img-size", type=int, default=base.img_size)
    _training_arguments(p, base.finetune)
    p.add_argument(
        "--hold-out",
        nargs="+",
        default=list(base.hold_out),
        metavar="CHARACTER",
        help="characters left out of training, to measure it on characters it never saw",
    )
    p.add_argument(
        "--outliers",
        nargs="+",
        default=list(base.outliers),
        metavar="FOLDER",
        help="faces of no known character, taught a uniform answer (a VOC set: its tuning pictures' heads)",
    )
    p.add_argument(
        "--outlier-weight", type=float, default=base.finetune.outlier_weight, help="the outliers' share of the loss"
    )
    p.add_argument(
        "--slim",
        type=float,
        default=base.slim,
        metavar="KEEP",
        help="below 1: keep this share of the --pretrained network's hidden channels, taught its embedding",
    )
    p.add_argument(
        "--distil-weight", type=float, default=base.finetune.distil_weight, help="the teacher's share of the loss"
    )
    p.add_argument(
        "--distil-mix",
        action="store_true",
        help="with --slim: half of each batch blended pairwise, taught only the teacher's embedding",
    )
    p.add_argument(
        "--freeze-stem",
        action=argparse.BooleanOptionalAction,
        default=base.finetune.freeze_stem,
        help="keep the pretrained trunk's early layers frozen (MobileNetV2's and EfficientNet-Lite0's up to stride 8, "
        "a ResNet's up to stride 4); --no-freeze-stem trains every layer",
    )
    p.add_argument("--until", type=int, metavar="EPOCH", help="stop after this epoch; the same command continues")
    p.set_defaults(run=run_base)


def run_base(args: argparse.Namespace) -> int:
    from darekana.train.base import train_base
    from darekana.train.network import record_path

    base = BaseConfig()
    config = replace(
        base,
        arch=args.arch,
        pretrained=args.pretrained,
        img_size=args.img_size,
        hold_out=tuple(args.hold_out),
        outliers=tuple(args.outliers),
        slim=args.slim,
        finetune=replace(
            _training(args, base.finetune),
            outlier_weight=args.outlier_weight,
            distil_weight=args.distil_weight,
            distil_mix=args.distil_mix,
            freeze_stem=args.freeze_stem,
        ),
    )
    result = train_base(args.data, args.out, config, args.until)
    if result.network is None:
        print(f"stopped after epoch {result.epochs_done}; run the same command again to continue")
        return 0
    history = result.record["history"]
    print(
        f"network written to {result.network} ({result.record['sha256'][:12]}): {len(history)} epochs, "
        f"validation top-1 {history[-1]['val_accuracy']:.4f}; record in {record_path(result.network)}"
    )
    return 0


def _card(train: Commands) -> None:
    p = train.add_parser("card", help="write a base network's model card (FILE.md) from its record")
    p.add_argument("network", metavar="FILE.onnx")
    p.add_argument(
        "--figures",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "FIGURES.json"),
        help="add a benchmark's JSON line (or a report.json) to the record's evaluation first",
    )
    p.set_defaults(run=run_card)


def run_card(args: argparse.Namespace) -> int:
    from darekana.train.card import add_figures, write_card

    network = Path(args.network)
    for name, path in args.figures:
        add_figures(network, name, _figures(Path(path)))
    print(f"model card written to {write_card(network)}")
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


def _fit(train: Commands) -> None:
    fit = FitConfig()
    p = train.add_parser(
        "fit", help="make a bundle from folders of faces: on the shipped base network (minutes), or fine-tuned"
    )
    faces_argument(p)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--arch", choices=ARCHITECTURES, default=fit.arch)
    p.add_argument(
        "--pretrained",
        default=fit.pretrained,
        help="torchvision weights URL, a local .pth, 'none', or 'auto' (the offline ImageNet trunk of --arch)",
    )
    p.add_argument(
        "--network",
        default=fit.network,
        metavar="FILE.onnx",
        help="base network to build on ('train base'): 'auto' (the shipped one, when present), a file, or "
        "'none' (fine-tune --pretrained instead)",
    )
    p.add_argument(
        "--finetune",
        action="store_true",
        help="fine-tune the base network too (minutes to hours), instead of fitting only what sits on it",
    )
    add_serving_arguments(p, fit)
    p.add_argument("--img-size", type=int, default=fit.img_size, help="0: the base network's (128 without one)")
    _training_arguments(p, fit.finetune)
    _fit_data_arguments(p, fit)
    p.set_defaults(run=run_fit)


def _fit_data_arguments(p: argparse.ArgumentParser, fit: FitConfig) -> None:
    p.add_argument("--aliases", metavar="JSON", help='names to merge: {"miku": "hatsune_miku", ...}')
    p.add_argument(
        "--test-split-of",
        metavar="BUNDLE",
        help="keep this earlier bundle's test faces as the test set, so the two compare fairly",
    )
    p.add_argument(
        "--detector",
        choices=(FACEBOXES, ANIMEFACE),
        default=fit.detector,
        help="face detector the bundle uses and measures its crop framing with",
    )
    p.add_argument(
        "--detector-model",
        metavar="FILE.onnx",
        help="a FaceBoxes model from 'train detector' (default: the one darekana ships)",
    )


def run_fit(args: argparse.Namespace) -> int:
    from darekana.recognizer.layout import REPORT_FOLDER
    from darekana.train.data import load_aliases
    from darekana.train.fit import fit

    config = FitConfig(
        arch=args.arch,
        pretrained=args.pretrained,
        network=args.network,
        finetune_network=args.finetune,
        int8=args.int8,
        mirror=args.mirror,
        img_size=args.img_size,
        aliases=load_aliases(args.aliases) if args.aliases else {},
        test_split_of=args.test_split_of,
        detector=args.detector,
        detector_model=args.detector_model,
        finetune=_training(args, FitConfig().finetune),
    )
    result = fit(args.data, args.out, config)
    r = result.report
    print(
        f"bundle written to {result.bundle}: test top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f} on {r['n']} "
        f"faces; report in {result.bundle / REPORT_FOLDER / 'report.md'}"
    )
    return 0


def _detector(train: Commands) -> None:
    det = DetectorTrainConfig()
    p = train.add_parser(
        "detector",
        help="fine-tune the FaceBoxes head detector on pictures with Pascal VOC "
        "boxes; writes it, or the shared weights if they score better",
    )
    p.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="folder of pictures with VOC .xml boxes (side by side, or pictures/ beside boxes/ as in paperface-heads)",
    )
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="detector to write (report in FILE.onnx.report/)")
    p.add_argument("--epochs", type=int, default=det.epochs)
    p.add_argument("--batch-size", type=int, default=det.batch_size)
    p.add_argument("--size", type=int, default=det.size, help="side of the square training views")
    p.add_argument("--lr", type=float, default=det.lr)
    p.add_argument("--seed", type=int, default=det.seed)
    p.set_defaults(run=run_detector)


def run_detector(args: argparse.Namespace) -> int:
    from darekana.train.detector import train_detector

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


def _study(train: Commands) -> None:
    study = StudyConfig()
    p = train.add_parser("study", help="re-run the Guan & Ge study (three strategies) on a folder of faces")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", default=str(Path("runs/study")), help="where results.json, report.md/html and plots go")
    p.add_argument("--quick", action="store_true", help="small grids, few epochs: minutes on a 2-core CPU")
    p.add_argument("--backbone", choices=ARCHITECTURES, default=study.backbone, help="strategy 2's feature network")
    p.add_argument(
        "--pretrained",
        default=study.pretrained,
        help="weights for the networks: URL, .pth, 'none', or 'auto' (torchvision weights when "
        "cached locally; the offline MobileNetV2 trunk stands in for strategy 2)",
    )
    p.add_argument(
        "--archs",
        nargs="*",
        choices=FINETUNE_ARCHS,
        default=list(study.finetune_archs),
        help="networks to fine-tune with the study's recipe (none: skip strategy 3)",
    )
    p.add_argument("--epochs", type=int, help="study recipe epochs (default 25, 2 with --quick)")
    p.add_argument("--device", default=study.device, help=DEVICE_HELP)
    p.set_defaults(run=run_study)


def run_study(args: argparse.Namespace) -> int:
    from darekana.train.study import run_study as study

    config = StudyConfig(
        quick=args.quick,
        backbone=args.backbone,
        pretrained=args.pretrained,
        finetune_archs=tuple(args.archs),
        epochs=args.epochs or 0,
        device=args.device,
    )
    results = study(args.data, args.out, config)
    print(f"study finished in {results['seconds']:.0f} s: {Path(args.out) / 'report.md'}")
    return 0


def _evaluate(train: Commands) -> None:
    p = train.add_parser("evaluate", help="score a bundle on folders of faces or pictures")
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--pictures", action="store_true", help="files are whole pictures: detect faces first")
    p.add_argument("--report", metavar="DIR", help="also write report.md, report.json and confusion.png here")
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from darekana.train.evaluate import evaluate
    from darekana.train.report import markdown, write_report

    figures = evaluate(args.bundle, args.data, pictures=args.pictures)
    title = f"{args.bundle} on {', '.join(args.data)}"
    if args.report:
        write_report(figures, Path(args.report), title)
    print(json.dumps(figures, ensure_ascii=False) if args.json else markdown(figures, title))
    return 0


def _compare(train: Commands) -> None:
    p = train.add_parser(
        "compare",
        help="gate a promotion: score OLD and NEW on the same faces; exit 1 when NEW is worse beyond the tolerance",
    )
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("data", nargs="+", metavar="DATA", help="folders of faces, ideally ones neither bundle trained on")
    p.add_argument(
        "--tolerance", type=float, default=COMPARE_TOLERANCE, help="largest loss accepted in any gated figure"
    )
    p.add_argument(
        "--test-split-of", metavar="BUNDLE", help="score only this bundle's test-split faces of DATA (usually OLD)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from darekana.train.compare import compare, table

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


def _enroll(train: Commands) -> None:
    p = train.add_parser(
        "enroll",
        help="add characters, or faces of known ones, to a bundle in seconds "
        "(fallback and class centres only; the network is kept)",
    )
    p.add_argument("bundle", metavar="BUNDLE")
    faces_argument(p)
    p.add_argument("--out", required=True, help="bundle directory to write (may not be BUNDLE)")
    p.set_defaults(run=run_enroll)


def run_enroll(args: argparse.Namespace) -> int:
    from darekana.train.enroll import EnrollError, enroll

    if Path(args.out).resolve() == Path(args.bundle).resolve():
        print("darekana: --out must differ from BUNDLE: the bundle being read is not overwritten", file=sys.stderr)
        return 2
    try:
        result = enroll(args.bundle, args.data, args.out)
    except EnrollError as exc:
        print(f"darekana: {exc}", file=sys.stderr)
        return 2
    r = result.report
    print(
        f"bundle written to {result.bundle}: added {', '.join(result.added) or 'none'}; more faces of "
        f"{', '.join(result.extended) or 'none'}; known test faces top-1 {r['top1']:.4f} on {r['n']}"
    )
    return 0
