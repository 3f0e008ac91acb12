"""``darekana recognize PICTURE... [--bundle DIR] [--json] [--annotate OUT.png]``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .annotate import annotate
from .bundle import BundleError
from .describe import describe
from .detect import MULTI_SCALE
from .engine import Recognizer, recognition_to_dict
from .images import ImageError, load_image

DEFAULT_BUNDLE = "models/animeface-10"


def default_bundle() -> str:
    return os.environ.get("DAREKANA_BUNDLE", DEFAULT_BUNDLE)


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("recognize", help="name the anime characters in pictures")
    p.add_argument("pictures", nargs="+", metavar="PICTURE")
    p.add_argument("--bundle", default=None, help=f"model bundle directory (default $DAREKANA_BUNDLE or {DEFAULT_BUNDLE})")
    p.add_argument("--json", action="store_true", help="print one JSON object per picture")
    p.add_argument("--annotate", metavar="OUT.png", help="write the picture with numbered boxes and names")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--multi-scale", action="store_true",
                   help="also detect at twice and half the size: small heads and close-ups, several times slower")
    p.set_defaults(run=run)


def _annotation_path(out: str, index: int, count: int) -> Path:
    path = Path(out)
    return path if count == 1 else path.with_name(f"{path.stem}-{index}{path.suffix or '.png'}")


def run(args: argparse.Namespace) -> int:
    try:
        recognizer = Recognizer(args.bundle or default_bundle(), top_k=args.top_k,
                                detection={"scales": MULTI_SCALE} if args.multi_scale else None)
    except BundleError as exc:
        print(f"darekana: {exc}", file=sys.stderr)
        return 2
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
