"""The ``darekana`` command: every subcommand, built here, each one's code imported only when it runs, so
``serve``, ``recognize``, ``db`` and ``bundle`` never load torch (``tests/test_cli.py`` checks).

Defaults come from where they are kept (``darekana.train.configs``, ``darekana.bot.settings``), not from here.
Bad input ends with a one-line message and status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

from dotenv import load_dotenv

from darekana.bot.settings import DEFAULT_CURRENT
from darekana.recognizer.detect import ANIMEFACE, FACEBOXES
from darekana.train.configs import (
    ARCHITECTURES,
    FINETUNE_ARCHS,
    HEADS,
    BaseConfig,
    DetectorTrainConfig,
    FinetuneConfig,
    FitConfig,
    HeadConfig,
    StudyConfig,
    TagConfig,
)

Run = Callable[[argparse.Namespace], int]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="darekana", description="Who could it be? Name anime characters in pictures.")
    commands = p.add_subparsers(dest="command", required=True)
    _recognize(commands)
    _train(
        commands.add_parser("train", help="make and score model bundles").add_subparsers(
            dest="train_command", required=True
        )
    )
    _tag(commands)
    _serve(commands)
    _bundle(commands)
    twitter = commands.add_parser(
        "twitter",
        help="the X (Twitter) poller's state",
        description="Reads the database only: no call to X (each one is billed).",
    )
    twitter.add_argument(
        "action", choices=["status"], help="status: posting budget used, last since_id, recent problems"
    )
    twitter.set_defaults(run="darekana.bot.twitter.state:run_status")
    return p


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from darekana.recognizer.errors import BundleError
    from darekana.recognizer.images import ImageError

    load_dotenv(".env", override=False)  # the environment wins over .env
    args = parser().parse_args(argv)
    try:
        return _load(args.run)(args)
    except (BundleError, ImageError, FileNotFoundError, ValueError) as exc:
        print(f"darekana: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"darekana: database error: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("darekana: interrupted", file=sys.stderr)
        return 130


def _load(target: str | Run) -> Run:
    """``"package.module:function"`` imported now: a subcommand's code loads only when it runs."""
    if callable(target):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def run_recognize(args: argparse.Namespace) -> int:
    import json

    from darekana.bot.settings import Settings
    from darekana.recognizer.annotate import annotate
    from darekana.recognizer.describe import describe
    from darekana.recognizer.detect import MULTI_SCALE
    from darekana.recognizer.engine import Recognizer, recognition_to_dict
    from darekana.recognizer.images import ImageError, load_image

    recognizer = Recognizer(
        args.bundle or Settings.from_env().bundle,
        top_k=args.top_k,
        detection={"scales": MULTI_SCALE} if args.multi_scale else None,
    )
    failed = 0
    for index, picture in enumerate(args.pictures, start=1):
        try:
            image = load_image(picture)
        except ImageError as exc:
            print(f"darekana: {picture}: {exc}", file=sys.stderr)
            failed += 1
            continue
        result = recognizer.recognize(image)
        if args.annotate:
            annotate(image, result).save(_annotation_path(args.annotate, index, len(args.pictures)))
        if args.json:
            print(json.dumps({"picture": picture, **recognition_to_dict(result)}, ensure_ascii=False))
        else:
            print(f"{picture}:")
            print("\n".join(f"  {line}" for line in describe(result)))
    return 1 if failed else 0


def _annotation_path(out: str, index: int, count: int) -> Path:
    path = Path(out)
    return path if count == 1 else path.with_name(f"{path.stem}-{index}{path.suffix or '.png'}")


