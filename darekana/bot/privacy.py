"""What people are told about their data, and taking it back.

:func:`privacy_text` says in plain words what is stored, for how long and who sees it, from the settings
the bot runs with (so the days it states are the real ones): ``/darekana privacy`` on Discord, the page and
``GET /api/v1/privacy`` over HTTP. :func:`forget` deletes everything a person ever sent or said, in
bounded batches off the event loop (``/darekana forget``, ``@bot forget`` on X).
"""

from __future__ import annotations

import asyncio
import hashlib

from . import retention
from .records import Forgotten
from .settings import Settings
from .storage import Store


async def forget(store: Store, platform: str, user_id: str) -> Forgotten:
    """Deletes the person's recognitions (faces, crops, and the corrections anyone gave on them), their
    corrections and confirmations of anyone's faces, the new names they proposed (handed to another person
    who gave the same name, if anyone did) and the channels they set to watch mode."""
    total = Forgotten()
    while (batch := await asyncio.to_thread(store.forget_batch, platform, user_id, retention.BATCH)).rows:
        total += batch
    return total + await asyncio.to_thread(store.forget_rest, platform, user_id)


def token_hash(token: str) -> str:
    """What is stored of a delete token: its sha256, so the database alone cannot delete anything."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def privacy_text(settings: Settings) -> str:
    """What darekana keeps, for how long, who sees it and how to take it back, under 2,000 characters (one
    Discord message)."""
    days, grace = settings.retention_days, settings.guild_grace_days
    crops = (
        "I keep no face crops at all."
        if days == 0
        else f"Face crops nobody corrected or confirmed are deleted after {_days(days)}."
    )
    lines = [
        "**What I keep, for how long, and who sees it**",
        "- When you ask about a picture I keep: your account id, where you asked (server, channel, message), "
        "the picture's SHA-256 fingerprint (never the picture), where each face was and what I answered, and "
        "a small crop of each face (at most 512 px).",
        f"- {crops} Crops of faces someone corrected or confirmed stay until the moderators review them; "
        f"accepted ones until they are used to teach me, plus {_days(days)}.",
        "- What you tell me (corrections, confirmations, new names) is kept with your account id for review.",
        "- The moderators of a server see only what was asked and said in that server. The bot's operators "
        "see everything, to improve the model every server shares.",
        "- Faces from age-restricted channels (or servers) are shown only in age-restricted channels (or to an "
        "operator who asks in direct messages), never taught to the shared model, and exported only when asked "
        "for by name.",
        "- A server's own characters (added by its moderators) keep their crops until they are removed; they "
        "are answered in that server only.",
        f"- When I leave a server, or it is deleted, everything asked and said there is deleted after "
        f"{_days(grace)}, unless I am back by then.",
        "- Taking it back: `/darekana forget` on Discord, a reply `@bot forget` on X, and over HTTP each "
        "answer's `delete_token` (`DELETE /api/v1/recognitions/{id}`) delete it at once. Only the ids of my "
        "own posts stay, so that I never answer one message twice.",
    ]
    return "\n".join(lines)


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"
