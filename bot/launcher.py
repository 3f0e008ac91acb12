"""The ``darekana`` command: every package's subcommands under one entry point.

Bad input ends with a one-line message and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from dotenv import load_dotenv
from sqlalchemy.exc import SQLAlchemyError

from recognizer import cli as recognizer_cli
from recognizer.bundle import BundleError
from recognizer.images import ImageError
from train import cli as train_cli

from . import bundles, serve
from .adapters import twitter_state


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="darekana", description="Who could it be? Name anime characters in pictures.")
    commands = p.add_subparsers(dest="command", required=True)
    recognizer_cli.register(commands)
    train_cli.register(commands)
    serve.register(commands)
    bundles.register(commands)
    twitter_state.register(commands)
    return p


def main(argv: list[str] | None = None) -> int:
    load_dotenv(".env", override=False)  # the environment wins over .env
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (BundleError, ImageError, FileNotFoundError, ValueError) as exc:
        print(f"darekana: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        print(f"darekana: database error: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("darekana: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