def _recognize(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("recognize", help="name the anime characters in pictures")
    p.add_argument("pictures", nargs="+", metavar="PICTURE")
    _bundle_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per picture")
    p.add_argument("--annotate", metavar="OUT.png", help="write the picture with numbered boxes and names")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument(
        "--multi-scale",
        action="store_true",
        help="also detect at twice and half the size: small heads and close-ups, several times slower",
    )
    p.set_defaults(run=run_recognize)


def run_tag(args: argparse.Namespace) -> int:
    from darekana.bot.settings import Settings
    from darekana.train.tagging.command import run

    args.bundle = args.bundle or Settings.from_env().bundle
    return run(args)


def _tag(commands: argparse._SubParsersAction) -> None:
    tag = TagConfig()
    p = commands.add_parser(
        "tag",
        help="name the characters of a whole collection into a tag file (resumable; parallel; Ray)",
        description="Pictures already in OUT from the same bytes and bundle are skipped, so the same command "
        "resumes an interrupted run. See TagConfig for the defaults.",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="pictures, folders (recursively), or lists of paths (.txt, or - for stdin)",
    )
    p.add_argument("--out", required=True, metavar="OUT", help="tag file: .jsonl, .csv or .parquet")
    _bundle_option(p)
    p.add_argument("--workers", type=int, default=tag.workers, help="processes, or Ray actors (default: one a core)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        metavar="ADDRESS",
        help="run on Ray: 'local' starts a cluster here; an address (or none: auto) joins one",
    )
    p.add_argument("--chunk", type=int, default=tag.chunk, help="pictures a worker takes at once")
    p.add_argument("--top-k", type=int, default=tag.top_k)
    p.add_argument(
        "--whole-picture",
        action="store_true",
        help="classify a picture with no face found as one face (folders of face crops)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(run=run_tag)


def add_head_arguments(p: argparse.ArgumentParser) -> None:
    """The classification head's options (``HeadConfig``), read back by ``darekana.train.commands.head_config``."""
    head = HeadConfig()
    p.add_argument("--head", choices=HEADS, default=head.kind, help="classification head (see HeadConfig)")
    p.add_argument("--scale", type=float, default=head.scale, help="cosine heads: logit scale")
    p.add_argument("--margin", type=float, default=head.margin, help="cosine heads: margin, training only")
    p.add_argument(
        "--projection", type=int, default=head.projection, help="embedding width before a cosine head (0: none)"
    )


def _train_base(train: argparse._SubParsersAction) -> None:
    base = BaseConfig()
    p = train.add_parser(
        "base",
        help="train the embedding network bundles are built on (hours; resumable: run it again to continue)",
    )
    _faces_argument(p)
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="network to write (record in FILE.json)")
    p.add_argument("--arch", choices=ARCHITECTURES, default=base.arch)
    p.add_argument("--pretrained", default=base.pretrained, help="a local .pth, 'none', or 'auto' (MobileNetV2 trunk)")
    p.add_argument("--epochs", type=int, default=base.finetune.epochs)
    p.add_argument("--img-size", type=int, default=base.img_size)
    p.add_argument("--batch-size", type=int, default=base.finetune.batch_size)
    p.add_argument("--lr", type=float, default=base.finetune.lr)
    p.add_argument("--seed", type=int, default=base.finetune.seed, help="the training's seed (the split's is fixed)")
    p.add_argument(
        "--hold-out",
        nargs="+",
        default=list(base.hold_out),
        metavar="CHARACTER",
        help="characters left out of training, to measure it on characters it never saw",
    )
    p.add_argument("--until", type=int, metavar="EPOCH", help="stop after this epoch; the same command continues")
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when a GPU is there)")
    p.set_defaults(run="darekana.train.commands:run_base")

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
    p.set_defaults(run="darekana.train.commands:run_card")


