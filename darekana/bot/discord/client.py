"""The Discord client darekana runs: which gateway events it asks for, that no reply of it pings anyone,
and the command tree. What it answers is assembled by :func:`darekana.bot.discord.make_client`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands, ui

from ..service import Service
from ..settings import Settings


class Darekana(discord.AutoShardedClient):
    """Sharded as Discord recommends (``GET /gateway/bot``), or over the shards the settings give this process:
    Discord requires shards past 2,500 servers."""

    def __init__(
        self, service: Service, settings: Settings, *, sync_commands: bool, items: Sequence[Component]
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = intents.dm_messages = intents.message_content = True
        # Names people type end up in replies: no reply of ours may ping anyone.
        shard_count, shard_ids = settings.discord_shards()
        shards: dict[str, Any] = {"shard_count": shard_count} | ({"shard_ids": shard_ids} if shard_ids else {})
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **shards)
        self.service, self.settings, self.sync_commands, self.items = service, settings, sync_commands, items
        self.tree: app_commands.CommandTree[Darekana] = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        # Components carry their ids in custom_id: registered here, they work after a restart.
        self.add_dynamic_items(*self.items)
        # Commands are the application's, not a shard's: of processes sharing a bot, shard 0's registers them.
        if self.sync_commands and (self.shard_ids is None or 0 in self.shard_ids):
            await self.tree.sync()


Interaction = discord.Interaction[Darekana]
# What each feature module gives the client: its commands, and the components it must find after a restart.
AppCommand = app_commands.Command[Any, ..., Any] | app_commands.ContextMenu | app_commands.Group
Component = type[ui.DynamicItem[Any]]

# `/darekana ...`: the commands about the bot itself, to which features add theirs (watch mode, privacy).
# Not for servers only: privacy and forget work in direct messages too.
darekana_commands = app_commands.Group(name="darekana", description="darekana: watch mode, your data")
