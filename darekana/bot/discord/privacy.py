"""Your data on Discord. ``/darekana privacy`` says what is kept, for how long and who sees it (the service's
words, with the days this bot runs with); ``/darekana forget`` deletes everything the person ever sent or
said, once they confirm with a button only they can press. When the bot leaves a server (or the server is
deleted) the service is told, and what was asked there goes after the grace period, unless the bot is
back (joined again, or found there when it connects) before.
"""

from __future__ import annotations

import logging

import discord
from discord import ui

from .client import AppCommand, Component, Darekana, Interaction, darekana_commands
from .replies import PLATFORM, answering, clip, requester

log = logging.getLogger("darekana.discord")

CONFIRM_S = 300.0  # the confirmation's buttons work this long
QUESTION = (
    "This deletes everything you ever sent me or told me, in every server and in direct messages: the "
    "pictures you asked about (their faces and crops, and what anyone said of them), your corrections and "
    "confirmations, the names you proposed and the channels you set to watch mode. It cannot be undone."
)
NOT_YOURS = "Only the person who asked to be forgotten can confirm it."
KEPT = "Nothing was deleted."


@darekana_commands.command(name="privacy", description="What I keep about you, for how long, and who sees it")
async def privacy(interaction: Interaction) -> None:
    await interaction.response.send_message(clip(interaction.client.service.privacy_text()), ephemeral=True)


@darekana_commands.command(name="forget", description="Delete everything you ever sent me or told me")
async def forget(interaction: Interaction) -> None:
    await interaction.response.send_message(QUESTION, view=ForgetView(interaction.user.id), ephemeral=True)


class ForgetView(ui.View):
    """Confirm / Cancel under the question; only the person who asked may press them."""

    def __init__(self, user_id: int) -> None:
        super().__init__(timeout=CONFIRM_S)
        self.user_id = user_id

    async def interaction_check(self, interaction: Interaction) -> bool:
        if interaction.user.id == self.user_id:
            return True
        await interaction.response.send_message(NOT_YOURS, ephemeral=True)
        return False

    @ui.button(label="Delete everything", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: Interaction, _button: ui.Button[ForgetView]) -> None:
        self.stop()
        async with answering(interaction):
            await interaction.response.defer()  # a long history may take longer than Discord's 3 seconds
            forgotten = await interaction.client.service.forget(requester(interaction.user))
            await interaction.edit_original_response(content=forgotten.text, view=None)

    @ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: Interaction, _button: ui.Button[ForgetView]) -> None:
        self.stop()
        await interaction.response.edit_message(content=KEPT, view=None)


async def server_left(client: Darekana, guild: discord.Guild) -> None:
    """``on_guild_remove``: the bot was removed from a server, or the server was deleted."""
    try:
        await client.service.server_left(PLATFORM, str(guild.id))
    except Exception:  # an event has nobody to answer: the log is where it goes
        log.exception("could not record leaving server %s", guild.id)


async def servers_at_start(client: Darekana) -> None:
    """``on_ready``: servers that removed the bot while it was offline get no ``on_guild_remove``; those of
    this process's shards it is not in any more are treated as left now."""
    shards, count = client.shard_ids, client.shard_count or 1

    def ours(guild_id: str) -> bool:  # Discord's rule for which shard is told of a server
        return shards is None or (int(guild_id) >> 22) % count in shards

    try:
        gone = await client.service.servers_absent(PLATFORM, [str(g.id) for g in client.guilds], ours)
    except Exception:
        log.exception("could not check which servers the bot left while offline")
        return
    if gone:
        log.info("left while offline: %s; their data goes after the grace period", ", ".join(gone))


async def server_present(client: Darekana, guild: discord.Guild) -> None:
    """``on_guild_join`` and ``on_guild_available``: the bot is in a server, so nothing of it is purged."""
    try:
        if await client.service.server_present(PLATFORM, str(guild.id)):
            log.info("back in server %s: its data stays", guild.id)
    except Exception:
        log.exception("could not record being in server %s", guild.id)


COMMANDS: tuple[AppCommand, ...] = ()  # under /darekana, which the client registers
ITEMS: tuple[Component, ...] = ()
