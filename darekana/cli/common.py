"""What several command groups share: options spelled once, and the type of a command's function."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from darekana.recognizer.layout import CURRENT_BUNDLE

Run = Callable[[argparse.Namespace], int]
Commands = argparse._SubParsersAction


def bundle_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", help=f"model bundle directory (default $DAREKANA_BUNDLE or {CURRENT_BUNDLE})")


def chosen_bundle(args: argparse.Namespace) -> Path:
    """``--bundle``, else the one the service would answer with (``DAREKANA_BUNDLE``, else the current link)."""
    from darekana.bot.settings import Settings

    return Path(args.bundle) if args.bundle else Settings.from_env().bundle


def faces_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="folder with one sub-folder of face crops per character, or a zip of them (correction export)",
    )
