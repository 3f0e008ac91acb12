"""Asking darekana on Discord: a mention with a picture or replying to one (in direct messages no mention
is needed), ``/whois`` and the "Who is this?" message menu. The answer goes under the picture: the names,
the numbered picture when there are several faces, the nearest face the bundle knows of each character
named, and Right / Wrong (:mod:`.feedback`).

Every answer to a message or a command is claimed through :meth:`Service.answer_once` before it is sent:
each process connected with the bot's token receives every event, and only the first claim answers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from darekana.recognizer.annotate import COLOURS

from ..callers import Place
from ..errors import BadRequest
from ..replies import Reply
from ..settings import Settings
from .client import AppCommand, Component, Darekana, Interaction
from .feedback import answer_view
from .replies import PLATFORM, clip, file, interaction_place, is_nsfw, megabytes, requester, text_id, told

log = logging.getLogger("darekana.discord")

MAX_FILES = 10  # Discord's limit for the files of one message (each embed is at most one more)
LINK = re.compile(r"https?://[^\s<>]+")
NO_PICTURE = "There's no picture in that message."
ASK_ONE = "Give me one picture: attach it as `image`, or paste its link as `url`."
HOW_TO_ASK = (
    "I don't see a picture. Attach one when you mention me, or reply to a message with a picture and mention me."
)

# An attachment is read through discord.py (Discord's own storage); a link is fetched safely by the service.
Picture = discord.Attachment | str


async def answer_mention(client: Darekana, message: discord.Message) -> None:
    """A mention with a picture, or a mention replying to one: answer under the picture. In direct
    messages no mention is needed."""
    if message.author.bot or client.user is None:
        return
    if message.guild is not None and client.user.id not in message.raw_mentions:
        return

    async def post() -> str | None:
        try:
            target, picture = await picture_for(message)
            return await post_under(target, await recognize_in(client, target, picture, message.author))
        except Exception as exc:  # whatever fails, the person who asked hears back
            return await _report_in_channel(message, exc)

    await client.service.answer_once(PLATFORM, str(message.id), post)


@app_commands.command(name="whois", description="Name the anime characters in a picture")
@app_commands.describe(image="the picture", url="or a link to the picture")
async def whois(interaction: Interaction, image: discord.Attachment | None = None, url: str | None = None) -> None:
    pictures = [picture for picture in (image, url) if picture is not None]
    await _answer_interaction(interaction, pictures[0] if len(pictures) == 1 else None, None)


async def _who_is_this(interaction: Interaction, message: discord.Message) -> None:
    await _answer_interaction(interaction, picture_in(message), message.id)


who_is_this = app_commands.ContextMenu(name="Who is this?", callback=_who_is_this)

COMMANDS: tuple[AppCommand, ...] = (whois, who_is_this)
ITEMS: tuple[Component, ...] = ()


# --- finding a picture and answering it ------------------------------------------------------------------


def picture_in(message: discord.Message) -> Picture | None:
    """The message's first image attachment, else its first image embed, else its first link."""
    for attachment in message.attachments:
        if (attachment.content_type or "").startswith("image/"):
            return attachment
    for embed in message.embeds:
        url = embed.image.url or (embed.thumbnail.url if embed.type == "image" else None)
        if url:
            return url
    link = LINK.search(message.content)
    return link.group() if link else None


async def picture_for(message: discord.Message) -> tuple[discord.Message, Picture]:
    """The message holding the picture (this one, else the one it replies to) and the picture."""
    picture = picture_in(message)
    if picture is not None:
        return message, picture
    replied = await _replied_to(message)
    picture = picture_in(replied) if replied is not None else None
    if replied is None or picture is None:
        raise BadRequest(HOW_TO_ASK)
    return replied, picture


async def recognize_in(client: Darekana, target: discord.Message, picture: Picture, asker: discord.abc.User) -> Reply:
    """The reply to ``picture`` of message ``target``, asked by ``asker``."""
    check(picture, client.settings)
    return await _recognize(client, picture, asker, place_of(target))


