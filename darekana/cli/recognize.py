"""``darekana recognize``: the characters in pictures, as text, JSON lines or annotated pictures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from darekana.recognizer.results import TOP_K

from .common import Commands, bundle_option, chosen_bundle


def add_commands(commands: Commands) -> None:
    p = commands.add_parser("recognize", help="name the anime characters in pictures")
    p.add_argument("pictures", nargs="+", metavar="PICTURE")
    bundle_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per picture")
    p.add_argument("--annotate", metavar="OUT.png", help="write the picture with numbered boxes and names")
    p.add_argument("--top-k", type=int, default=TOP_K)
    p.add_argument(
        "--multi-scale",
        action="store_true",
        help="also detect at twice and half the size: small heads and close-ups, several times slower",
    )
    p.set_defaults(run=run_recognize)


def run_recognize(args: argparse.Namespace) -> int:
    from darekana.recognizer.annotate import annotate
    from darekana.recognizer.describe import describe
    from darekana.recognizer.detect import MULTI_SCALE
    from darekana.recognizer.engine import Recognizer
    from darekana.recognizer.images import ImageError, load_image

    detection = {"scales": MULTI_SCALE} if args.multi_scale else None
    recognizer = Recognizer(chosen_bundle(args), top_k=args.top_k, detection=detection)
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
            print(json.dumps({"picture": picture, **result.to_dict()}, ensure_ascii=False))
        else:
            print(f"{picture}:")
            print("\n".join(f"  {line}" for line in describe(result)))
    return 1 if failed else 0


def _annotation_path(out: str, index: int, count: int) -> Path:
    path = Path(out)
    return path if count == 1 else path.with_name(f"{path.stem}-{index}{path.suffix or '.png'}")
