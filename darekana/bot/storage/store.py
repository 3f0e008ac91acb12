"""Reading and writing darekana's records. Every method is one short transaction that has committed when
it returns, so whatever a caller acknowledges to a person is already on disk. Methods block: the async
service calls them through ``asyncio.to_thread``. What they take and give back are the plain records of
:mod:`darekana.bot.records`; the rows of :mod:`.models` never leave this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker, undefer

from darekana.recognizer.results import Face, Verdict

from ..records import (
    STATUSES,
    Character,
    Feedback,
    Kind,
    ListedServerCharacter,
    RecognitionRecord,
    Scope,
    Stats,
    Status,
    StoredFace,
    UnknownFace,
)
from ..server_characters import ServerCharacter
from .models import (
    AnswerRow,
    CharacterRow,
    CorrectionRow,
    CursorRow,
    FaceRow,
    RecognitionRow,
    ServerCharacterCropRow,
    ServerCharacterRow,
    WatchedChannelRow,
    utcnow,
)
from .removal import Removal, delete_server_characters

# What the store's readers see when they name no scope: the whole store, faces of age-restricted channels
# included. The service always names one.
WHOLE_STORE = Scope.everything(nsfw=True)


class Store(Removal):
    def __init__(self, engine: Engine):
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    def save_recognition(self, record: RecognitionRecord, now: datetime | None = None) -> tuple[int, list[int]]:
        """Stores a recognition with its faces (``now``: when, the current time by default); returns its id
        and the faces' ids in order. An empty crop is stored as already deleted."""
        result, now = record.result, now or utcnow()
        row = RecognitionRow(
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
            nsfw=record.nsfw,
            delete_token_sha256=record.delete_token_sha256,
            created_at=now,
            faces=[
                _face_row(number, face, crop, now)
                for number, (face, crop) in enumerate(zip(result.faces, record.crops_png, strict=True), start=1)
            ],
        )
        with self._session.begin() as session:
            session.add(row)
            session.flush()
            return row.id, [face.id for face in row.faces]

    def face(self, face_id: int) -> StoredFace | None:
        query = select(FaceRow, RecognitionRow.guild_id).join(RecognitionRow).where(FaceRow.id == face_id)
        with self._session() as session:
            found = session.execute(query).first()
            return None if found is None else _stored_face(*found)

    def faces_of(self, recognition_id: int) -> list[StoredFace]:
        query = (
            select(FaceRow, RecognitionRow.guild_id)
            .join(RecognitionRow)
            .where(FaceRow.recognition_id == recognition_id)
            .order_by(FaceRow.number)
        )
        with self._session() as session:
            return [_stored_face(row, guild) for row, guild in session.execute(query)]

    def save_feedback(
        self,
        face_id: int,
        kind: Kind,
        label: str,
        name: str,
        platform: str,
        user_id: str,
        guild_id: str | None = None,
    ) -> int | None:
        """Records what ``user_id`` says of a face, replacing what they said before (back to pending
        review). Returns the row's id, or None when the face does not exist or was asked about in another
        server than ``guild_id`` (where it is said): a server's faces take feedback only there."""
        with self._session.begin() as session:
            face = session.get(FaceRow, face_id)
            if face is None or face.recognition.guild_id != guild_id:
                return None
            row = session.scalar(
                select(CorrectionRow).where(
                    CorrectionRow.face_id == face_id,
                    CorrectionRow.platform == platform,
                    CorrectionRow.user_id == user_id,
                )
            )
            if row is None:
                row = CorrectionRow(face_id=face_id, platform=platform, user_id=user_id)
                session.add(row)
            row.kind, row.label, row.name = kind, label, name
            row.created_at, row.status, row.reviewer, row.reviewed_at = utcnow(), Status.PENDING, None, None
            row.used_at = None
            self._remember_character(session, label, name, f"{platform}:{user_id}")
            session.flush()
            return row.id

    def review(self, correction_id: int, status: str, reviewer: str, scope: Scope = WHOLE_STORE) -> bool:
        """Sets a correction's status; False when there is no such correction in ``scope``."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        query = (
            select(CorrectionRow)
            .join(FaceRow, CorrectionRow.face_id == FaceRow.id)
            .join(RecognitionRow, FaceRow.recognition_id == RecognitionRow.id)
            .where(CorrectionRow.id == correction_id, in_scope(scope))
        )
        with self._session.begin() as session:
            row = session.scalar(query)
            if row is None:
                return False
            _set_status(row, status, reviewer)
            if status == Status.ACCEPTED:
                _make_everyones(session, row.label)
            return True

    def feedback(
        self,
        statuses: tuple[str, ...] = (Status.PENDING,),
        limit: int | None = None,
        kinds: tuple[str, ...] = tuple(Kind),
        scope: Scope = WHOLE_STORE,
    ) -> list[Feedback]:
        """Corrections and confirmations with these statuses in ``scope``, oldest first."""
        return list(self.iter_feedback(statuses, limit, kinds, scope))

    def iter_feedback(
        self,
        statuses: tuple[str, ...],
        limit: int | None = None,
        kinds: tuple[str, ...] = tuple(Kind),
        scope: Scope = WHOLE_STORE,
        with_crops: bool = False,
    ) -> Iterator[Feedback]:
        """:meth:`feedback` as it is read; ``with_crops``: only those whose crop is still kept (an export)."""
        query = (
            select(CorrectionRow, FaceRow, RecognitionRow.picture_sha256)
            .join(FaceRow, CorrectionRow.face_id == FaceRow.id)
            .join(RecognitionRow, FaceRow.recognition_id == RecognitionRow.id)
            .where(CorrectionRow.status.in_(statuses), CorrectionRow.kind.in_(kinds), in_scope(scope))
            .order_by(CorrectionRow.created_at, CorrectionRow.id)
            .limit(limit)
            .options(undefer(FaceRow.crop_png))
        )
        if with_crops:
            query = query.where(FaceRow.crop_deleted_at.is_(None))
        with self._session() as session:
            for correction, face, sha in session.execute(query):
                yield _feedback(correction, face, sha)

    def unknown_faces(self, limit: int, scope: Scope = WHOLE_STORE, since: datetime | None = None) -> list[UnknownFace]:
        """The newest ``limit`` faces in ``scope`` with their crop: called unknown (found by the detector,
        not whole pictures) and asked about after ``since`` (the retention window), or corrected (and not
        rejected), with the names people gave them."""
        named = select(CorrectionRow.face_id).where(_standing_correction())
        unknown = and_(FaceRow.verdict == Verdict.UNKNOWN, FaceRow.whole_picture.is_(False))
        if since is not None:
            unknown = and_(unknown, RecognitionRow.created_at >= since)
        query = (
            select(FaceRow, RecognitionRow.picture_sha256, RecognitionRow.platform, RecognitionRow.user_id)
            .join(RecognitionRow, FaceRow.recognition_id == RecognitionRow.id)
            .where(or_(unknown, FaceRow.id.in_(named)), FaceRow.crop_deleted_at.is_(None), in_scope(scope))
            .order_by(FaceRow.id.desc())
            .limit(limit)
            .options(undefer(FaceRow.crop_png))
        )
        with self._session() as session:
            rows = session.execute(query).all()
            names: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
            corrections = select(CorrectionRow).where(
                CorrectionRow.face_id.in_([face.id for face, *_ in rows]), _standing_correction()
            )
            for c in session.scalars(corrections.order_by(CorrectionRow.id)):
                names[c.face_id].append((c.label, c.name, f"{c.platform}:{c.user_id}"))
            return [
                UnknownFace(face.id, face.crop_png, sha, f"{platform}:{user}", tuple(names[face.id]))
                for face, sha, platform, user in rows
            ]

    def accept_named(self, face_ids: list[int], label: str, reviewer: str, now: datetime | None = None) -> int:
        """Accepts the pending corrections naming these faces ``label`` (its character becomes everyone's)
        and records that they were used (enrolled) ``now``; returns how many were pending."""
        now = now or utcnow()
        with self._session.begin() as session:
            named = session.scalars(
                select(CorrectionRow).where(
                    CorrectionRow.face_id.in_(face_ids),
                    CorrectionRow.label == label,
                    CorrectionRow.status.in_((Status.PENDING, Status.ACCEPTED)),
                )
            ).all()
            pending = [row for row in named if row.status == Status.PENDING]
            for row in pending:
                _set_status(row, Status.ACCEPTED, reviewer)
            for row in named:
                row.used_at = now
            _make_everyones(session, label)
            return len(pending)

    def mark_used(self, correction_ids: list[int], now: datetime) -> None:
        """Records that these accepted corrections were used (exported by an operator) ``now``: their crops
        are kept for the retention window from then on."""
        for start in range(0, len(correction_ids), 500):  # bounded IN lists
            chunk = correction_ids[start : start + 500]
            with self._session.begin() as session:
                session.execute(
                    update(CorrectionRow)
                    .where(CorrectionRow.id.in_(chunk), CorrectionRow.status == Status.ACCEPTED)
                    .values(used_at=now)
                )

    def stats(self, scope: Scope = WHOLE_STORE) -> Stats:
        """Counts of what ``scope`` covers (faces of age-restricted channels counted whatever it says: a count
        shows no face)."""
        scope = Scope(scope.platform, scope.guild_id, nsfw=True)
        recognitions = select(RecognitionRow.id).where(in_scope(scope))
        faces = select(FaceRow.id).join(RecognitionRow).where(in_scope(scope))
        corrections = (
            select(CorrectionRow)
            .join(FaceRow, CorrectionRow.face_id == FaceRow.id)
            .join(RecognitionRow, FaceRow.recognition_id == RecognitionRow.id)
            .where(in_scope(scope))
            .subquery()
        )
        with self._session() as session:

            def count(query) -> int:  # noqa: ANN001 - a select
                return session.scalar(select(func.count()).select_from(query.subquery())) or 0

            def tally(column: str) -> dict[str, int]:
                grouped = select(corrections.c[column], func.count()).group_by(corrections.c[column])
                return {key: int(n) for key, n in session.execute(grouped).all()}

            by_status, by_kind = tally("status"), tally("kind")
            pairs = session.execute(
                select(FaceRow.label, corrections.c.label, func.count())
                .join(FaceRow, corrections.c.face_id == FaceRow.id)
                .where(corrections.c.kind == Kind.CORRECTION, corrections.c.status != Status.REJECTED)
                .group_by(FaceRow.label, corrections.c.label)
                .order_by(func.count().desc(), FaceRow.label)
                .limit(5)
            ).all()
            return Stats(
                count(recognitions),
                count(faces),
                {s.value: by_status.get(s, 0) for s in Status},
                {k.value: by_kind.get(k, 0) for k in Kind},
                [(said, given, int(n)) for said, given, n in pairs],
            )

    def sync_characters(self, labels: list[tuple[str, str]]) -> None:
        """Makes the bundle's labels (id, display name) known; characters only corrections brought stay."""
        with self._session.begin() as session:
            existing = {c.label: c for c in session.scalars(select(CharacterRow))}
            for c in existing.values():
                c.in_bundle = False
            for label, name in labels:
                row = existing.get(label) or CharacterRow(label=label, aliases=[])
                row.name, row.in_bundle, row.proposed_by = name, True, None
                session.add(row)

    def characters(self) -> list[Character]:
        with self._session() as session:
            return [
                Character(c.label, c.name, list(c.aliases or []), c.in_bundle, c.proposed_by)
                for c in session.scalars(select(CharacterRow).order_by(CharacterRow.label))
            ]

    @staticmethod
    def _remember_character(session: Session, label: str, name: str, proposer: str) -> None:
        if session.scalar(select(CharacterRow.id).where(CharacterRow.label == label)) is None:
            session.add(CharacterRow(label=label, name=name, aliases=[], in_bundle=False, proposed_by=proposer))

    def claim_answer(self, platform: str, request_id: str, recognition_id: int | None) -> int | None:
        """Records that the bot is about to answer message ``request_id``; None when it already did (or
        started to), so the caller must not post."""
        try:
            with self._session.begin() as session:
                row = AnswerRow(platform=platform, request_id=request_id, recognition_id=recognition_id)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    def answer_posted(self, answer_id: int, message_id: str) -> None:
        with self._session.begin() as session:
            session.get_one(AnswerRow, answer_id).message_id = message_id

    def answered_recognition(self, platform: str, message_id: str) -> int | None:
        """The recognition the bot's post ``message_id`` answered, for corrections made in reply to it."""
        with self._session() as session:
            return session.scalar(
                select(AnswerRow.recognition_id).where(
                    AnswerRow.platform == platform, AnswerRow.message_id == message_id
                )
            )

    def answers_since(self, platform: str, since: datetime) -> int:
        """How many answers were posted (or claimed) since ``since``: what posting budgets count."""
        query = select(func.count()).select_from(AnswerRow)
        with self._session() as session:
            return session.scalar(query.where(AnswerRow.platform == platform, AnswerRow.created_at >= since)) or 0

    def cursor(self, name: str) -> str | None:
        with self._session() as session:
            row = session.get(CursorRow, name)
            return row.value if row else None

    def set_cursor(self, name: str, value: str) -> None:
        with self._session.begin() as session:
            row = session.get(CursorRow, name) or CursorRow(name=name)
            row.value, row.updated_at = value, utcnow()
            session.add(row)

    def set_watched(self, platform: str, guild_id: str, channel_id: str, on: bool, by: str) -> bool:
        """Turns watch mode on or off for a channel; False when it already was so."""
        try:
            with self._session.begin() as session:
                row = session.scalar(
                    select(WatchedChannelRow).where(
                        WatchedChannelRow.platform == platform, WatchedChannelRow.channel_id == channel_id
                    )
                )
                if (row is not None) == on:
                    return False
                if on:
                    session.add(
                        WatchedChannelRow(platform=platform, guild_id=guild_id, channel_id=channel_id, enabled_by=by)
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
                select(WatchedChannelRow.id).where(
                    WatchedChannelRow.platform == platform, WatchedChannelRow.channel_id.in_(channel_ids)
                )
            )
            return found is not None

    def watched_channels(self, platform: str, guild_id: str) -> list[str]:
        """The watched channels of a server, oldest first."""
        with self._session() as session:
            return list(
                session.scalars(
                    select(WatchedChannelRow.channel_id)
                    .where(WatchedChannelRow.platform == platform, WatchedChannelRow.guild_id == guild_id)
                    .order_by(WatchedChannelRow.id)
                )
            )

    # --- servers' own characters (darekana.bot.server_characters) -------------------------------------

    def add_server_character(self, platform: str, character: ServerCharacter, enrolled_by: str, now: datetime) -> bool:
        """Stores a server's own character with its crops; False when that server has one by that label."""
        row = ServerCharacterRow(
            platform=platform,
            guild_id=character.guild_id,
            label=character.label,
            name=character.name,
            enrolled_by=enrolled_by,
            created_at=now,
            crops=[ServerCharacterCropRow(number=n, crop_png=png) for n, png in enumerate(character.crops, start=1)],
        )
        try:
            with self._session.begin() as session:
                if session.scalar(_server_characters(platform, character.guild_id, character.label)) is not None:
                    return False
                session.add(row)
            return True
        except IntegrityError:  # another process enrolled it at the same moment
            return False

    def server_characters(self, platform: str, guild_id: str | None = None) -> list[ServerCharacter]:
        """The servers' own characters with their crops (one server's, with ``guild_id``), oldest first."""
        query = _server_characters(platform, guild_id).options(selectinload(ServerCharacterRow.crops))
        with self._session() as session:
            return [
                ServerCharacter(row.guild_id, row.label, row.name, tuple(crop.crop_png for crop in row.crops))
                for row in session.scalars(query.order_by(ServerCharacterRow.id))
            ]

    def server_character_ids(self, platform: str, guild_id: str | None = None) -> dict[str, tuple[int, ...]]:
        """Each server's own characters' row ids, sorted (one server's, with ``guild_id``): any addition or
        removal changes them."""
        query = select(ServerCharacterRow.guild_id, ServerCharacterRow.id).where(
            ServerCharacterRow.platform == platform
        )
        if guild_id is not None:
            query = query.where(ServerCharacterRow.guild_id == guild_id)
        ids: dict[str, list[int]] = {}
        with self._session() as session:
            for guild, row_id in session.execute(query.order_by(ServerCharacterRow.id)):
                ids.setdefault(guild, []).append(row_id)
        return {guild: tuple(rows) for guild, rows in ids.items()}

    def listed_server_characters(self, platform: str, guild_id: str) -> list[ListedServerCharacter]:
        """A server's own characters as listed, oldest first, without reading their crops."""
        crops = (
            select(func.count(ServerCharacterCropRow.id))
            .where(ServerCharacterCropRow.character_id == ServerCharacterRow.id)
            .scalar_subquery()
        )
        query = select(ServerCharacterRow, crops).where(
            ServerCharacterRow.platform == platform, ServerCharacterRow.guild_id == guild_id
        )
        with self._session() as session:
            return [
                ListedServerCharacter(row.guild_id, row.label, row.name, count, row.enrolled_by, row.created_at)
                for row, count in session.execute(query.order_by(ServerCharacterRow.id))
            ]

    def delete_server_character(self, platform: str, guild_id: str, label: str) -> bool:
        """Deletes one of a server's own characters and its crops; False when it has none by that label."""
        with self._session.begin() as session:
            return delete_server_characters(session, platform, guild_id, label) > 0


def _server_characters(platform: str, guild_id: str | None, label: str | None = None):  # noqa: ANN202 - a select
    query = select(ServerCharacterRow).where(ServerCharacterRow.platform == platform)
    if guild_id is not None:
        query = query.where(ServerCharacterRow.guild_id == guild_id)
    return query.where(ServerCharacterRow.label == label) if label is not None else query


def in_scope(scope: Scope) -> ColumnElement[bool]:
    """The recognitions ``scope`` covers (for queries joined to ``recognitions``)."""
    conditions: list[ColumnElement[bool]] = [] if scope.nsfw else [RecognitionRow.nsfw.is_(False)]
    if not scope.operator:
        conditions += [RecognitionRow.platform == scope.platform, RecognitionRow.guild_id == scope.guild_id]
    return and_(true(), *conditions)


def _face_row(number: int, face: Face, crop_png: bytes, now: datetime) -> FaceRow:
    return FaceRow(
        number=number,
        x=face.box.x,
        y=face.box.y,
        w=face.box.w,
        h=face.box.h,
        whole_picture=face.whole_picture,
        crop_png=crop_png,
        crop_deleted_at=None if crop_png else now,  # none stored (retention 0, or no crop): as if deleted
        label=face.label,
        name=face.name,
        confidence=face.confidence,
        verdict=face.verdict.value,
        model=face.model.value,
        distance=face.distance,
        candidates=[c.to_dict() for c in face.candidates],
    )


def _stored_face(row: FaceRow, guild_id: str | None) -> StoredFace:
    candidates = tuple(row.candidates)
    verdict = Verdict(row.verdict)
    return StoredFace(row.id, row.recognition_id, row.number, row.label, row.name, verdict, candidates, guild_id)


def _feedback(correction: CorrectionRow, face: FaceRow, picture_sha256: str) -> Feedback:
    c = correction
    return Feedback(
        id=c.id,
        face_id=c.face_id,
        kind=Kind(c.kind),
        label=c.label,
        name=c.name,
        predicted_label=face.label,
        predicted_name=face.name,
        platform=c.platform,
        user_id=c.user_id,
        created_at=c.created_at,
        status=c.status,
        reviewer=c.reviewer,
        picture_sha256=picture_sha256,
        crop_png=face.crop_png,
    )


def _standing_correction() -> ColumnElement[bool]:
    """A correction (not a confirmation) that moderators have not rejected: what counts as a name people gave."""
    return and_(CorrectionRow.kind == Kind.CORRECTION, CorrectionRow.status != Status.REJECTED)


def _set_status(row: CorrectionRow, status: str, reviewer: str) -> None:
    row.status, row.reviewer, row.reviewed_at = status, reviewer, utcnow()


def _make_everyones(session: Session, label: str) -> None:
    """An accepted correction's character, if someone proposed it, becomes one everyone can name."""
    character = session.scalar(select(CharacterRow).where(CharacterRow.label == label))
    if character is not None:
        character.proposed_by = None
