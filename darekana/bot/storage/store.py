"""Reading and writing darekana's records. Every method is one short transaction that has committed when
it returns, so whatever a caller acknowledges to a person is already on disk. Methods block: the async
service calls them through ``asyncio.to_thread``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker, undefer

from darekana.recognizer.engine import Recognition as Recognized
from darekana.recognizer.engine import candidates_to_dicts

from .models import Answer, Base, Character, Correction, Cursor, Face, Recognition, WatchedChannel, utcnow


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
    result: Recognized
    crops_png: list[bytes]
    guild_id: str | None = None
    channel_id: str | None = None
    message_id: str | None = None
    request_id: str | None = None


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
class CharacterRow:
    label: str
    name: str
    aliases: list[str]
    in_bundle: bool
    proposed_by: str | None = None  # "<platform>:<user id>" until a moderator accepts it; None: everyone's


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def save_recognition(self, record: RecognitionRecord) -> tuple[int, list[int]]:
        """Stores a recognition with its faces; returns its id and the faces' ids in order."""
        result = record.result
        row = Recognition(
            platform=record.platform,
            user_id=record.user_id,
            picture_sha256=record.picture_sha256,
            bundle_version=result.bundle,
            width=result.width,
            height=result.height,
            faces_detected=result.faces_detected,
            guild_id=record.guild_id,
            channel_id=record.channel_id,
            message_id=record.message_id,
            request_id=record.request_id,
            faces=[
                Face(
                    number=number,
                    x=f.box.x,
                    y=f.box.y,
                    w=f.box.w,
                    h=f.box.h,
                    whole_picture=f.whole_picture,
                    crop_png=crop,
                    label=f.label,
                    name=f.name,
                    confidence=f.confidence,
                    verdict=f.verdict.value,
                    model=f.model.value,
                    distance=f.distance,
                    candidates=candidates_to_dicts(f.candidates),
                )
                for number, (f, crop) in enumerate(zip(result.faces, record.crops_png, strict=True), start=1)
            ],
        )
        with self._session.begin() as session:
            session.add(row)
            session.flush()
            return row.id, [face.id for face in row.faces]

    def face(self, face_id: int) -> Face | None:
        """The stored face (detached: its crop is not loaded)."""
        with self._session() as session:
            return session.get(Face, face_id)

    def faces_of(self, recognition_id: int) -> list[Face]:
        with self._session() as session:
            return list(
                session.scalars(select(Face).where(Face.recognition_id == recognition_id).order_by(Face.number))
            )

    def save_feedback(
        self,
        face_id: int,
        kind: Kind,
        label: str,
        name: str,
        platform: str,
        user_id: str,
    ) -> int | None:
        """Records what ``user_id`` says of a face, replacing what they said before (back to pending
        review). Returns the row's id, or None when the face does not exist."""
        with self._session.begin() as session:
            if session.get(Face, face_id) is None:
                return None
            row = session.scalar(
                select(Correction).where(
                    Correction.face_id == face_id, Correction.platform == platform, Correction.user_id == user_id
                )
            )
            if row is None:
                row = Correction(face_id=face_id, platform=platform, user_id=user_id)
                session.add(row)
            row.kind, row.label, row.name = kind, label, name
            row.created_at, row.status, row.reviewer, row.reviewed_at = utcnow(), Status.PENDING, None, None
            self._remember_character(session, label, name, f"{platform}:{user_id}")
            session.flush()
            return row.id

    def review(self, correction_id: int, status: str, reviewer: str) -> bool:
        """Sets a correction's status; False when there is no such correction."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        with self._session.begin() as session:
            row = session.get(Correction, correction_id)
            if row is None:
                return False
            row.status, row.reviewer, row.reviewed_at = status, reviewer, utcnow()
            if status == Status.ACCEPTED:  # a character it proposed becomes everyone's
                character = session.scalar(select(Character).where(Character.label == row.label))
                if character is not None:
                    character.proposed_by = None
            return True

    def feedback(
        self,
        statuses: tuple[str, ...] = (Status.PENDING,),
        limit: int | None = None,
        kinds: tuple[str, ...] = tuple(Kind),
    ) -> list[Feedback]:
        """Corrections and confirmations with these statuses, oldest first."""
        return list(self.iter_feedback(statuses, limit, kinds))

    def iter_feedback(
        self, statuses: tuple[str, ...], limit: int | None = None, kinds: tuple[str, ...] = tuple(Kind)
    ) -> Iterator[Feedback]:
        query = (
            select(Correction, Face, Recognition.picture_sha256)
            .join(Face, Correction.face_id == Face.id)
            .join(Recognition, Face.recognition_id == Recognition.id)
            .where(Correction.status.in_(statuses), Correction.kind.in_(kinds))
            .order_by(Correction.created_at, Correction.id)
            .limit(limit)
            .options(undefer(Face.crop_png))
        )
        with self._session() as session:
            for c, f, sha in session.execute(query):
                yield Feedback(
                    c.id,
                    c.face_id,
                    Kind(c.kind),
                    c.label,
                    c.name,
                    f.label,
                    f.name,
                    c.platform,
                    c.user_id,
                    c.created_at,
                    c.status,
                    c.reviewer,
                    sha,
                    f.crop_png,
                )

    def unknown_faces(self, limit: int) -> list[UnknownFace]:
        """The newest ``limit`` faces called unknown (found by the detector, not whole pictures) or corrected
        (and not rejected), with the names people gave them."""
        named = select(Correction.face_id).where(
            Correction.kind == Kind.CORRECTION, Correction.status != Status.REJECTED
        )
        query = (
            select(Face, Recognition.picture_sha256, Recognition.platform, Recognition.user_id)
            .join(Recognition, Face.recognition_id == Recognition.id)
            .where(or_(and_(Face.verdict == "unknown", Face.whole_picture.is_(False)), Face.id.in_(named)))
            .order_by(Face.id.desc())
            .limit(limit)
            .options(undefer(Face.crop_png))
        )
        with self._session() as session:
            rows = session.execute(query).all()
            names: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
            corrections = select(Correction).where(
                Correction.face_id.in_([face.id for face, *_ in rows]),
                Correction.kind == Kind.CORRECTION,
                Correction.status != Status.REJECTED,
            )
            for c in session.scalars(corrections.order_by(Correction.id)):
                names[c.face_id].append((c.label, c.name, f"{c.platform}:{c.user_id}"))
            return [
                UnknownFace(face.id, face.crop_png, sha, f"{platform}:{user}", tuple(names[face.id]))
                for face, sha, platform, user in rows
            ]

    def accept_named(self, face_ids: list[int], label: str, reviewer: str) -> int:
        """Accepts the pending corrections naming these faces ``label`` (its character becomes everyone's);
        returns how many."""
        with self._session.begin() as session:
            pending = session.scalars(
                select(Correction).where(
                    Correction.face_id.in_(face_ids), Correction.label == label, Correction.status == Status.PENDING
                )
            ).all()
            for row in pending:
                row.status, row.reviewer, row.reviewed_at = Status.ACCEPTED, reviewer, utcnow()
            character = session.scalar(select(Character).where(Character.label == label))
            if character is not None:
                character.proposed_by = None
            return len(pending)

    def stats(self) -> Stats:
        with self._session() as session:

            def count(model: type[Base]) -> int:
                return session.scalar(select(func.count()).select_from(model)) or 0

            by_status = dict(session.execute(select(Correction.status, func.count()).group_by(Correction.status)).all())
            by_kind = dict(session.execute(select(Correction.kind, func.count()).group_by(Correction.kind)).all())
            pairs = session.execute(
                select(Face.label, Correction.label, func.count())
                .join(Face, Correction.face_id == Face.id)
                .where(Correction.kind == Kind.CORRECTION, Correction.status != Status.REJECTED)
                .group_by(Face.label, Correction.label)
                .order_by(func.count().desc(), Face.label)
                .limit(5)
            ).all()
            return Stats(
                count(Recognition),
                count(Face),
                {s.value: by_status.get(s, 0) for s in Status},
                {k.value: by_kind.get(k, 0) for k in Kind},
                [(said, given, int(n)) for said, given, n in pairs],
            )

    def sync_characters(self, labels: list[tuple[str, str]]) -> None:
        """Makes the bundle's labels (id, display name) known; characters only corrections brought stay."""
        with self._session.begin() as session:
            existing = {c.label: c for c in session.scalars(select(Character))}
            for c in existing.values():
                c.in_bundle = False
            for label, name in labels:
                row = existing.get(label) or Character(label=label, aliases=[])
                row.name, row.in_bundle, row.proposed_by = name, True, None
                session.add(row)

    def characters(self) -> list[CharacterRow]:
        with self._session() as session:
            return [
                CharacterRow(c.label, c.name, list(c.aliases or []), c.in_bundle, c.proposed_by)
                for c in session.scalars(select(Character).order_by(Character.label))
            ]

    @staticmethod
    def _remember_character(session: Session, label: str, name: str, proposer: str) -> None:
        if session.scalar(select(Character.id).where(Character.label == label)) is None:
            session.add(Character(label=label, name=name, aliases=[], in_bundle=False, proposed_by=proposer))

    def claim_answer(self, platform: str, request_id: str, recognition_id: int | None) -> int | None:
        """Records that the bot is about to answer message ``request_id``; None when it already did (or
        started to), so the caller must not post."""
        try:
            with self._session.begin() as session:
                row = Answer(platform=platform, request_id=request_id, recognition_id=recognition_id)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    def answer_posted(self, answer_id: int, message_id: str) -> None:
        with self._session.begin() as session:
            session.get_one(Answer, answer_id).message_id = message_id

    def answered_recognition(self, platform: str, message_id: str) -> int | None:
        """The recognition the bot's post ``message_id`` answered, for corrections made in reply to it."""
        with self._session() as session:
            return session.scalar(
                select(Answer.recognition_id).where(Answer.platform == platform, Answer.message_id == message_id)
            )

    def answers_since(self, platform: str, since: datetime) -> int:
        """How many answers were posted (or claimed) since ``since``: what posting budgets count."""
        with self._session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Answer)
                    .where(Answer.platform == platform, Answer.created_at >= since)
                )
                or 0
            )

    def cursor(self, name: str) -> str | None:
        with self._session() as session:
            row = session.get(Cursor, name)
            return row.value if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self._session.begin() as session:
            row = session.get(Cursor, name) or Cursor(name=name)
            row.value, row.updated_at = value, utcnow()
            session.add(row)

    def set_watched(self, platform: str, guild_id: str, channel_id: str, on: bool, by: str) -> bool:
        """Turns watch mode on or off for a channel; False when it already was so."""
        try:
            with self._session.begin() as session:
                row = session.scalar(
                    select(WatchedChannel).where(
                        WatchedChannel.platform == platform, WatchedChannel.channel_id == channel_id
                    )
                )
                if (row is not None) == on:
                    return False
                if on:
                    session.add(
                        WatchedChannel(platform=platform, guild_id=guild_id, channel_id=channel_id, enabled_by=by)
                    )
                else:
                    session.delete(row)
                return True
        except IntegrityError:  # another process turned it on at the same moment
            return False

    def watching(self, platform: str, channel_ids: list[str]) -> bool:
        """Whether any of these channels (a thread and the channel it is in) is watched."""
        with self._session() as session:
            found = session.scalar(
                select(WatchedChannel.id).where(
                    WatchedChannel.platform == platform, WatchedChannel.channel_id.in_(channel_ids)
                )
            )
            return found is not None

    def watched_channels(self, platform: str, guild_id: str) -> list[str]:
        """The watched channels of a server, oldest first."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(WatchedChannel.channel_id)
                    .where(WatchedChannel.platform == platform, WatchedChannel.guild_id == guild_id)
                    .order_by(WatchedChannel.id)
                )
            )
