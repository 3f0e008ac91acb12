"""What every Discord interaction shares: who is asking and where (an age-restricted channel or not), how
they hear back (privately when Discord allows it), that an error always gets an answer, and who counts as a
moderator (the service adds its operators: :func:`moderation_scope`)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator

import discord
from discord import ui

from ..callers import Place, Requester
from ..errors import Forbidden, ServiceError
from ..records import Authority, Scope
from .client import Interaction

log = logging.getLogger("darekana.discord")

SORRY = "Sorry, something went wrong on my side. Please try again in a little while."
PLATFORM = "discord"
MAX_MESSAGE = 2000  # Discord's limit for a message's text


def requester(user: discord.abc.User) -> Requester:
    return Requester(PLATFORM, str(user.id))


def text_id(snowflake: int | None) -> str | None:
    """A Discord id as the service keeps platform ids: as text."""
    return None if snowflake is None else str(snowflake)


# Servers Discord marks as a whole for adults: every channel of them counts as age-restricted.
ADULT_SERVERS = (discord.NSFWLevel.explicit, discord.NSFWLevel.age_restricted)


def is_nsfw(channel: object) -> bool:
    """Whether a channel is age-restricted, itself or by its server's mark (a thread is as its channel is);
    direct messages are not."""
    check = getattr(channel, "is_nsfw", None)
    if callable(check) and check():
        return True
    return getattr(getattr(channel, "guild", None), "nsfw_level", None) in ADULT_SERVERS


def interaction_place(interaction: Interaction) -> Place:
    """Where an interaction happened, as the service sees places."""
    return Place(text_id(interaction.guild_id), text_id(interaction.channel_id), nsfw=is_nsfw(interaction.channel))


def moderation_scope(interaction: Interaction, nsfw: bool = False) -> Scope:
    """What the person who interacted may review, group, export and count here: everything for the bot's
    operators (anywhere, direct messages included); their server's for its moderators; else a refusal.
    ``nsfw``: an operator asks for faces of age-restricted channels (shown in direct messages only)."""
    service, who = interaction.client.service, requester(interaction.user)
    if service.is_operator(who):
        return service.scope(who, interaction_place(interaction), Authority.PERSON, nsfw)
    require_moderator(interaction)
    return service.scope(who, interaction_place(interaction), Authority.SERVER_MODERATOR, nsfw)


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


def told(error: BaseException, what: str) -> str:
    """What a person hears of ``error``: a ServiceError's message, or a short apology for anything unexpected,
    which is logged as ``what`` failing."""
    if isinstance(error, ServiceError):
        return error.message
    log.error("%s failed", what, exc_info=error)
    return SORRY


async def report(interaction: Interaction, error: BaseException) -> None:
    """Tells the person who interacted what went wrong (see :func:`told`): never silence."""
    text = told(error, f"Discord interaction {interaction.id} by {interaction.user.id}")
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


def require_moderator(interaction: Interaction) -> None:
    """Moderators have Manage Messages in this channel, or the configured role (its name or id)."""
    member = interaction.user
    if interaction.guild_id is None or not isinstance(member, discord.Member):
        raise Forbidden(
            "Moderator commands only work in a server, not in direct messages (except for the bot's operators)."
        )
    role = interaction.client.settings.discord_moderator_role.strip()
    if interaction.permissions.manage_messages or (role and any(role in (str(r.id), r.name) for r in member.roles)):
        return
    raise Forbidden("Sorry, only moderators can do that (the Manage Messages permission or the moderator role).")


def file(data: bytes, name: str) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name)


def clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def yes_no(yes: bool, labels: tuple[str, str], custom_id: str) -> ui.Button:
    """One of a green/red pair of buttons (Right/Wrong, Accept/Reject)."""
    return ui.Button(
        label=labels[0] if yes else labels[1],
        custom_id=custom_id,
        style=discord.ButtonStyle.success if yes else discord.ButtonStyle.danger,
    )
