"""``darekana twitter status``: the X poller's state, read from the database only (every call to X is billed)."""

from __future__ import annotations

import argparse

from .common import Commands


def add_commands(commands: Commands) -> None:
    twitter = commands.add_parser(
        "twitter",
        help="the X (Twitter) poller's state",
        description="Reads the database only: no call to X (each one is billed).",
    )
    twitter.add_argument(
        "action", choices=["status"], help="status: posting budget used, last since_id, recent problems"
    )
    twitter.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    from darekana.bot.polling import stored_poll_state
    from darekana.bot.settings import Settings
    from darekana.bot.twitter.state import PLATFORM, reply_budget, status_text

    settings = Settings.from_env()
    with stored_poll_state(settings.database_url, PLATFORM, *reply_budget(settings)) as state:
        print(status_text(state, settings))
    return 0
