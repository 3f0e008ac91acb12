"""Keeping stored data only as long as it is useful: the sweep that ``darekana serve`` runs every
``sweep_interval_s`` and ``darekana db sweep`` runs by hand.

* Face crops nobody gave feedback on are deleted once the recognition is ``retention_days`` old (with 0 they
  are never stored). "Deleted" means blanked: ``faces.crop_png`` becomes empty and ``faces.crop_deleted_at``
  says when; the face row stays (where it was, what the bot said of it: no picture), so answers keep their
  Right / Wrong buttons and the counts stay true. A crop that feedback still needs is kept: a correction or
  confirmation waiting for review, an accepted one until an operator's export or an enrolment used it plus
  the window, a rejected one for the window after its review (a review may be changed).
* What was asked and said in a server the bot left (or that was deleted) is deleted once ``guild_grace_days``
  have passed, unless the bot is back by then.

Everything runs in bounded batches, each its own transaction, off the event loop (``asyncio.to_thread``,
never the recognition workers): answering goes on while a sweep runs, and a sweep killed midway leaves every
row still there whole.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from .records import Forgotten, Swept
from .settings import Settings
from .storage import Store

BATCH = 500  # rows a transaction deletes at most: short enough that writers waiting on SQLite barely notice


def crop_cutoff(settings: Settings, now: datetime) -> datetime:
    """Faces asked about before this have their crops deleted, unless feedback keeps them."""
    return now - timedelta(days=settings.retention_days)


async def sweep(store: Store, settings: Settings, now: datetime) -> Swept:
    """Deletes the crops past retention and the servers past their grace period."""
    cutoff = crop_cutoff(settings, now)
    crops = 0
    while deleted := await asyncio.to_thread(store.delete_old_crops, cutoff, now, BATCH):
        crops += deleted
    before = now - timedelta(days=settings.guild_grace_days)
    servers, purged = [], Forgotten()
    for platform, guild_id in await asyncio.to_thread(store.guilds_removed_before, before):
        gone = await purge_server(store, platform, guild_id, before)
        if gone is not None:
            servers.append(f"{platform}:{guild_id}")
            purged += gone
    return Swept(crops, tuple(servers), purged)


async def purge_server(store: Store, platform: str, guild_id: str, before: datetime) -> Forgotten | None:
    """Deletes what was asked and said in a server the bot left before ``before``; None when it is back."""
    total = Forgotten()
    while True:
        batch = await asyncio.to_thread(store.purge_guild_batch, platform, guild_id, before, BATCH)
        if batch is None:
            return None
        if not batch.rows:
            return total + await asyncio.to_thread(store.end_guild_purge, platform, guild_id, before)
        total += batch
