"""``darekana bundle``: which bundle the bot answers with (the current link), and promoting another."""

from __future__ import annotations

import argparse
from pathlib import Path

from darekana.recognizer.layout import CURRENT_BUNDLE

from .common import Commands


def add_commands(commands: Commands) -> None:
    bundle = commands.add_parser("bundle", help="promote a bundle to the one the bot answers with").add_subparsers(
        dest="bundle_command", required=True
    )
    p = bundle.add_parser("promote", help="check NEW loads, then point the current link at it atomically")
    p.add_argument("new", metavar="NEW", help="bundle directory (check it first: darekana train compare)")
    p.add_argument("--current", type=Path, default=CURRENT_BUNDLE, help="the link to re-point")
    p.set_defaults(run=run_promote)
    p = bundle.add_parser("current", help="print the bundle the current link points at")
    p.add_argument("--current", type=Path, default=CURRENT_BUNDLE)
    p.set_defaults(run=run_current)


def run_promote(args: argparse.Namespace) -> int:
    import os

    from darekana.bot.bundles import promote

    previous = os.path.realpath(args.current) if args.current.exists() else None
    recognizer = promote(args.new, args.current)
    was = f" (was {previous})" if previous else ""
    print(f"{args.current} -> {recognizer.path}: {recognizer.version}{was}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from darekana.bot.bundles import current_bundle

    recognizer = current_bundle(args.current)
    print(f"{args.current} -> {recognizer.path}: {recognizer.version}")
    return 0