def _train(train: argparse._SubParsersAction) -> None:
    _train_base(train)
    fit, tune = FitConfig(), FinetuneConfig()
    p = train.add_parser(
        "fit", help="make a bundle from folders of faces: on the shipped base network (minutes), or fine-tuned"
    )
    _faces_argument(p)
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--arch", choices=ARCHITECTURES, default=fit.arch)
    p.add_argument(
        "--pretrained",
        default=fit.pretrained,
        help="torchvision weights URL, a local .pth, 'none', or 'auto' (offline MobileNetV2 trunk)",
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
    p.add_argument("--epochs", type=int, default=tune.epochs, help="when fine-tuning")
    p.add_argument("--img-size", type=int, default=fit.img_size, help="0: the base network's (128 without one)")
    p.add_argument("--batch-size", type=int, default=tune.batch_size)
    p.add_argument("--lr", type=float, default=tune.lr)
    p.add_argument("--seed", type=int, default=tune.seed)
    add_head_arguments(p)
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto (cuda when a GPU is there)")
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
    p.set_defaults(run="darekana.train.commands:run_fit")

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
    p.set_defaults(run="darekana.train.commands:run_detector")

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
    p.add_argument("--device", default="auto", help="cpu, cuda, or auto")
    p.set_defaults(run="darekana.train.commands:run_study")

    p = train.add_parser("evaluate", help="score a bundle on folders of faces or pictures")
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("data", nargs="+", metavar="DATA")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--pictures", action="store_true", help="files are whole pictures: detect faces first")
    p.add_argument("--report", metavar="DIR", help="also write report.md, report.json and confusion.png here")
    p.set_defaults(run="darekana.train.commands:run_evaluate")

    p = train.add_parser(
        "compare",
        help="gate a promotion: score OLD and NEW on the same faces; exit 1 when NEW is worse beyond the tolerance",
    )
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("data", nargs="+", metavar="DATA", help="folders of faces, ideally ones neither bundle trained on")
    p.add_argument("--tolerance", type=float, default=0.01, help="largest loss accepted in any gated figure")
    p.add_argument(
        "--test-split-of", metavar="BUNDLE", help="score only this bundle's test-split faces of DATA (usually OLD)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run="darekana.train.commands:run_compare")

    p = train.add_parser(
        "enroll",
        help="add characters, or faces of known ones, to a bundle in seconds "
        "(fallback and class centres only; the network is kept)",
    )
    p.add_argument("bundle", metavar="BUNDLE")
    _faces_argument(p)
    p.add_argument("--out", required=True, help="bundle directory to write (may not be BUNDLE)")
    p.set_defaults(run="darekana.train.commands:run_enroll")


def _bundle_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", help=f"model bundle directory (default $DAREKANA_BUNDLE or {DEFAULT_CURRENT})")


def _faces_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="folder with one sub-folder of face crops per character, or a zip of them (correction export)",
    )


def _serve(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "serve",
        help="run the HTTP API and page, and Discord and X when configured",
        description="Settings come from DAREKANA_* variables (see .env.example).",
    )
    p.add_argument("--host", help="overrides DAREKANA_HTTP_HOST")
    p.add_argument("--port", type=int, help="overrides DAREKANA_HTTP_PORT")
    p.set_defaults(run="darekana.bot.serve:run_serve")
    p = commands.add_parser("db", help="migrate the database (DAREKANA_DATABASE_URL)")
    p.add_argument("action", choices=["upgrade", "downgrade", "current"])
    p.add_argument("revision", nargs="?", help="target revision (upgrade: head by default)")
    p.set_defaults(run="darekana.bot.serve:run_db")


def _bundle(commands: argparse._SubParsersAction) -> None:
    bundle = commands.add_parser("bundle", help="promote a bundle to the one the bot answers with").add_subparsers(
        dest="bundle_command", required=True
    )
    p = bundle.add_parser("promote", help="check NEW loads, then point the current link at it atomically")
    p.add_argument("new", metavar="NEW", help="bundle directory (check it first: darekana train compare)")
    p.add_argument("--current", type=Path, default=DEFAULT_CURRENT, help="the link to re-point")
    p.set_defaults(run="darekana.bot.bundles:run_promote")
    p = bundle.add_parser("current", help="print the bundle the current link points at")
    p.add_argument("--current", type=Path, default=DEFAULT_CURRENT)
    p.set_defaults(run="darekana.bot.bundles:run_current")


if __name__ == "__main__":
    sys.exit(main())
