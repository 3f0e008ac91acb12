"""What a platform's poller remembers between runs, in the database's cursors table, and what it may still
post. Platforms whose posts are billed (X) read their mentions every few minutes instead of being told of
them; this is their memory (one per platform, ``<platform>:...`` cursors):

* ``since_id``: the newest mention handled, so that a restart neither misses nor repeats one;
* ``polled_at``: when the mentions were last read;
* ``error:1`` … ``:5``: the latest problems, oldest overwritten first ("ISO time message").

The posting budget is counted from the answers table (every post the bot made or claimed), so it holds
across restarts and across processes sharing the database. Every method blocks (the database): pollers
call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .storage import Store, open_database

ERROR_SLOTS = 5
CURSOR_LENGTH = 200  # the cursors table's value column


@dataclass(frozen=True)
class Budget:
    hour: int  # posts in the last hour
    day: int  # posts in the last 24 hours
    per_hour: int
    per_day: int

    @property
    def left(self) -> int:
        return max(0, min(self.per_hour - self.hour, self.per_day - self.day))


class PollState:
    def __init__(self, store: Store, platform: str, per_hour: int, per_day: int):
        self.store, self.platform, self.per_hour, self.per_day = store, platform, per_hour, per_day
        self._since_id, self._polled_at = f"{platform}:since_id", f"{platform}:polled_at"
        self._slots = tuple(f"{platform}:error:{n}" for n in range(1, ERROR_SLOTS + 1))

    def since_id(self) -> str | None:
        return self.store.cursor(self._since_id)

    def advance(self, post_id: str) -> None:
        """Moves ``since_id`` forward to ``post_id``; never back (post ids grow with time)."""
        current = self.since_id()
        if current is None or int(post_id) > int(current):
            self.store.set_cursor(self._since_id, post_id)

    def polled(self) -> None:
        self.store.set_cursor(self._polled_at, _now().isoformat(timespec="seconds"))

    def polled_at(self) -> str | None:
        return self.store.cursor(self._polled_at)

    def budget(self) -> Budget:
        now = _now()
        hour = self.store.answers_since(self.platform, now - timedelta(hours=1))
        day = self.store.answers_since(self.platform, now - timedelta(days=1))
        return Budget(hour, day, self.per_hour, self.per_day)

    def note(self, message: str) -> None:
        """Keeps ``message`` among the latest problems, in the emptiest or oldest slot."""
        values = {slot: self.store.cursor(slot) or "" for slot in self._slots}
        slot = min(self._slots, key=lambda name: values[name])  # "" first, then the oldest timestamp
        self.store.set_cursor(slot, f"{_now().isoformat(timespec='seconds')} {message}"[:CURSOR_LENGTH])

    def problems(self) -> list[str]:
        """The latest problems, newest first."""
        found = [self.store.cursor(slot) for slot in self._slots]
        return sorted((value for value in found if value), reverse=True)


@contextmanager
def stored_poll_state(database_url: str, platform: str, per_hour: int, per_day: int) -> Iterator[PollState]:
    """A platform's poll state read from the database without a service, whose start loads the bundle: for
    status commands, which only read it."""
    engine = open_database(database_url)
    try:
        yield PollState(Store(engine), platform, per_hour, per_day)
    finally:
        engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)
