"""The moderators' ``/corrections`` on Discord: review what people told darekana (Accept / Reject under the
oldest pending correction, then the next), its counts, the accepted corrections as a training set, and
faces of characters it does not know, grouped, to enroll as a new character. Only moderators may (see
:func:`.replies.require_moderator`); every answer is private to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands, ui

from ..groups import Group, contact_sheet
from ..records import Feedback, Kind, Stats, Status
from .client import AppCommand, Component, Interaction
from .replies import PLATFORM, answering, clip, file, megabytes, requester, require_moderator, yes_no

GROUPS_SHOWN = 8
ENROLL_HINT = "Enroll one with `/corrections enroll group:<number> name:<character>`."
UPLOAD_LIMIT = 25 * 1024 * 1024  # at most; each interaction also says what its server allows


corrections = app_commands.Group(
    name="corrections", description="Review what people told darekana (moderators)", guild_only=True
)


@corrections.command(name="stats", description="How many answers, corrections and reviews there are")
async def stats(interaction: Interaction) -> None:
    require_moderator(interaction)
    await interaction.response.send_message(_stats_text(await interaction.client.service.stats()), ephemeral=True)


@corrections.command(name="review", description="Accept or reject the oldest pending correction, then the next")
async def review(interaction: Interaction) -> None:
    require_moderator(interaction)
    page = await next_review(interaction)
    await interaction.response.send_message(page.content, files=page.files, view=page.view, ephemeral=True)


@corrections.command(name="export", description="The accepted corrections as a training set (zip)")
async def export(interaction: Interaction) -> None:
    require_moderator(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)  # a large zip takes a while
    data, count = await interaction.client.service.export((Status.ACCEPTED,))
    limit = min(UPLOAD_LIMIT, interaction.filesize_limit)
    if count == 0:
        await interaction.followup.send("No accepted corrections yet: nothing to export.", ephemeral=True)
    elif len(data) > limit:
        await interaction.followup.send(
            f"The export holds {count} faces in {megabytes(len(data))}: more than I can attach here "
            f"({megabytes(limit)}). Download it from the HTTP API's "
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
    require_moderator(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)  # grouping embeds every face again
    found = await interaction.client.service.groups(GROUPS_SHOWN)
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
    require_moderator(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)  # a new bundle takes a minute or more
    enrolled = await interaction.client.service.enroll_group(group, name, requester(interaction.user))
    await interaction.followup.send(enrolled.text, ephemeral=True)


COMMANDS: tuple[AppCommand, ...] = (corrections,)


# --- the review, one correction at a time ---------------------------------------------------------------


@dataclass(frozen=True)
class ReviewPage:
    content: str
    files: list[discord.File]
    view: ui.View


async def next_review(interaction: Interaction) -> ReviewPage:
    """The oldest pending correction with its crop and Accept / Reject, or that none is left."""
    view = ui.View(timeout=None)
    pending = await interaction.client.service.feedback((Status.PENDING,), 1)
    if not pending:
        return ReviewPage("Nothing left to review.", [], view)
    feedback = pending[0]
    view.add_item(ReviewButton("accepted", feedback.id))
    view.add_item(ReviewButton("rejected", feedback.id))
    return ReviewPage(_describe(feedback), [file(feedback.crop_png, f"face-{feedback.face_id}.png")], view)


class ReviewButton(ui.DynamicItem[ui.Button], template=r"darekana:review:(?P<status>accepted|rejected):(?P<id>\d+)"):
    def __init__(self, status: str, correction_id: int) -> None:
        super().__init__(
            yes_no(status == "accepted", ("Accept", "Reject"), f"darekana:review:{status}:{correction_id}")
        )
        self.status, self.correction_id = status, correction_id

    @classmethod
    async def from_custom_id(cls, interaction: Interaction, item: ui.Item[Any], match: re.Match[str]) -> ReviewButton:
        return cls(match["status"], int(match["id"]))

    async def callback(self, interaction: Interaction) -> None:
        async with answering(interaction):
            require_moderator(interaction)
            await interaction.client.service.review(self.correction_id, self.status, requester(interaction.user))
            page = await next_review(interaction)
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
