"""``darekana serve`` (the HTTP API and page, Discord and X when configured) and ``darekana db``. Settings
come from ``DAREKANA_*`` variables (``darekana.bot.settings``); neither command loads torch."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import Commands

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from darekana.bot.settings import Settings


def add_commands(commands: Commands) -> None:
    p = commands.add_parser(
        "serve",
        help="run the HTTP API and page, and Discord and X when configured",
        description="Settings come from DAREKANA_* variables (see .env.example).",
    )
    p.add_argument("--host", help="overrides DAREKANA_HTTP_HOST")
    p.add_argument("--port", type=int, help="overrides DAREKANA_HTTP_PORT")
    p.set_defaults(run=run_serve)
    p = commands.add_parser(
        "db",
        help="migrate the database (DAREKANA_DATABASE_URL), or sweep it",
        description="sweep: delete now what is past DAREKANA_RETENTION_DAYS and DAREKANA_GUILD_GRACE_DAYS, "
        "as `darekana serve` does every DAREKANA_SWEEP_INTERVAL_S, and print what was deleted.",
    )
    p.add_argument("action", choices=["upgrade", "downgrade", "current", "sweep"])
    p.add_argument("revision", nargs="?", help="target revision (upgrade: head by default)")
    p.set_defaults(run=run_db)


def run_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from darekana.bot.serve import serve
    from darekana.bot.settings import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    overrides = {k: v for k, v in {"http_host": args.host, "http_port": args.port}.items() if v is not None}
    asyncio.run(serve(Settings(**{**settings.__dict__, **overrides})))
    return 0


def run_db(args: argparse.Namespace) -> int:
    from darekana.bot.settings import Settings
    from darekana.bot.storage import current_revision, downgrade, open_database, upgrade

    settings = Settings.from_env()
    engine = open_database(settings.database_url)
    try:
        if args.action == "sweep":
            print(_sweep(engine, settings))
            return 0
        if args.action == "upgrade":
            upgrade(engine, args.revision or "head")
        elif args.action == "downgrade":
            if not args.revision:
                raise ValueError("downgrade needs a revision (base for an empty database)")
            downgrade(engine, args.revision)
        print(f"database at revision {current_revision(engine) or 'base (empty)'}")
    finally:
        engine.dispose()
    return 0


def _sweep(engine: Engine, settings: Settings) -> str:
    """The retention sweep on ``engine``'s database, which must be migrated (the sweep never migrates)."""
    import asyncio
    from datetime import UTC, datetime

    from darekana.bot.retention import sweep
    from darekana.bot.storage import Store, current_revision, head_revision

    found, head = current_revision(engine), head_revision()
    if found != head:
        at = found or "base (empty)"
        raise ValueError(f"the database is at revision {at}, not {head}: run `darekana db upgrade` first")
    return asyncio.run(sweep(Store(engine), settings, datetime.now(UTC))).text
