"""Deleting what people take back and what is no longer useful: a person's data (forget), one recognition
by its delete token, crops past retention, and servers the bot left. Each method is one bounded
transaction: a caller deletes in batches, and a process killed between (or during) two batches leaves a
store in which every row still there is whole (a recognition with all its faces, a face with its
corrections), because a batch's rows go together or not at all. The rows are deleted explicitly, children
first, so nothing relies on SQLite's foreign-key pragma being on.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ..records import Forgotten, Kind, Status
from .models import (
    AnswerRow,
    CharacterRow,
    CorrectionRow,
    FaceRow,
    GuildRemovalRow,
    RecognitionRow,
    ServerCharacterCropRow,
    ServerCharacterRow,
    WatchedChannelRow,
)


class Removal:
    """The deleting half of :class:`~darekana.bot.storage.Store`."""

    _session: sessionmaker[Session]

    # --- a person's data -------------------------------------------------------------------------------

    def forget_batch(self, platform: str, user_id: str, limit: int) -> Forgotten:
        """Deletes up to ``limit`` of the person's recognitions (with their faces, crops and the corrections
        on them), or, once none is left, up to ``limit`` of their corrections of anyone's faces. Nothing
        deleted (``rows == 0``): the batches are done."""
        with self._session.begin() as session:
            ids = _first_recognitions(
                session, limit, RecognitionRow.platform == platform, RecognitionRow.user_id == user_id
            )
            if ids:
                return _delete_recognitions(session, ids)
            mine = session.scalars(
                select(CorrectionRow.id)
                .where(CorrectionRow.platform == platform, CorrectionRow.user_id == user_id)
                .limit(limit)
            ).all()
            _run(session, delete(CorrectionRow).where(CorrectionRow.id.in_(mine)))
            return Forgotten(corrections=len(mine))

    def forget_rest(self, platform: str, user_id: str) -> Forgotten:
        """The person's proposals and watch-mode rows. A new name they proposed that someone else also gave
        (a correction not rejected) becomes that person's proposal instead: theirs is not lost."""
        key = f"{platform}:{user_id}"
        with self._session.begin() as session:
            proposals = session.scalars(select(CharacterRow).where(CharacterRow.proposed_by == key)).all()
            for character in proposals:
                heir = session.execute(
                    select(CorrectionRow.platform, CorrectionRow.user_id)
                    .where(CorrectionRow.label == character.label, CorrectionRow.status != Status.REJECTED)
                    .where(CorrectionRow.kind == Kind.CORRECTION)
                    .order_by(CorrectionRow.id)
                    .limit(1)
                ).first()
                if heir is None:
                    session.delete(character)
                else:
                    character.proposed_by = f"{heir.platform}:{heir.user_id}"
            watched = _run(session, delete(WatchedChannelRow).where(WatchedChannelRow.enabled_by == key))
            return Forgotten(proposals=len(proposals), watched_channels=watched)

    def delete_recognition(self, recognition_id: int, token_sha256: str) -> Forgotten | None:
        """Deletes a recognition (faces, crops, corrections on them) when ``token_sha256`` is the hash of
        its delete token; None, and nothing deleted, otherwise."""
        with self._session.begin() as session:
            stored = session.scalar(
                select(RecognitionRow.delete_token_sha256).where(RecognitionRow.id == recognition_id)
            )
            # constant time: a token cannot be found out byte by byte from response times
            if stored is None or not hmac.compare_digest(stored.encode(), token_sha256.encode()):
                return None
            return _delete_recognitions(session, [recognition_id])

    # --- crops past retention --------------------------------------------------------------------------

    def delete_old_crops(self, cutoff: datetime, now: datetime, limit: int) -> int:
        """Blanks up to ``limit`` crops (``crop_png = b""``, ``crop_deleted_at = now``) of faces asked about
        before ``cutoff`` that no feedback keeps (see :func:`_kept`); returns how many."""
        with self._session.begin() as session:
            ids = session.scalars(
                select(FaceRow.id)
                .join(RecognitionRow, FaceRow.recognition_id == RecognitionRow.id)
                .where(FaceRow.crop_deleted_at.is_(None), RecognitionRow.created_at < cutoff, ~_kept(cutoff))
                .order_by(FaceRow.id)
                .limit(limit)
            ).all()
            if ids:
                _run(session, update(FaceRow).where(FaceRow.id.in_(ids)).values(crop_png=b"", crop_deleted_at=now))
            return len(ids)

    # --- servers the bot left --------------------------------------------------------------------------

    def guild_removed(self, platform: str, guild_id: str, now: datetime) -> None:
        """Records that the bot left a server ``now`` (the first time counts, if told twice)."""
        try:
            with self._session.begin() as session:
                if session.scalar(_removal(platform, guild_id)) is None:
                    session.add(GuildRemovalRow(platform=platform, guild_id=guild_id, removed_at=now))
        except IntegrityError:  # another process recorded it at the same moment
            pass

    def guilds_with_data(self, platform: str) -> set[str]:
        """The servers anything is kept of: pictures asked about there, or characters of their own."""
        asked = select(RecognitionRow.guild_id).where(RecognitionRow.platform == platform).distinct()
        own = select(ServerCharacterRow.guild_id).where(ServerCharacterRow.platform == platform).distinct()
        with self._session() as session:
            return {g for g in session.scalars(asked) if g is not None} | set(session.scalars(own))

    def guild_back(self, platform: str, guild_id: str) -> bool:
        """Cancels a server's removal (the bot is in it again); False when none was recorded."""
        with self._session() as session:  # read first: called for every server at each start
            if session.scalar(_removal(platform, guild_id)) is None:
                return False
        with self._session.begin() as session:
            gone = _run(
                session,
                delete(GuildRemovalRow).where(
                    GuildRemovalRow.platform == platform, GuildRemovalRow.guild_id == guild_id
                ),
            )
            return gone > 0

    def guilds_removed_before(self, before: datetime) -> list[tuple[str, str]]:
        """(platform, server id) of the servers the bot left before ``before``."""
        query = select(GuildRemovalRow.platform, GuildRemovalRow.guild_id).where(GuildRemovalRow.removed_at < before)
        with self._session() as session:
            return [(platform, guild) for platform, guild in session.execute(query.order_by(GuildRemovalRow.id))]

    def purge_guild_batch(self, platform: str, guild_id: str, before: datetime, limit: int) -> Forgotten | None:
        """Deletes up to ``limit`` recognitions asked in a server the bot left before ``before``; None when it
        is not (or no longer) so: the bot came back, and nothing is deleted."""
        with self._session.begin() as session:
            if session.scalar(_removal(platform, guild_id).where(GuildRemovalRow.removed_at < before)) is None:
                return None
            ids = _first_recognitions(
                session, limit, RecognitionRow.platform == platform, RecognitionRow.guild_id == guild_id
            )
            return _delete_recognitions(session, ids)

    def end_guild_purge(self, platform: str, guild_id: str, before: datetime) -> Forgotten:
        """Once its recognitions are gone: the server's watched channels and own characters, then its removal
        record."""
        with self._session.begin() as session:
            removal = session.scalar(_removal(platform, guild_id).where(GuildRemovalRow.removed_at < before))
            if removal is None:
                return Forgotten()
            watched = _run(
                session,
                delete(WatchedChannelRow).where(
                    WatchedChannelRow.platform == platform, WatchedChannelRow.guild_id == guild_id
                ),
            )
            characters = delete_server_characters(session, platform, guild_id)
            session.delete(removal)
            return Forgotten(watched_channels=watched, server_characters=characters)


