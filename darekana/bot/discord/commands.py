"""What people ask darekana on Discord: ``/whois``, the "Who is this?" message menu, mentions, and the
moderators' ``/corrections``, translated to :class:`darekana.bot.service.Service` calls.

Every answer to a message or a command is claimed through :meth:`Service.answer_once` before it is sent:
each process connected with the bot's token receives every event, and only the first claim answers.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord import app_commands

from darekana.recognizer.annotate import COLOURS

from ..errors import BadRequest, ServiceError
from ..groups import Group, contact_sheet
from ..service import Place, Reply, Requester, Service
from ..settings import Settings, parse_rate
from ..storage.store import Stats, Status
from .client import Darekana, Interaction
from .replies import PLATFORM, SORRY, file, requester, require_moderator
from .views import answer_view, next_review

log = logging.getLogger("darekana.discord")

MAX_MESSAGE = 2000  # Discord's limit for a message's text
GROUPS_SHOWN = 8
ENROLL_HINT = "Enroll one with `/corrections enroll group:<number> name:<character>`."
MAX_FILES = 10  # and for the files of one message (each embed is at most one more)
UPLOAD_LIMIT = 25 * 1024 * 1024  # at most; each interaction also says what its server allows
LINK = re.compile(r"https?://[^\s<>]+")
NO_PICTURE = "There's no picture in that message."
ASK_ONE = "Give me one picture: attach it as `image`, or paste its link as `url`."
HOW_TO_ASK = (
    "I don't see a picture. Attach one when you mention me, or reply to a message with a picture and mention me."
)


# --- finding and answering a picture --------------------------------------------------------------------


async def answer_mention(client: Darekana, message: discord.Message) -> None:
    """A mention with a picture, or a mention replying to one: answer under the picture. In direct
    messages no mention is needed."""
    if message.author.bot or client.user is None:
        return
    if message.guild is not None and client.user.id not in message.raw_mentions:
        return

    async def post() -> str | None:
        try:
            target, picture = await _picture_for(message)
            check(picture, client.settings)
            reply = await recognize(client.service, picture, requester(message.author), _place(target))
            return str((await target.reply(**answer(reply), mention_author=False)).id)
        except Exception as exc:  # whatever fails, the person who asked hears back
            return await _report_in_channel(message, exc)

    await client.service.answer_once(PLATFORM, str(message.id), post)


async def answer_question(client: Darekana, message: discord.Message) -> None:
    """Watch mode: in a channel moderators turned it on for, a picture asked about without a mention ("who is
    she?" with it, or in reply to it) is answered under the picture, when the service finds it worth it;
    nothing is said otherwise, errors included."""
    me = client.user
    if message.author.bot or me is None or message.guild is None or me.id in message.raw_mentions:
        return  # bots (this one too) are never answered; mentions and direct messages are answer_mention's
    service = client.service
    if not service.asks_who(message.content):
        return
    channel = message.channel
    parent = getattr(channel, "parent_id", None)  # a thread is watched with the channel it is in
    if not await service.watching(PLATFORM, *(str(c) for c in (channel.id, parent) if c is not None)):
        return
    try:
        target, picture = await _picture_for(message)
    except BadRequest:  # a question without a picture: nobody asked the bot, so nothing is said
        return

    async def post() -> str | None:
        async def recognized() -> Reply:
            check(picture, client.settings)
            return await recognize(service, picture, requester(message.author), _place(target))

        reply = await service.answer_unasked(PLATFORM, str(channel.id), recognized)
        if reply is None:
            return None
        return str((await target.reply(**answer(reply), mention_author=False)).id)

    await service.answer_once(PLATFORM, str(message.id), post)


# An attachment is read through discord.py (Discord's own storage); a link is fetched safely by the service.
Picture = discord.Attachment | str


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


def check(picture: Picture, settings: Settings) -> None:
    """Refuses an attachment that could never be read before downloading it."""
    if isinstance(picture, str):
        return
    if picture.content_type and not picture.content_type.startswith("image/"):
        raise BadRequest(f"That file isn't a picture ({picture.content_type}): send a JPEG, PNG, WebP, GIF or BMP.")
    if picture.size > settings.max_picture_bytes:
        raise BadRequest(
            f"That picture is {_megabytes(picture.size)}; the most I take is {settings.max_picture_mb:g} MB."
        )


async def recognize(service: Service, picture: Picture, who: Requester, where: Place) -> Reply:
    if isinstance(picture, str):
        return await service.whois_url(picture, who, where)
    return await service.whois(await picture.read(), who, where)


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
    fields: dict[str, Any] = {"content": _clip(reply.text), "files": files, "embeds": embeds}
    if reply.faces:
        fields["view"] = answer_view(reply.recognition_id)
    return fields


async def _answer_interaction(interaction: Interaction, picture: Picture | None, message_id: int | None) -> None:
    """Answers a command once however many processes received it (errors reach the tree's handler)."""

    async def post() -> str:
        if picture is None:
            raise BadRequest(NO_PICTURE if message_id else ASK_ONE)
        check(picture, interaction.client.settings)  # before "thinking…", so that a refusal stays private
        # Recognition can take longer than the 3 seconds Discord waits for a first response.
        await interaction.response.defer(thinking=True)
        where = Place(_id(interaction.guild_id), _id(interaction.channel_id), _id(message_id))
        reply = await recognize(interaction.client.service, picture, requester(interaction.user), where)
        return str((await interaction.followup.send(**answer(reply), wait=True)).id)

    await interaction.client.service.answer_once(PLATFORM, f"interaction:{interaction.id}", post)


async def _picture_for(message: discord.Message) -> tuple[discord.Message, Picture]:
    """The message holding the picture (this one, else the one it replies to) and the picture."""
    picture = picture_in(message)
    if picture is not None:
        return message, picture
    replied = await _replied_to(message)
    picture = picture_in(replied) if replied is not None else None
    if replied is None or picture is None:
        raise BadRequest(HOW_TO_ASK)
    return replied, picture


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
    if isinstance(error, ServiceError):
        text = error.message
    else:
        log.error("answering Discord message %s failed", message.id, exc_info=error)
        text = SORRY
    try:
        return str((await message.reply(text, mention_author=False)).id)
    except discord.HTTPException:
        log.exception("could not reply to Discord message %s", message.id)
        return None


def _place(message: discord.Message) -> Place:
    return Place(_id(message.guild.id if message.guild else None), _id(message.channel.id), _id(message.id))


def _id(snowflake: int | None) -> str | None:
    return None if snowflake is None else str(snowflake)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# --- commands -------------------------------------------------------------------------------------------


@app_commands.command(name="whois", description="Name the anime characters in a picture")
@app_commands.describe(image="the picture", url="or a link to the picture")
async def whois(interaction: Interaction, image: discord.Attachment | None = None, url: str | None = None) -> None:
    pictures = [picture for picture in (image, url) if picture is not None]
    await _answer_interaction(interaction, pictures[0] if len(pictures) == 1 else None, None)


async def who_is_this(interaction: Interaction, message: discord.Message) -> None:
    await _answer_interaction(interaction, picture_in(message), message.id)


corrections = app_commands.Group(
    name="corrections", description="Review what people told darekana (moderators)", guild_only=True
)


@corrections.command(name="stats", description="How many answers, corrections and reviews there are")
async def stats(interaction: Interaction) -> None:
    require_moderator(interaction, interaction.client.settings)
    await interaction.response.send_message(_stats_text(await interaction.client.service.stats()), ephemeral=True)


@corrections.command(name="review", description="Accept or reject the oldest pending correction, then the next")
async def review(interaction: Interaction) -> None:
    require_moderator(interaction, interaction.client.settings)
    page = await next_review(interaction)
    await interaction.response.send_message(page.content, files=page.files, view=page.view, ephemeral=True)


@corrections.command(name="export", description="The accepted corrections as a training set (zip)")
async def export(interaction: Interaction) -> None:
    require_moderator(interaction, interaction.client.settings)
    await interaction.response.defer(ephemeral=True, thinking=True)  # a large zip takes a while
    data, count = await interaction.client.service.export((Status.ACCEPTED,))
    if count == 0:
        await interaction.followup.send("No accepted corrections yet: nothing to export.", ephemeral=True)
    elif len(data) > min(UPLOAD_LIMIT, interaction.filesize_limit):
        await interaction.followup.send(
            f"The export holds {count} faces in {_megabytes(len(data))}: more than I can attach here "
            f"({_megabytes(min(UPLOAD_LIMIT, interaction.filesize_limit))}). Download it from the HTTP API's "
            "moderator export instead.",
            ephemeral=True,
        )
    else:
        await interaction.followup.send(
            f"{count} accepted faces, one folder per character.",
            ephemeral=True,
            file=file(data, "darekana-corrections.zip"),
        )


@corrections.command(name="groups", description="Faces of characters I don't know, grouped, biggest first")
async def groups(interaction: Interaction) -> None:
    require_moderator(interaction, interaction.client.settings)
    await interaction.response.defer(ephemeral=True, thinking=True)  # grouping embeds every face again
    found = await interaction.client.service.groups(GROUPS_SHOWN)
    if not found:
        await interaction.followup.send("No unknown faces to group yet.", ephemeral=True)
        return
    await interaction.followup.send(
        _clip("\n".join(_group_line(g) for g in found) + "\n" + ENROLL_HINT),
        ephemeral=True,
        file=file(contact_sheet(found), "groups.png"),
    )


@corrections.command(name="enroll", description="Teach me a group of faces as a character (gated, then live)")
@app_commands.describe(group="the group's number, from /corrections groups", name="the character's name")
async def enroll(interaction: Interaction, group: int, name: str) -> None:
    require_moderator(interaction, interaction.client.settings)
    await interaction.response.defer(ephemeral=True, thinking=True)  # a new bundle takes a minute or more
    enrolled = await interaction.client.service.enroll_group(group, name, requester(interaction.user))
    await interaction.followup.send(enrolled.text, ephemeral=True)


darekana_commands = app_commands.Group(name="darekana", description="darekana in this server", guild_only=True)
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
    channels = await interaction.client.service.watched_channels(PLATFORM, str(interaction.guild_id))
    text = (
        "I answer without a mention in " + ", ".join(f"<#{c}>" for c in channels) + "."
        if channels
        else "I don't watch any channel here: I answer when mentioned. `/darekana watch on` in a channel changes that."
    )
    await interaction.response.send_message(text, ephemeral=True)


async def _set_watch(interaction: Interaction, on: bool) -> None:
    require_moderator(interaction, interaction.client.settings)
    where = Place(_id(interaction.guild_id), _id(interaction.channel_id))
    changed = await interaction.client.service.watch(on, where, requester(interaction.user))
    channel = f"<#{interaction.channel_id}>"
    if on:
        count, seconds = parse_rate(interaction.client.settings.watch_rate)
        text = (
            f"Watching {channel}: when someone posts a picture and asks who it is, I answer"
            + (" when I'm confident" if interaction.client.settings.watch_only_confident else "")
            + f", at most {count} times in {seconds:g} s. `/darekana watch off` stops it."
            if changed
            else f"I was already watching {channel}."
        )
    else:
        text = f"I stopped watching {channel}: mention me to ask." if changed else f"I wasn't watching {channel}."
    await interaction.response.send_message(text, ephemeral=True)


def _group_line(group: Group) -> str:
    typed = ", ".join(f"{name} ({n})" for _, name, n in group.names()[:3]) or "nobody named them yet"
    line = (
        f"**Group {group.id}**: {len(group.faces)} faces from {group.pictures} pictures, "
        f"{group.people} people; named {typed}"
    )
    if group.looks_like is not None:
        line += f"; {group.looks_like.faces} look like {group.looks_like.name} to me"
    return line


def _stats_text(stats: Stats) -> str:
    status, kind = stats.by_status, stats.by_kind
    lines = [
        f"Recognitions: {stats.recognitions} ({stats.faces} faces)",
        (
            f"Feedback: {kind['correction']} corrections, {kind['confirmation']} confirmations; "
            f"{status['pending']} pending, {status['accepted']} accepted, {status['rejected']} rejected"
        ),
    ]
    if stats.most_corrected:
        lines.append(
            "Most corrected: " + ", ".join(f"{said} → {given} ({count})" for said, given, count in stats.most_corrected)
        )
    return "\n".join(lines)
