"""The moderators' ``/corrections`` on Discord: review what people told darekana (Accept / Reject under the
oldest pending correction, then the next), its counts, the accepted corrections as a training set, and
faces of characters it does not know, grouped, to enroll as a new character. A server's moderators see what
was asked and said in their server only; the bot's operators see everything, in any server or in direct
messages, and alone may enroll (see :func:`.replies.moderation_scope`). Faces from age-restricted channels
are shown only in such channels, or to an operator in direct messages who asks with ``nsfw:True``
(``include_nsfw:True`` for the export). ``/corrections character`` adds, removes and lists the server's own
characters: answered in that server only, by its moderators' say (no new bundle). Every answer is private.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands, ui

from ..groups import Group, contact_sheet
from ..records import Feedback, Kind, ListedServerCharacter, Scope, Stats, Status
from .answers import check
from .client import AppCommand, Component, Interaction
from .replies import (
    PLATFORM,
    answering,
    clip,
    file,
    interaction_place,
    megabytes,
    moderation_scope,
    requester,
    yes_no,
)

GROUPS_SHOWN = 8
ENROLL_HINT = "Enroll one with `/corrections enroll group:<number> name:<character>`."
UPLOAD_LIMIT = 25 * 1024 * 1024  # at most; each interaction also says what its server allows


# Not for servers only: the bot's operators use these in direct messages too (others are refused there).
corrections = app_commands.Group(name="corrections", description="Review what people told darekana (moderators)")
NSFW_OPTION = "operators, in direct messages: include faces from age-restricted channels"


@corrections.command(name="stats", description="How many answers, corrections and reviews there are")
async def stats(interaction: Interaction) -> None:
    scope = moderation_scope(interaction)
    await interaction.response.send_message(_stats_text(await interaction.client.service.stats(scope)), ephemeral=True)


@corrections.command(name="review", description="Accept or reject the oldest pending correction, then the next")
@app_commands.describe(nsfw=NSFW_OPTION)
async def review(interaction: Interaction, nsfw: bool = False) -> None:
    page = await next_review(interaction, moderation_scope(interaction, nsfw), nsfw)
    await interaction.response.send_message(page.content, files=page.files, view=page.view, ephemeral=True)


@corrections.command(name="export", description="The accepted corrections as a training set (zip)")
@app_commands.describe(include_nsfw=NSFW_OPTION + " (or in an age-restricted channel)")
async def export(interaction: Interaction, include_nsfw: bool = False) -> None:
    scope = moderation_scope(interaction, include_nsfw)
    await interaction.response.defer(ephemeral=True, thinking=True)  # a large zip takes a while
    data, count = await interaction.client.service.export((Status.ACCEPTED,), scope, include_nsfw)
    limit = min(UPLOAD_LIMIT, interaction.filesize_limit)
    if count == 0:
        await interaction.followup.send("No accepted corrections yet: nothing to export.", ephemeral=True)
    elif len(data) > limit:
        elsewhere = (
            "Download it from the HTTP API's moderator export instead."
            if scope.operator
            else "Ask the bot's operators for it."  # the HTTP export is theirs: every server's
        )
        await interaction.followup.send(
            f"The export holds {count} faces in {megabytes(len(data))}: more than I can attach here "
            f"({megabytes(limit)}). {elsewhere}",
            ephemeral=True,
        )
    else:
        await interaction.followup.send(
            f"{count} accepted faces, one folder per character.",
            ephemeral=True,
            file=file(data, "darekana-corrections.zip"),
        )


@corrections.command(name="groups", description="Faces of characters I don't know, grouped, biggest first")
@app_commands.describe(nsfw=NSFW_OPTION)
async def groups(interaction: Interaction, nsfw: bool = False) -> None:
    scope = moderation_scope(interaction, nsfw)
    await interaction.response.defer(ephemeral=True, thinking=True)  # grouping embeds every face again
    found = await interaction.client.service.groups(GROUPS_SHOWN, scope)
    if not found:
        await interaction.followup.send("No unknown faces to group yet.", ephemeral=True)
        return
    await interaction.followup.send(
        clip("\n".join(_group_line(g) for g in found) + "\n" + ENROLL_HINT),
        ephemeral=True,
        file=file(contact_sheet(found), "groups.png"),
    )


@corrections.command(name="enroll", description="Teach me a group of faces as a character (gated, then live)")
@app_commands.describe(group="the group's number, from /corrections groups", name="the character's name")
async def enroll(interaction: Interaction, group: int, name: str) -> None:
    scope = moderation_scope(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)  # a new bundle takes a minute or more
    enrolled = await interaction.client.service.enroll_group(group, name, requester(interaction.user), scope)
    await interaction.followup.send(enrolled.text, ephemeral=True)


# --- the server's own characters -------------------------------------------------------------------------

character = app_commands.Group(name="character", description="This server's own characters", parent=corrections)
CROP = "a face crop of the character"


@character.command(name="add", description="Teach me a character of this server only, from a group or face crops")
@app_commands.describe(
    name="the character's name",
    group="a group's number from /corrections groups here (or attach crops instead)",
    crop1=CROP,
    crop2=CROP,
    crop3=CROP,
    crop4=CROP,
    crop5=CROP,
)
async def character_add(
    interaction: Interaction,
    name: str,
    group: int | None = None,
    crop1: discord.Attachment | None = None,
    crop2: discord.Attachment | None = None,
    crop3: discord.Attachment | None = None,
    crop4: discord.Attachment | None = None,
    crop5: discord.Attachment | None = None,
) -> None:
    scope = moderation_scope(interaction)
    attached = [a for a in (crop1, crop2, crop3, crop4, crop5) if a is not None]
    for attachment in attached:  # refused before downloading, and before "thinking…": the refusal stays private
        check(attachment, interaction.client.settings)
    await interaction.response.defer(ephemeral=True, thinking=True)  # embedding the crops takes seconds
    crops = tuple([await attachment.read() for attachment in attached])
    service, who, where = interaction.client.service, requester(interaction.user), interaction_place(interaction)
    enrolled = await service.enroll_server_character(name, who, where, scope, group, crops)
    await interaction.followup.send(enrolled.text, ephemeral=True)


@character.command(name="remove", description="Forget one of this server's own characters")
@app_commands.describe(name="the character's name")
async def character_remove(interaction: Interaction, name: str) -> None:
    scope = moderation_scope(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)  # the server's others are embedded again
    service, who, where = interaction.client.service, requester(interaction.user), interaction_place(interaction)
    await interaction.followup.send(await service.remove_server_character(name, who, where, scope), ephemeral=True)


@character.command(name="list", description="This server's own characters")
async def character_list(interaction: Interaction) -> None:
    scope = moderation_scope(interaction)
    service, who, where = interaction.client.service, requester(interaction.user), interaction_place(interaction)
    listed = await service.server_characters(who, where, scope)
    await interaction.response.send_message(clip(_characters_text(listed)), ephemeral=True)


def _characters_text(listed: list[ListedServerCharacter]) -> str:
    if not listed:
        return "This server has no characters of its own yet. Add one with `/corrections character add`."
    return "This server's own characters:\n" + "\n".join(
        f"**{c.name}**: {c.crops} faces, enrolled by <@{c.enrolled_by.split(':', 1)[1]}> on {c.created_at:%Y-%m-%d}"
        for c in listed
    )


COMMANDS: tuple[AppCommand, ...] = (corrections,)


# --- the review, one correction at a time ---------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPage:
    content: str
    files: list[discord.File]
    view: ui.View


async def next_review(interaction: Interaction, scope: Scope, nsfw: bool) -> ReviewPage:
    """The oldest pending correction in ``scope`` with its crop (if still kept) and Accept / Reject, or that
    none is left. ``nsfw``: what the moderator asked for, carried by the buttons to the next page."""
    view = ui.View(timeout=None)
    pending = await interaction.client.service.feedback((Status.PENDING,), 1, scope)
    if not pending:
        return ReviewPage("Nothing left to review.", [], view)
    feedback = pending[0]
    view.add_item(ReviewButton("accepted", feedback.id, nsfw))
    view.add_item(ReviewButton("rejected", feedback.id, nsfw))
    crops = [file(feedback.crop_png, f"face-{feedback.face_id}.png")] if feedback.crop_png else []
    return ReviewPage(_describe(feedback), crops, view)


class ReviewButton(
    ui.DynamicItem[ui.Button],
    template=r"darekana:review:(?P<status>accepted|rejected):(?P<id>\d+)(?P<nsfw>:nsfw)?",
):
    def __init__(self, status: str, correction_id: int, nsfw: bool = False) -> None:
        custom_id = f"darekana:review:{status}:{correction_id}" + (":nsfw" if nsfw else "")
        super().__init__(yes_no(status == "accepted", ("Accept", "Reject"), custom_id))
        self.status, self.correction_id, self.nsfw = status, correction_id, nsfw

    @classmethod
    async def from_custom_id(cls, interaction: Interaction, item: ui.Item[Any], match: re.Match[str]) -> ReviewButton:
        return cls(match["status"], int(match["id"]), bool(match["nsfw"]))

    async def callback(self, interaction: Interaction) -> None:
        async with answering(interaction):
            scope = moderation_scope(interaction, self.nsfw)
            service = interaction.client.service
            await service.review(self.correction_id, self.status, requester(interaction.user), scope)
            page = await next_review(interaction, scope, self.nsfw)
            await interaction.response.edit_message(content=page.content, attachments=page.files, view=page.view)


def _describe(feedback: Feedback) -> str:
    who = f"<@{feedback.user_id}>" if feedback.platform == PLATFORM else f"{feedback.platform} user {feedback.user_id}"
    if feedback.kind is Kind.CONFIRMATION:
        said = f"agrees that this is **{feedback.name}**"
    else:
        said = f"says this is **{feedback.name}**, not {feedback.predicted_name}"
    return f"Correction #{feedback.id}: {who} {said}."


ITEMS: tuple[Component, ...] = (ReviewButton,)


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
