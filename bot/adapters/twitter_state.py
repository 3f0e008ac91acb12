"""What the X poller remembers between runs, in the database's cursors table, and ``darekana twitter
status``, which prints it. Nothing here talks to X (or imports tweepy): the status costs no API call.

* ``twitter:since_id``: the newest mention handled, so that a restart neither misses nor repeats one;
* ``twitter:polled_at``: when the mentions were last read;
* ``twitter:error:1`` … ``:5``: the latest problems, oldest overwritten first ("ISO time message").

The posting budget is counted from the answers table (every post the bot made or claimed), so it holds
across restarts and across processes sharing the database.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..settings import Settings
from ..storage import Store, open_database

PLATFORM = "twitter"
SINCE_ID = "twitter:since_id"
POLLED_AT = "twitter:polled_at"
ERROR_SLOTS = tuple(f"twitter:error:{n}" for n in range(1, 6))
CURSOR_LENGTH = 200  # the cursors table's value column
CREDENTIALS = ("twitter_consumer_key", "twitter_consumer_secret", "twitter_access_token",
               "twitter_access_token_secret")


def configured(settings: Settings) -> bool:
    """True when the X poller should run: all four user credentials set (posting needs them). Some but
    not all is a mistake worth stopping for rather than a silently absent bot."""
    given = [name for name in CREDENTIALS if getattr(settings, name)]
    if given and len(given) < len(CREDENTIALS):
        missing = ", ".join(f"DAREKANA_{name.upper()}" for name in CREDENTIALS if name not in given)
        raise ValueError(f"X (Twitter) is half configured: set {missing} too, or unset them all")
    if given and (settings.twitter_poll_seconds <= 0 or min(settings.twitter_replies_per_hour,
                                                            settings.twitter_replies_per_day) < 0):
        raise ValueError("DAREKANA_TWITTER_POLL_SECONDS must be positive and the reply budgets at least 0")
    return bool(given)


@dataclass(frozen=True)
class Budget:
    hour: int  # posts in the last hour
    day: int  # posts in the last 24 hours
    per_hour: int
    per_day: int

    @property
    def left(self) -> int:
        return max(0, min(self.per_hour - self.hour, self.per_day - self.day))


class TwitterState:
    """Blocking (the database): the poller calls these through ``asyncio.to_thread``."""

    def __init__(self, store: Store, settings: Settings):
        self.store, self.settings = store, settings

    def since_id(self) -> str | None:
        return self.store.cursor(SINCE_ID)

    def advance(self, tweet_id: str) -> None:
        """Moves ``since_id`` forward to ``tweet_id``; never back (tweet ids grow with time)."""
        current = self.since_id()
        if current is None or int(tweet_id) > int(current):
            self.store.set_cursor(SINCE_ID, tweet_id)

    def polled(self) -> None:
        self.store.set_cursor(POLLED_AT, _now().isoformat(timespec="seconds"))

    def polled_at(self) -> str | None:
        return self.store.cursor(POLLED_AT)

    def budget(self) -> Budget:
        now = _now()
        hour = self.store.answers_since(PLATFORM, now - timedelta(hours=1))
        day = self.store.answers_since(PLATFORM, now - timedelta(days=1))
        return Budget(hour, day, self.settings.twitter_replies_per_hour, self.settings.twitter_replies_per_day)

    def note(self, message: str) -> None:
        """Keeps ``message`` among the latest problems, in the emptiest or oldest slot."""
        values = {slot: self.store.cursor(slot) or "" for slot in ERROR_SLOTS}
        slot = min(ERROR_SLOTS, key=lambda name: values[name])  # "" first, then the oldest timestamp
        self.store.set_cursor(slot, f"{_now().isoformat(timespec='seconds')} {message}"[:CURSOR_LENGTH])

    def problems(self) -> list[str]:
        """The latest problems, newest first."""
        found = [self.store.cursor(slot) for slot in ERROR_SLOTS]
        return sorted((value for value in found if value), reverse=True)


def _now() -> datetime:
    return datetime.now(UTC)


def status_text(state: TwitterState, settings: Settings) -> str:
    budget = state.budget()
    try:
        on = "on" if configured(settings) else "off (the DAREKANA_TWITTER_* credentials are not set)"
    except ValueError as exc:  # the state is worth showing all the same
        on = f"off: {exc}"
    lines = [f"X poller: {on}",
             (f"posts: {budget.hour}/{budget.per_hour} in the last hour, {budget.day}/{budget.per_day} "
              "in the last 24 hours"),
             f"since_id: {state.since_id() or 'none yet'} (mentions last read: {state.polled_at() or 'never'})"]
    problems = state.problems()
    lines.append("recent problems:" if problems else "recent problems: none")
    lines.extend(f"  {problem}" for problem in problems)
    return "\n".join(lines)


def register(commands: argparse._SubParsersAction) -> None:
    twitter = commands.add_parser("twitter", help="the X (Twitter) poller's state",
                                  description="Reads the database only: no call to X (each one is billed).")
    twitter.add_argument("action", choices=["status"],
                         help="status: posting budget used, last since_id, recent problems")
    twitter.set_defaults(run=run_status)


def run_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    engine = open_database(settings.database_url)
    try:
        print(status_text(TwitterState(Store(engine), settings), settings))
    finally:
        engine.dispose()
    return 0
