"""darekana on Discord (discord.py 2), one module per feature, each owning its commands and the components
under its messages:

* :mod:`.answers`: asking, by a mention (or a mention replying to a picture), ``/whois`` or the "Who is
  this?" message menu, and the answer posted under the picture;
* :mod:`.feedback`: Right / Wrong under an answer, the menus and the form that follow them;
* :mod:`.moderation`: the moderators' ``/corrections`` (review, stats, export, groups, enroll);
* :mod:`.watch`: watch mode, ``/darekana watch`` and answering "who is she?" without a mention;
* :mod:`.privacy`: ``/darekana privacy`` and ``/darekana forget``, and what happens when the bot leaves a
  server.

What they share: the client (:mod:`.client`) and how an interaction is answered, privately, errors included
(:mod:`.replies`). Nothing here decides behaviour: that is the service's.

    client = make_client(service, settings)
    await client.start(settings.discord_token)
"""

from __future__ import annotations

import discord
from discord import app_commands

from ..service import Service
from ..settings import Settings
from . import answers, feedback, moderation, privacy, watch
from .client import Darekana, Interaction, darekana_commands
from .replies import report

__all__ = ["Darekana", "make_client"]

FEATURES = (answers, feedback, moderation, watch, privacy)


def make_client(service: Service, settings: Settings, *, sync_commands: bool = True) -> Darekana:
    """The bot, ready for ``await client.start(token)``. ``sync_commands`` registers the slash commands and
    the message menu with Discord at login (one request, needed once for new or changed commands)."""
    items = [item for feature in FEATURES for item in feature.ITEMS]
    client = Darekana(service, settings, sync_commands=sync_commands, items=items)
    for feature in FEATURES:
        for command in feature.COMMANDS:
            client.tree.add_command(command)
    client.tree.add_command(darekana_commands)  # the features' /darekana subcommands

    @client.tree.error
    async def on_command_error(interaction: Interaction, error: app_commands.AppCommandError) -> None:
        await report(interaction, getattr(error, "original", error))  # CommandInvokeError wraps ours

    @client.event
    async def on_message(message: discord.Message) -> None:
        await answers.answer_mention(client, message)
        await watch.answer_question(client, message)

    @client.event
    async def on_ready() -> None:
        await privacy.servers_at_start(client)

    @client.event
    async def on_guild_remove(guild: discord.Guild) -> None:
        await privacy.server_left(client, guild)

    @client.event
    async def on_guild_join(guild: discord.Guild) -> None:
        await privacy.server_present(client, guild)

    @client.event
    async def on_guild_available(guild: discord.Guild) -> None:
        await privacy.server_present(client, guild)

    return client
