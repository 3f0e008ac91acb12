"""The tables. Their history is in ``migrations/versions``; change both together. The classes are named
``...Row``: the plain names belong to the recognizer's results and to :mod:`darekana.bot.records`, which
is all that leaves :mod:`darekana.bot.storage` (no row does)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

LABEL = 100  # longest label id or display name people may type
ID = 64  # platform ids (Discord snowflakes, tweet ids, HTTP request ids) are kept as text


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CharacterRow(Base):
    """A character people can name: the bundle's labels, plus any new name a correction brought."""

    __tablename__ = "characters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(LABEL), unique=True)
    name: Mapped[str] = mapped_column(String(LABEL))
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    in_bundle: Mapped[bool] = mapped_column(Boolean, default=False)
    # "<platform>:<user id>" of who first named it, until a moderator accepts it; None: everyone's
    proposed_by: Mapped[str | None] = mapped_column(String(ID))


class RecognitionRow(Base):
    __tablename__ = "recognitions"
    # forget finds a person's, a server's removal finds a server's, the sweep finds the old ones
    __table_args__ = (
        Index("ix_recognitions_user", "platform", "user_id"),
        Index("ix_recognitions_guild", "platform", "guild_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    guild_id: Mapped[str | None] = mapped_column(String(ID))
    channel_id: Mapped[str | None] = mapped_column(String(ID))
    message_id: Mapped[str | None] = mapped_column(String(ID))
    request_id: Mapped[str | None] = mapped_column(String(ID))
    user_id: Mapped[str] = mapped_column(String(ID))
    picture_sha256: Mapped[str] = mapped_column(String(64), index=True)
    bundle_version: Mapped[str] = mapped_column(String(200))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    faces_detected: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # asked in an age-restricted (NSFW) channel: its faces are shown only where such pictures may be
    nsfw: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # sha256 of the token the HTTP answer carried, which deletes this recognition; None elsewhere
    delete_token_sha256: Mapped[str | None] = mapped_column(String(64))
    faces: Mapped[list[FaceRow]] = relationship(
        back_populates="recognition", order_by="FaceRow.number", cascade="all, delete-orphan"
    )


class FaceRow(Base):
    __tablename__ = "faces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recognition_id: Mapped[int] = mapped_column(ForeignKey("recognitions.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1-based, reading order, as numbered in the reply
    x: Mapped[int] = mapped_column(Integer)
    y: Mapped[int] = mapped_column(Integer)
    w: Mapped[int] = mapped_column(Integer)
    h: Mapped[int] = mapped_column(Integer)
    whole_picture: Mapped[bool] = mapped_column(Boolean, default=False)
    crop_png: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # loaded only when asked for; b"" once deleted
    # when the crop was deleted (past retention) or found missing; None while it is kept. Indexed so the
    # sweep reads only the crops still kept, not every face ever stored.
    crop_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    label: Mapped[str] = mapped_column(String(LABEL))
    name: Mapped[str] = mapped_column(String(LABEL))
    confidence: Mapped[float] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(16))
    distance: Mapped[float] = mapped_column(Float)  # to the answer's class centre (darekana.recognizer.centres)
    candidates: Mapped[list[dict]] = mapped_column(JSON)  # [{"label", "name", "probability"}], best first
    recognition: Mapped[RecognitionRow] = relationship(back_populates="faces")


class CorrectionRow(Base):
    """What one person said about one face: ``confirmation`` (the answer was right) or ``correction``
    (it is ``label``). One row per person and face: saying again replaces what they said before."""

    __tablename__ = "corrections"
    __table_args__ = (
        UniqueConstraint("face_id", "platform", "user_id", name="uq_corrections_face_user"),
        Index("ix_corrections_user", "platform", "user_id"),  # forget finds a person's
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(LABEL))
    name: Mapped[str] = mapped_column(String(LABEL))
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(ID))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|accepted|rejected
    reviewer: Mapped[str | None] = mapped_column(String(ID))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # when an operator's export or an enrolment used it: an accepted correction's crop is kept until then,
    # plus the retention window
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    face: Mapped[FaceRow] = relationship()


class AnswerRow(Base):
    """A post the bot made (or is about to make) in answer to someone's message. Recorded before posting,
    so a crash between the two never makes the bot answer one message twice; ``message_id`` is the bot's
    own post, which people reply to with corrections."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("platform", "request_id", name="uq_answers_request"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(ID))  # the message answered
    message_id: Mapped[str | None] = mapped_column(String(ID), index=True)  # the bot's post, once made
    recognition_id: Mapped[int | None] = mapped_column(ForeignKey("recognitions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CursorRow(Base):
    """Where a poller got to (X's ``since_id``), so a restart neither misses nor repeats anything."""

    __tablename__ = "cursors"
    name: Mapped[str] = mapped_column(String(ID), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WatchedChannelRow(Base):
    """A channel where moderators asked the bot to answer "who is she?" without a mention (watch mode)."""

    __tablename__ = "watched_channels"
    __table_args__ = (UniqueConstraint("platform", "channel_id", name="uq_watched_channel"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    guild_id: Mapped[str] = mapped_column(String(ID), index=True)
    channel_id: Mapped[str] = mapped_column(String(ID))
    enabled_by: Mapped[str] = mapped_column(String(ID))  # "<platform>:<user id>" of the moderator
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GuildRemovalRow(Base):
    """A server the bot left (or that was deleted): what was asked and said there is deleted once the grace
    period has passed, unless the bot is back before (the row is then deleted)."""

    __tablename__ = "guild_removals"
    __table_args__ = (UniqueConstraint("platform", "guild_id", name="uq_guild_removal"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    guild_id: Mapped[str] = mapped_column(String(ID))
    removed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ServerCharacterRow(Base):
    """A character of one server only, enrolled by its moderators (``darekana.bot.server_characters``):
    faces asked about there are also compared with it. It is the server's, not the moderator's: it stays when
    they ask to be forgotten, and goes with the server's other data when the bot has left it."""

    __tablename__ = "server_characters"
    __table_args__ = (UniqueConstraint("platform", "guild_id", "label", name="uq_server_character"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    guild_id: Mapped[str] = mapped_column(String(ID), index=True)
    label: Mapped[str] = mapped_column(String(LABEL))  # the character's key, or the bundle's id for it
    name: Mapped[str] = mapped_column(String(LABEL))
    enrolled_by: Mapped[str] = mapped_column(String(ID))  # "<platform>:<user id>" of the moderator
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    crops: Mapped[list[ServerCharacterCropRow]] = relationship(
        order_by="ServerCharacterCropRow.number", cascade="all, delete-orphan"
    )


class ServerCharacterCropRow(Base):
    """A face crop (PNG) of a server character, kept as long as the character: its centre is embedded again
    from them when a bundle with another network is promoted. Not a ``faces`` row: retention never sees it."""

    __tablename__ = "server_character_crops"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    character_id: Mapped[int] = mapped_column(ForeignKey("server_characters.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    crop_png: Mapped[bytes] = mapped_column(LargeBinary)
