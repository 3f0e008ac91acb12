"""The records the service and the store both speak: plain frozen dataclasses and enums, no database in
sight. The store (:mod:`darekana.bot.storage`) reads and writes them; the service hands them to the
platform adapters, which never see a table."""

from __future__ import annotations

from dataclasses import astuple, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from darekana.recognizer.results import Recognition, Verdict


class Kind(StrEnum):
    """What someone said of a face."""

    CORRECTION = "correction"  # it is another character
    CONFIRMATION = "confirmation"  # the answer was right


class Status(StrEnum):
    """Where a correction or confirmation is in the moderators' review."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


STATUSES = tuple(Status)


@dataclass(frozen=True)
class RecognitionRecord:
    """A recognition to store: who asked where, the recognizer's result, and each face's crop as PNG."""

    platform: str
    user_id: str
    picture_sha256: str
    result: Recognition
    crops_png: list[bytes]
    guild_id: str | None = None
    channel_id: str | None = None
    message_id: str | None = None
    request_id: str | None = None
    nsfw: bool = False  # asked in an age-restricted channel
    delete_token_sha256: str | None = None  # of the token that deletes it (HTTP answers carry one)


@dataclass(frozen=True)
class StoredFace:
    """A face of a stored recognition, as people refer to it: by ``number`` in the answer (1-based, reading
    order), with what the bundle said of it. The crop stays in the database (see :class:`Feedback`)."""

    id: int
    recognition_id: int
    number: int
    label: str
    name: str
    verdict: Verdict
    candidates: tuple[dict[str, Any], ...]  # as the database keeps them (``Candidate.to_dict``), best first
    guild_id: str | None = None  # the server it was asked in: feedback on it is taken only there


@dataclass(frozen=True)
class Feedback:
    """A correction or confirmation with what the model had said, for review and export."""

    id: int
    face_id: int
    kind: Kind
    label: str
    name: str
    predicted_label: str
    predicted_name: str
    platform: str
    user_id: str
    created_at: datetime
    status: str
    reviewer: str | None
    picture_sha256: str
    crop_png: bytes = field(repr=False)


@dataclass(frozen=True)
class UnknownFace:
    """A stored face that may show a character the bundle does not know (see :mod:`darekana.bot.groups`)."""

    face_id: int
    crop_png: bytes = field(repr=False)
    picture_sha256: str
    asker: str  # "<platform>:<user id>" of who sent the picture
    names: tuple[tuple[str, str, str], ...] = ()  # (label, name, "<platform>:<user id>") of each correction


@dataclass(frozen=True)
class Stats:
    recognitions: int
    faces: int
    by_status: dict[str, int]
    by_kind: dict[str, int]
    most_corrected: list[tuple[str, str, int]]  # (predicted label, given label, count), most frequent first


@dataclass(frozen=True)
class Character:
    """A character people can name: the bundle's labels, plus any new name a correction brought."""

    label: str
    name: str
    aliases: list[str]
    in_bundle: bool
    proposed_by: str | None = None  # "<platform>:<user id>" until a moderator accepts it; None: everyone's


class Authority(StrEnum):
    """What a platform adapter vouches for about who is acting (the service adds the operators it knows)."""

    PERSON = "person"
    SERVER_MODERATOR = "server_moderator"  # Discord: Manage Messages in the channel, or the moderator role
    OPERATOR = "operator"  # HTTP: the moderator token


@dataclass(frozen=True)
class Scope:
    """Whose data a review, a list of groups, an export or counts cover, and whether faces asked in
    age-restricted channels are among them. Operators' scope is everything (``guild_id`` None); a server
    moderator's is what was asked and said in their server. Build one with :meth:`everything` or
    :meth:`server`; the service hands out the one a person may have (:meth:`Service.scope`)."""

    platform: str | None
    guild_id: str | None
    nsfw: bool = False  # faces from age-restricted channels are included

    @classmethod
    def everything(cls, nsfw: bool = False) -> Scope:
        return cls(None, None, nsfw)

    @classmethod
    def server(cls, platform: str, guild_id: str, nsfw: bool = False) -> Scope:
        return cls(platform, guild_id, nsfw)

    @property
    def operator(self) -> bool:
        return self.guild_id is None


@dataclass(frozen=True)
class Forgotten:
    """What a forget, a deleted recognition or a purged server removed (counts of rows)."""

    recognitions: int = 0
    faces: int = 0
    corrections: int = 0  # on those faces, and (forget) the person's own on anyone's faces
    proposals: int = 0  # new names the person proposed that nobody else uses
    watched_channels: int = 0
    server_characters: int = 0  # a purged server's own characters (forget leaves them: they are the server's)

    def __add__(self, other: Forgotten) -> Forgotten:
        return Forgotten(*(a + b for a, b in zip(astuple(self), astuple(other))))

    @property
    def rows(self) -> int:
        return sum(astuple(self))

    @property
    def text(self) -> str:
        """What the person who asked to be forgotten is told."""
        if not self.rows:
            return "I had nothing of yours: nothing to delete."
        parts = [f"{_n(self.recognitions, 'picture')} you asked about ({_n(self.faces, 'face')}, crops included)"]
        parts += [_n(self.corrections, "correction or confirmation", "corrections and confirmations")]
        parts += [f"{_n(self.proposals, 'name')} you proposed"] if self.proposals else []
        parts += [f"{_n(self.watched_channels, 'channel')} you set to watch mode"] if self.watched_channels else []
        return "Done: I deleted " + ", ".join(parts) + "."


@dataclass(frozen=True)
class ListedServerCharacter:
    """A server's own character as its moderators see it listed (its crops stay in the database)."""

    guild_id: str
    label: str
    name: str
    crops: int
    enrolled_by: str  # "<platform>:<user id>" of the moderator
    created_at: datetime


@dataclass(frozen=True)
class Swept:
    """What a sweep deleted: crops past retention, and servers past their grace period."""

    crops: int = 0
    servers: tuple[str, ...] = ()  # "<platform>:<server id>"
    purged: Forgotten = Forgotten()

    @property
    def text(self) -> str:
        servers = f"{len(self.servers)} servers past their grace period" + (
            f" ({', '.join(self.servers)}: {self.purged.recognitions} recognitions, {self.purged.faces} faces, "
            f"{self.purged.corrections} corrections, {self.purged.server_characters} server characters)"
            if self.servers
            else ""
        )
        return f"swept: {self.crops} face crops past retention; {servers}"


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"
