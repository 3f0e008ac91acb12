"""Reading and writing darekana's records. Every method is one short transaction that has committed when
it returns, so whatever a caller acknowledges to a person is already on disk. Methods block: the async
service calls them through ``asyncio.to_thread``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .models import Answer, Character, Correction, Cursor, Face, Recognition, utcnow

STATUSES = ("pending", "accepted", "rejected")


@dataclass(frozen=True)
class FaceRecord:
    number: int
    box: tuple[int, int, int, int]
    whole_picture: bool
    crop_png: bytes
    label: str
    name: str
    confidence: float
    verdict: str
    model: str
    distance: float  # to the answer's class centre (recognizer.centres)
    candidates: list[dict]


@dataclass(frozen=True)
class RecognitionRecord:
    platform: str
    user_id: str
    picture_sha256: str
    bundle_version: str
    width: int
    height: int
    faces_detected: int
    faces: list[FaceRecord]
    guild_id: str | None = None
    channel_id: str | None = None
    message_id: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class StoredFace:
    id: int
    recognition_id: int
    number: int
    label: str
    name: str
    verdict: str
    candidates: list[dict]


@dataclass(frozen=True)
class Feedback:
    """A correction or confirmation with what the model had said, for review and export."""

    id: int
    face_id: int
    kind: str
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


class Store:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def save_recognition(self, record: RecognitionRecord) -> tuple[int, list[int]]:
        """Stores a recognition with its faces; returns its id and the faces' ids in order."""
        row = Recognition(
            platform=record.platform, user_id=record.user_id, picture_sha256=record.picture_sha256,
            bundle_version=record.bundle_version, width=record.width, height=record.height,
            faces_detected=record.faces_detected, guild_id=record.guild_id, channel_id=record.channel_id,
            message_id=record.message_id, request_id=record.request_id,
            faces=[Face(number=f.number, x=f.box[0], y=f.box[1], w=f.box[2], h=f.box[3],
                        whole_picture=f.whole_picture, crop_png=f.crop_png, label=f.label, name=f.name,
                        confidence=f.confidence, verdict=f.verdict, model=f.model, distance=f.distance,
                        candidates=f.candidates) for f in record.faces])
        with self._session.begin() as session:
            session.add(row)
            session.flush()
            return row.id, [face.id for face in row.faces]

    def face(self, face_id: int) -> StoredFace | None:
        with self._session() as session:
            row = session.get(Face, face_id)
            if row is None:
                return None
            return StoredFace(row.id, row.recognition_id, row.number, row.label, row.name, row.verdict,
                              row.candidates)

    def faces_of(self, recognition_id: int) -> list[StoredFace]:
        with self._session() as session:
            rows = session.scalars(select(Face).where(Face.recognition_id == recognition_id).order_by(Face.number))
            return [StoredFace(r.id, r.recognition_id, r.number, r.label, r.name, r.verdict, r.candidates)
                    for r in rows]

    def save_feedback(self, face_id: int, kind: str, label: str, name: str, platform: str, user_id: str,
                      ) -> int | None:
        """Records what ``user_id`` says of a face, replacing what they said before (back to pending
        review). Returns the row's id, or None when the face does not exist."""
        with self._session.begin() as session:
            if session.get(Face, face_id) is None:
                return None
            row = session.scalar(select(Correction).where(
                Correction.face_id == face_id, Correction.platform == platform, Correction.user_id == user_id))
            if row is None:
                row = Correction(face_id=face_id, platform=platform, user_id=user_id)
                session.add(row)
            row.kind, row.label, row.name = kind, label, name
            row.created_at, row.status, row.reviewer, row.reviewed_at = utcnow(), "pending", None, None
            self._remember_character(session, label, name)
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
            return True

    def feedback(self, statuses: tuple[str, ...] = ("pending",), limit: int | None = None,
                 kinds: tuple[str, ...] = ("correction", "confirmation")) -> list[Feedback]:
        """Corrections and confirmations with these statuses, oldest first."""
        return list(self.iter_feedback(statuses, limit, kinds))

    def iter_feedback(self, statuses: tuple[str, ...], limit: int | None = None,
                      kinds: tuple[str, ...] = ("correction", "confirmation")) -> Iterator[Feedback]:
        query = (select(Correction, Face, Recognition.picture_sha256).join(Face, Correction.face_id == Face.id)
                 .join(Recognition, Face.recognition_id == Recognition.id)
                 .where(Correction.status.in_(statuses), Correction.kind.in_(kinds))
                 .order_by(Correction.created_at, Correction.id).limit(limit))
        with self._session() as session:
            for c, f, sha in session.execute(query):
                yield Feedback(c.id, c.face_id, c.kind, c.label, c.name, f.label, f.name, c.platform, c.user_id,
                               c.created_at, c.status, c.reviewer, sha, f.crop_png)

    def stats(self) -> Stats:
        with self._session() as session:
            count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
            by_status = dict(session.execute(select(Correction.status, func.count()).group_by(Correction.status)).all())
            by_kind = dict(session.execute(select(Correction.kind, func.count()).group_by(Correction.kind)).all())
            pairs = session.execute(
                select(Face.label, Correction.label, func.count()).join(Face, Correction.face_id == Face.id)
                .where(Correction.kind == "correction", Correction.status != "rejected")
                .group_by(Face.label, Correction.label).order_by(func.count().desc(), Face.label).limit(5)).all()
            return Stats(count(Recognition), count(Face), {s: by_status.get(s, 0) for s in STATUSES},
                         {k: by_kind.get(k, 0) for k in ("correction", "confirmation")},
                         [tuple(p) for p in pairs])

    def sync_characters(self, labels: list[tuple[str, str]]) -> None:
        """Makes the bundle's labels (id, display name) known; characters only corrections brought stay."""
        with self._session.begin() as session:
            existing = {c.label: c for c in session.scalars(select(Character))}
            for c in existing.values():
                c.in_bundle = False
            for label, name in labels:
                row = existing.get(label) or Character(label=label, aliases=[])
                row.name, row.in_bundle = name, True
                session.add(row)

    def characters(self) -> list[CharacterRow]:
        with self._session() as session:
            return [CharacterRow(c.label, c.name, list(c.aliases or []), c.in_bundle)
                    for c in session.scalars(select(Character).order_by(Character.label))]

    def add_alias(self, label: str, alias: str) -> bool:
        with self._session.begin() as session:
            row = session.scalar(select(Character).where(Character.label == label))
            if row is None:
                return False
            if alias not in (row.aliases or []):
                row.aliases = [*(row.aliases or []), alias]
            return True

    @staticmethod
    def _remember_character(session: Session, label: str, name: str) -> None:
        if session.scalar(select(Character.id).where(Character.label == label)) is None:
            session.add(Character(label=label, name=name, aliases=[], in_bundle=False))

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
            session.get(Answer, answer_id).message_id = message_id

    def answered_recognition(self, platform: str, message_id: str) -> int | None:
        """The recognition the bot's post ``message_id`` answered, for corrections made in reply to it."""
        with self._session() as session:
            return session.scalar(select(Answer.recognition_id).where(
                Answer.platform == platform, Answer.message_id == message_id))

    def answers_since(self, platform: str, since: datetime) -> int:
        """How many answers were posted (or claimed) since ``since``: what posting budgets count."""
        with self._session() as session:
            return session.scalar(select(func.count()).select_from(Answer).where(
                Answer.platform == platform, Answer.created_at >= since))

    def cursor(self, name: str) -> str | None:
        with self._session() as session:
            row = session.get(Cursor, name)
            return row.value if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self._session.begin() as session:
            row = session.get(Cursor, name) or Cursor(name=name)
            row.value, row.updated_at = value, utcnow()
            session.add(row)
