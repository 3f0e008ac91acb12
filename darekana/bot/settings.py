"""Settings of the running bot, read from ``DAREKANA_*`` environment variables (``.env`` is loaded first
by ``darekana``; the environment wins). Every field's default is what ``.env.example`` shows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from darekana.recognizer.detect import MULTI_SCALE
from darekana.recognizer.images import DecodeLimits
from darekana.recognizer.layout import CURRENT_BUNDLE

from .fetch import FetchLimits

PREFIX = "DAREKANA_"
MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    bundle: Path = CURRENT_BUNDLE
    bundle_poll_s: float = 5.0  # how often serve checks where the bundle path (a link) points; 0: only on SIGHUP
    database_url: str = "sqlite:///data/darekana.sqlite3"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    discord_token: str = ""
    discord_moderator_role: str = ""  # a role name or id; Manage Messages always counts as moderator
    discord_shard_count: int = 0  # shards in all; 0: as many as Discord advises, all run by this process
    discord_shard_ids: str = ""  # the shards this process runs ("0,1"), to split a large bot over processes
    moderator_token: str = ""  # bearer token for the HTTP API's moderator endpoints (operators); empty disables them
    # The bot's operators: Discord user ids ("1234,5678") who review, export and enroll for the shared model
    # and see every server's data; a server's moderators see their server's only.
    operators: str = ""
    recognition_workers: int = 0  # recognitions running at once; 0: one per core (the detector takes no lock)
    detect_multi_scale: bool = False  # also detect at twice and half the size (small heads; several times slower)
    queue_size: int = 16  # recognitions allowed to wait; beyond that the reply is "busy, try again"
    user_rate: str = "6/60"  # requests per seconds, per user
    channel_rate: str = "30/60"  # requests per seconds, per channel (or per HTTP client address)
    feedback_rate: str = "20/60"  # corrections and confirmations per seconds, per person
    feedback_channel_rate: str = "60/60"  # and per channel (or per HTTP client address)
    max_picture_mb: float = DecodeLimits.max_bytes / MB
    fetch_timeout_s: float = FetchLimits.timeout_s
    picture_budget_s: float = 2.0  # longest one picture may take to read and recognise (~5× a 2048 px one)
    body_timeout_s: float = 30.0  # an HTTP request body must arrive within this (slow uploads hold a connection)
    # X (Twitter): polled only when the four OAuth 1.0a credentials are set; every read and post is billed.
    twitter_bearer_token: str = ""  # optional: app-only reads; the user credentials read otherwise
    twitter_consumer_key: str = ""
    twitter_consumer_secret: str = ""
    twitter_access_token: str = ""
    twitter_access_token_secret: str = ""
    twitter_poll_seconds: float = 120.0  # between two reads of the mentions
    twitter_replies_per_hour: int = 5  # posts of any kind (answers and acknowledgements)
    twitter_replies_per_day: int = 17  # low on purpose: each post is billed (0 turns posting off)
    twitter_only_confident: bool = True  # answer only when at least one face is named with confidence
    # Watch mode (Discord, per channel, `/darekana watch on`): answering "who is she?" asked of a picture
    # without a mention. Phrases: "|" between them; empty: darekana.bot.questions.DEFAULT_PHRASES.
    watch_phrases: str = ""
    watch_rate: str = "3/60"  # answers per seconds in one watched channel
    watch_only_confident: bool = True  # answer only when at least one face is named with confidence
    # Enrolling a group of faces (moderators): how many different people must have sent or named its faces,
    # and the largest loss the gate accepts in top-1 and known false rejection on held-back faces. Looser
    # than `train compare`'s 0.01: a new centre takes a few known faces, 0-3 of animeface-10's 113 (measured).
    enroll_min_people: int = 2
    enroll_tolerance: float = 0.03
    # Privacy. Face crops nobody gave feedback on are deleted after this many days (0: never stored);
    # pending corrections' crops stay until reviewed, accepted ones until used (exported or enrolled) plus
    # this window. What was asked in a server the bot left is deleted after the grace days, unless it is back.
    retention_days: int = 30
    guild_grace_days: int = 7
    sweep_interval_s: float = 3600.0  # how often `darekana serve` sweeps; 0: never (run `darekana db sweep`)

    @property
    def max_picture_bytes(self) -> int:
        return int(self.max_picture_mb * MB)

    def discord_shards(self) -> tuple[int | None, list[int] | None]:
        """Shard count and this process's shard ids for ``discord.AutoShardedClient`` (None: as Discord advises,
        all of them)."""
        count = self.discord_shard_count or None
        if not self.discord_shard_ids.strip():
            return count, None
        try:
            ids = sorted({int(part) for part in self.discord_shard_ids.split(",")})
        except ValueError:
            raise ValueError(f"{PREFIX}DISCORD_SHARD_IDS={self.discord_shard_ids!r} should look like 0,1") from None
        if count is None:
            raise ValueError(f"{PREFIX}DISCORD_SHARD_IDS needs {PREFIX}DISCORD_SHARD_COUNT (the shards in all)")
        if ids[0] < 0 or ids[-1] >= count:
            raise ValueError(f"{PREFIX}DISCORD_SHARD_IDS are among 0 to {count - 1} for {count} shards")
        return count, ids

    def operator_ids(self) -> frozenset[str]:
        """The operators' Discord user ids."""
        ids = frozenset(part.strip() for part in self.operators.split(",") if part.strip())
        if not all(part.isascii() and part.isdecimal() for part in ids):
            raise ValueError(f"{PREFIX}OPERATORS={self.operators!r} should be Discord user ids, like 1234,5678")
        return ids

    def workers(self) -> int:
        return self.recognition_workers or os.cpu_count() or 1

    def detection(self) -> dict[str, object] | None:
        """Overrides of the bundle's detector options (``recognizer.Recognizer``'s ``detection``)."""
        return {"scales": MULTI_SCALE} if self.detect_multi_scale else None

    def threads_per_recognition(self) -> int:
        """ONNX Runtime threads for each recognition: the cores shared out, so workers do not contend."""
        return max(1, (os.cpu_count() or 1) // self.workers())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls, f.name)) if not isinstance(f.default, Path) else Path
            try:
                values[f.name] = _boolean(raw) if kind is bool else kind(raw)
            except ValueError:
                raise ValueError(f"{PREFIX}{f.name.upper()}={raw!r} is not a valid {kind.__name__}") from None
        settings = cls(**values)
        rates = (settings.user_rate, settings.channel_rate, settings.feedback_rate, settings.feedback_channel_rate)
        for rate in (*rates, settings.watch_rate):
            parse_rate(rate)
        settings.discord_shards()
        settings.operator_ids()
        for name in ("retention_days", "guild_grace_days", "sweep_interval_s"):
            if getattr(settings, name) < 0:
                raise ValueError(f"{PREFIX}{name.upper()} must be 0 or more")
        return settings


def _boolean(text: str) -> bool:
    # bool("false") is True: read the words people write instead
    words = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
    try:
        return words[text.strip().lower()]
    except KeyError:
        raise ValueError(text) from None


def parse_rate(text: str) -> tuple[int, float]:
    """``"6/60"`` → (6 requests, 60.0 seconds)."""
    try:
        count, seconds = text.split("/")
        rate = int(count), float(seconds)
    except ValueError:
        raise ValueError(f"rate {text!r} should look like 6/60 (requests/seconds)") from None
    if rate[0] < 1 or rate[1] <= 0:
        raise ValueError(f"rate {text!r} should allow at least one request in a positive time")
    return rate
