"""Every server's own characters as the service answers with them (``darekana.bot.server_characters``),
kept in step with the store and with the serving bundle.

One lock keeps one change at a time: an enrolment or removal, a refresh from the store, a new bundle. The
galleries are built off the event loop (embedding takes seconds) and swapped in whole, so an answer in
flight sees a server's old characters or its new ones, never half of them.
"""

from __future__ import annotations

import asyncio

from darekana.recognizer.engine import Recognizer
from darekana.recognizer.extra import ExtraCharacters

from .server_characters import SERVER_PLATFORM, Galleries, build_extra
from .storage import Store


class ServerGalleries:
    def __init__(self, store: Store, recognizer: Recognizer):
        """Builds every server's gallery for ``recognizer`` (blocks: embeds every stored crop)."""
        self.lock = asyncio.Lock()
        self._store = store
        self.current = Galleries.build(recognizer, store.server_characters(SERVER_PLATFORM))
        self._held = _held(recognizer)
        # which server characters each server's gallery was built from: another process sharing the database
        # (PostgreSQL) may add or remove some, and ``refresh`` notices
        self._ids = store.server_character_ids(SERVER_PLATFORM)

    def of(self, guild_id: str | None, recognizer: Recognizer) -> ExtraCharacters | None:
        """The characters a face asked about in ``guild_id`` may also be, for ``recognizer``'s network: for the
        instant of a bundle's swap the two may differ, and then none are asked."""
        current = self.current
        return current.of(guild_id) if current.network == recognizer.network else None

    def for_bundle(self, recognizer: Recognizer) -> Galleries:
        """The galleries a newly loaded bundle answers with: the same centres when it has the same network and
        characters, with thresholds chosen again on its own calibration faces (the bundle before it chose its
        own, and may have measured distances another way); else every server's crops embedded again (another
        network's embeddings mean nothing to this one, and a character the bundle now holds takes its id).
        Blocks."""
        if recognizer.network == self.current.network and _held(recognizer) == self._held:
            return self.current.rethresholded(recognizer)
        return Galleries.build(recognizer, self._store.server_characters(SERVER_PLATFORM))

    def use(self, galleries: Galleries, recognizer: Recognizer) -> None:
        """Answers with ``galleries``, built by :meth:`for_bundle` for ``recognizer`` (the lock held)."""
        self.current, self._held = galleries, _held(recognizer)

    async def rebuild(self, guild: str, recognizer: Recognizer) -> None:
        """Embeds one server's own characters again from the store (the lock held)."""

        def work() -> tuple[ExtraCharacters | None, tuple[int, ...]]:
            ids = self._store.server_character_ids(SERVER_PLATFORM, guild).get(guild, ())
            characters = self._store.server_characters(SERVER_PLATFORM, guild)
            return (build_extra(recognizer, characters) if characters else None), ids

        extra, ids = await asyncio.to_thread(work)
        self.current = self.current.with_guild(guild, extra)
        self._ids = {g: i for g, i in self._ids.items() if g != guild} | ({guild: ids} if ids else {})

    async def refresh(self, recognizer: Recognizer) -> int:
        """Rebuilds the galleries of the servers whose own characters changed in the store since they were
        built (by another process sharing the database); returns how many. One small query when nothing did."""
        async with self.lock:
            stored = await asyncio.to_thread(self._store.server_character_ids, SERVER_PLATFORM)
            changed = sorted(g for g in stored.keys() | self._ids.keys() if stored.get(g) != self._ids.get(g))
            for guild in changed:
                await self.rebuild(guild, recognizer)
            return len(changed)

    async def drop(self, guilds: list[str]) -> None:
        """The servers whose data was purged, with their own characters: they answer nowhere now."""
        async with self.lock:
            for guild in guilds:
                self.current = self.current.with_guild(guild, None)
                self._ids.pop(guild, None)


def _held(recognizer: Recognizer) -> frozenset[str]:
    """The bundle's label ids: a server character the bundle holds takes its id (answered once)."""
    return frozenset(label.id for label in recognizer.manifest.labels)
