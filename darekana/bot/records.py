"""The records the service and the store both speak: plain frozen dataclasses and enums, no database in
sight. The store (:mod:`darekana.bot.storage`) reads and writes them; the service hands them to the
platform adapters, which never see a table."""

from __future__ import annotations

from dataclasses import dataclass, field
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
