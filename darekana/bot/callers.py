"""Who asks the service and where: what every adapter translates a platform's message into."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requester:
    platform: str  # "discord", "twitter", "http"
    user_id: str

    @property
    def key(self) -> str:
        """``<platform>:<user id>``: one person, as rate limits and stored reviews and proposals name them."""
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True)
class Place:
    guild_id: str | None = None
    channel_id: str | None = None  # also the HTTP client's address: rate limits apply per channel
    message_id: str | None = None
    request_id: str | None = None
    nsfw: bool = False  # an age-restricted (NSFW) channel
