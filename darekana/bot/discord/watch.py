"""Watch mode on Discord: in a channel where moderators turned it on (``/darekana watch on``), a picture asked
about without a mention ("who is she?" with it, or in reply to it) is answered under the picture. Which
messages it takes up and which it answers are the service's to say (:meth:`Service.watched_question`,
:meth:`Service.answer_unasked`); nothing is said otherwise, errors included: nobody asked the bot.
"""

from __future__ import annotations

from functools import partial

import discord
from discord import app_commands

from ..errors import BadRequest
from ..settings import parse_rate
from .answers import picture_for, post_under, recognize_in
from .client import AppCommand, Component, Darekana, Interaction, darekana_commands
from .replies import PLATFORM, interaction_place, moderation_scope, requester


async def answer_question(client: Darekana, message: discord.Message) -> None:
    """A question about a picture in a watched channel: answered under the picture when the service finds it
    worth it."""
    me = client.user
    if message.author.bot or me is None or message.guild is None or me.id in message.raw_mentions:
        return  # bots (this one too) are never answered; mentions and direct messages are answer_mention's
    service, channel = client.service, message.channel
    parent = getattr(channel, "parent_id", None)  # a thread is watched with the channel it is in
    channels = [str(c) for c in (channel.id, parent) if c is not None]
    if not await service.watched_question(PLATFORM, message.content, *channels):
        return
    try:
        target, picture = await picture_for(message)
    except BadRequest:  # a question without a picture: nobody asked the bot, so nothing is said
        return

    async def post() -> str | None:
        recognized = partial(recognize_in, client, target, picture, message.author)
        reply = await service.answer_unasked(PLATFORM, str(channel.id), recognized)
        return None if reply is None else await post_under(target, reply)

    await service.answer_once(PLATFORM, str(message.id), post)


watch = app_commands.Group(
    name="watch",
    description='Answer "who is she?" about pictures without a mention (moderators)',
    parent=darekana_commands,
)


@watch.command(name="on", description='In this channel, answer "who is she?" asked of a picture without a mention')
async def watch_on(interaction: Interaction) -> None:
    await _set_watch(interaction, True)


@watch.command(name="off", description="Answer in this channel only when mentioned again")
async def watch_off(interaction: Interaction) -> None:
    await _set_watch(interaction, False)


@watch.command(name="status", description="The channels of this server where I answer without a mention")
async def watch_status(interaction: Interaction) -> None:
    if interaction.guild_id is None:
        raise BadRequest("Watch mode is for channels of a server.")
    channels = await interaction.client.service.watched_channels(PLATFORM, str(interaction.guild_id))
    text = (
        "I answer without a mention in " + ", ".join(f"<#{c}>" for c in channels) + "."
        if channels
        else "I don't watch any channel here: I answer when mentioned. `/darekana watch on` in a channel changes that."
    )
    await interaction.response.send_message(text, ephemeral=True)


COMMANDS: tuple[AppCommand, ...] = ()  # its commands are under /darekana, which the client registers
ITEMS: tuple[Component, ...] = ()


async def _set_watch(interaction: Interaction, on: bool) -> None:
    moderation_scope(interaction)  # a moderator of this server, or an operator
    where = interaction_place(interaction)
    changed = await interaction.client.service.watch(on, where, requester(interaction.user))
    channel = f"<#{interaction.channel_id}>"
    if not on:
        text = f"I stopped watching {channel}: mention me to ask." if changed else f"I wasn't watching {channel}."
    elif not changed:
        text = f"I was already watching {channel}."
    else:
        settings = interaction.client.settings
        count, seconds = parse_rate(settings.watch_rate)
        text = (
            f"Watching {channel}: when someone posts a picture and asks who it is, I answer"
            + (" when I'm confident" if settings.watch_only_confident else "")
            + f", at most {count} times in {seconds:g} s. `/darekana watch off` stops it."
        )
    await interaction.response.send_message(text, ephemeral=True)