async def post_under(target: discord.Message, reply: Reply) -> str:
    """Posts the answer under the message holding the picture; returns the post's id."""
    return str((await target.reply(**answer(reply), mention_author=False)).id)


def check(picture: Picture, settings: Settings) -> None:
    """Refuses an attachment that could never be read before downloading it."""
    if isinstance(picture, str):
        return
    if picture.content_type and not picture.content_type.startswith("image/"):
        raise BadRequest(f"That file isn't a picture ({picture.content_type}): send a JPEG, PNG, WebP, GIF or BMP.")
    if picture.size > settings.max_picture_bytes:
        raise BadRequest(
            f"That picture is {megabytes(picture.size)}; the most I take is {settings.max_picture_mb:g} MB."
        )


def answer(reply: Reply) -> dict[str, Any]:
    """A reply as message fields: text, the numbered picture when several faces, for each face named the
    nearest face the bundle knows of that character as an embed's thumbnail, Right / Wrong."""
    files = [file(reply.annotated_png, "faces.png")] if reply.annotated_png is not None else []
    embeds = []
    for number, face in enumerate(reply.faces, start=1):
        if face.evidence is None or len(files) == MAX_FILES:
            continue
        name = f"evidence-{number}.jpg"
        files.append(file(face.evidence.jpeg, name))
        embed = discord.Embed(
            description=f"{number}. Looks like this face of {face.name}",
            colour=discord.Colour.from_rgb(*COLOURS[face.verdict]),
        )
        embeds.append(embed.set_thumbnail(url=f"attachment://{name}"))
    fields: dict[str, Any] = {"content": clip(reply.text), "files": files, "embeds": embeds}
    if reply.faces:
        fields["view"] = answer_view(reply.recognition_id)
    return fields


def place_of(message: discord.Message) -> Place:
    guild = text_id(message.guild.id if message.guild else None)
    return Place(guild, text_id(message.channel.id), text_id(message.id), nsfw=is_nsfw(message.channel))


async def _recognize(client: Darekana, picture: Picture, asker: discord.abc.User, where: Place) -> Reply:
    if isinstance(picture, str):
        return await client.service.whois_url(picture, requester(asker), where)
    return await client.service.whois(await picture.read(), requester(asker), where)


async def _answer_interaction(interaction: Interaction, picture: Picture | None, message_id: int | None) -> None:
    """Answers a command once however many processes received it (errors reach the tree's handler)."""

    async def post() -> str:
        if picture is None:
            raise BadRequest(NO_PICTURE if message_id else ASK_ONE)
        check(picture, interaction.client.settings)  # before "thinking…", so that a refusal stays private
        # Recognition can take longer than the 3 seconds Discord waits for a first response.
        await interaction.response.defer(thinking=True)
        where = replace(interaction_place(interaction), message_id=text_id(message_id))
        reply = await _recognize(interaction.client, picture, interaction.user, where)
        return str((await interaction.followup.send(**answer(reply), wait=True)).id)

    await interaction.client.service.answer_once(PLATFORM, f"interaction:{interaction.id}", post)


async def _replied_to(message: discord.Message) -> discord.Message | None:
    reference = message.reference
    if reference is None or reference.message_id is None:
        return None
    if isinstance(reference.resolved, discord.Message):
        return reference.resolved
    try:  # Discord leaves the replied-to message out of some events
        return await message.channel.fetch_message(reference.message_id)
    except (discord.NotFound, discord.Forbidden):
        return None


async def _report_in_channel(message: discord.Message, error: Exception) -> str | None:
    text = told(error, f"answering Discord message {message.id}")
    try:
        return str((await message.reply(text, mention_author=False)).id)
    except discord.HTTPException:
        log.exception("could not reply to Discord message %s", message.id)
        return None
