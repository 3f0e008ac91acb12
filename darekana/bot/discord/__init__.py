"""darekana on Discord (discord.py 2), laid out as RoboDanny lays out a cog: the client (:mod:`.client`),
what people ask (:mod:`.commands`), the components under the answers (:mod:`.views`) and what every
interaction shares (:mod:`.replies`). Nothing here decides behaviour: that is the service's.

    client = make_client(service, settings)
    await client.start(settings.discord_token)
"""

from __future__ import annotations

import discord
from discord import app_commands

from ..service import Service
from ..settings import Settings
from .client import Darekana, Interaction
from .commands import answer_mention, answer_question, corrections, darekana_commands, who_is_this, whois
from .replies import report
from .views import DYNAMIC_ITEMS

__all__ = ["Darekana", "make_client"]


def make_client(service: Service, settings: Settings, *, sync_commands: bool = True) -> Darekana:
    """The bot, ready for ``await client.start(token)``. ``sync_commands`` registers the slash commands and
    the message menu with Discord at login (one request, needed once for new or changed commands)."""
    client = Darekana(service, settings, sync_commands=sync_commands, items=DYNAMIC_ITEMS)
    client.tree.add_command(whois)
    client.tree.add_command(app_commands.ContextMenu(name="Who is this?", callback=who_is_this))
    client.tree.add_command(corrections)
    client.tree.add_command(darekana_commands)

    @client.tree.error
    async def on_command_error(interaction: Interaction, error: app_commands.AppCommandError) -> None:
        await report(interaction, getattr(error, "original", error))  # CommandInvokeError wraps ours

    @client.event
    async def on_message(message: discord.Message) -> None:
        await answer_mention(client, message)
        await answer_question(client, message)

    return client
