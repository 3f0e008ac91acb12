"""What every Discord interaction shares: who is asking, how they hear back (privately when Discord allows
it), that an error always gets an answer, and who counts as a moderator."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator

import discord

from ..errors import Forbidden, ServiceError
from ..service import Requester
from ..settings import Settings
from .client import Interaction

log = logging.getLogger("darekana.discord")

SORRY = "Sorry, something went wrong on my side. Please try again in a little while."
PLATFORM = "discord"


def requester(user: discord.abc.User) -> Requester:
    return Requester(PLATFORM, str(user.id))


async def say(interaction: Interaction, text: str) -> None:
    """Tells the person who interacted, privately wherever Discord allows it."""
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True)
        return
    if response.type is discord.InteractionResponseType.deferred_channel_message:
        # The "thinking…" placeholder may be public: remove it so that only this person sees the error.
        await interaction.delete_original_response()
    await interaction.followup.send(text, ephemeral=True)


async def report(interaction: Interaction, error: BaseException) -> None:
    """A ServiceError's message, or a short apology for anything unexpected (logged): never silence."""
    if isinstance(error, ServiceError):
        text = error.message
    else:
        log.error("Discord interaction %s by %s failed", interaction.id, interaction.user.id, exc_info=error)
        text = SORRY
    try:
        await say(interaction, text)
    except discord.HTTPException:
        log.exception("could not tell Discord user %s that interaction %s failed", interaction.user.id, interaction.id)


@contextlib.asynccontextmanager
async def answering(interaction: Interaction) -> AsyncIterator[None]:
    """Component callbacks' errors would only reach discord.py's log; this turns them into a reply."""
    try:
        yield
    except Exception as exc:
        await report(interaction, exc)


def require_moderator(interaction: Interaction, settings: Settings) -> None:
    """Moderators have Manage Messages in this channel, or the configured role (its name or id)."""
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        raise Forbidden("Moderator commands only work in a server, not in direct messages.")
    role = settings.discord_moderator_role.strip()
    if interaction.permissions.manage_messages or (role and any(role in (str(r.id), r.name) for r in member.roles)):
        return
    raise Forbidden("Sorry, only moderators can do that (the Manage Messages permission or the moderator role).")


def file(data: bytes, name: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)
