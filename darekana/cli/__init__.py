"""The ``darekana`` command. Each command group is a module here holding its arguments and the functions
that run them; a command's code is imported only when it runs, so ``serve``, ``recognize``, ``tag``, ``db``
and ``bundle`` never load torch (``tests/test_cli.py`` checks).

Defaults come from where they are kept (the config dataclasses of ``darekana.train.configs`` and
``darekana.tag.config``, ``darekana.bot.settings``, ``darekana.recognizer``), not from here. Bad input ends
with a one-line message and status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from dotenv import load_dotenv

from . import bundle, recognize, serve, tag, train, twitter

GROUPS = (recognize, train, tag, serve, bundle, twitter)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="darekana", description="Who could it be? Name anime characters in pictures.")
    commands = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(commands)
    return p


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from darekana.recognizer.errors import BundleError
    from darekana.recognizer.images import ImageError

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