def _run(session: Session, statement: Executable) -> int:
    """Runs a bulk UPDATE or DELETE; how many rows it changed. Nothing of these rows is loaded in the
    session, so there is nothing to synchronise."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return cast(CursorResult[Any], result).rowcount or 0


def _first_recognitions(session: Session, limit: int, *where: ColumnElement[bool]) -> Sequence[int]:
    """The ids of the oldest ``limit`` recognitions matching ``where``: one batch of a deletion."""
    query = select(RecognitionRow.id).where(*where).order_by(RecognitionRow.id).limit(limit)
    return session.scalars(query).all()


def _delete_recognitions(session: Session, ids: Sequence[int]) -> Forgotten:
    """Deletes recognitions with their faces and the corrections on those faces; the bot's own posts that
    answered them stay (so a message is never answered twice, and posting budgets hold), pointing nowhere."""
    if not ids:
        return Forgotten()
    faces = select(FaceRow.id).where(FaceRow.recognition_id.in_(ids))
    corrections = _run(session, delete(CorrectionRow).where(CorrectionRow.face_id.in_(faces)))
    deleted_faces = _run(session, delete(FaceRow).where(FaceRow.recognition_id.in_(ids)))
    _run(session, update(AnswerRow).where(AnswerRow.recognition_id.in_(ids)).values(recognition_id=None))
    _run(session, delete(RecognitionRow).where(RecognitionRow.id.in_(ids)))
    return Forgotten(len(ids), deleted_faces, corrections)


def delete_server_characters(session: Session, platform: str, guild_id: str, label: str | None = None) -> int:
    """Deletes a server's own characters (one, with ``label``) and their crops, crops first; how many."""
    query = select(ServerCharacterRow.id).where(
        ServerCharacterRow.platform == platform, ServerCharacterRow.guild_id == guild_id
    )
    ids = session.scalars(query.where(ServerCharacterRow.label == label) if label is not None else query).all()
    if not ids:
        return 0
    _run(session, delete(ServerCharacterCropRow).where(ServerCharacterCropRow.character_id.in_(ids)))
    return _run(session, delete(ServerCharacterRow).where(ServerCharacterRow.id.in_(ids)))


def _kept(cutoff: datetime) -> ColumnElement[bool]:
    """A face whose crop some feedback still needs: a correction or confirmation waiting for review; an
    accepted one not yet used (exported by an operator, or enrolled), or used after ``cutoff``; a rejected one
    reviewed after ``cutoff`` (a review may still be changed within the window)."""
    needs = or_(
        CorrectionRow.status == Status.PENDING,
        and_(
            CorrectionRow.status == Status.ACCEPTED,
            or_(CorrectionRow.used_at.is_(None), CorrectionRow.used_at >= cutoff),
        ),
        and_(CorrectionRow.status == Status.REJECTED, CorrectionRow.reviewed_at >= cutoff),
    )
    return exists(select(CorrectionRow.id).where(CorrectionRow.face_id == FaceRow.id, needs))


def _removal(platform: str, guild_id: str):  # noqa: ANN202 - a select of GuildRemovalRow
    return select(GuildRemovalRow).where(GuildRemovalRow.platform == platform, GuildRemovalRow.guild_id == guild_id)
