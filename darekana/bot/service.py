"""The one place where the bot's behaviour lives. Discord, X and HTTP adapters only translate to and from
these calls::

    service = await Service.start(Settings.from_env())
    reply = await service.whois(picture_bytes, Requester("http", "203.0.113.7"))
    print(reply.text)                      # "1. Hatsune Miku (97%)"
    await service.correct(reply.face_ids[0], "kagamine rin", Requester("discord", "1234"))

The rules every platform shares live here too: an answer is claimed in the database before it is posted
(:meth:`Service.answer_once`), so several processes on one database never answer a message twice; a face
is found by its number in an answer (:meth:`Service.face_number`); which answers are worth a post where
nobody asked the bot by name, or where posts are billed (:meth:`Service.worth_posting`, through
:meth:`Service.reply_to_post` on X and :meth:`Service.answer_unasked` in watch mode); which messages watch
mode takes up (:meth:`Service.watched_question`).

Who may see and do what is decided here too (:meth:`Service.scope`): the bot's operators act on the whole
store and the shared model, a server's moderators on what was asked and said in their server, and faces
asked about in age-restricted channels are shown only where such pictures may be. So is what people can
take back (:meth:`Service.forget`, :meth:`Service.delete_recognition`) and how long crops are kept
(:meth:`Service.sweep`, see :mod:`darekana.bot.retention` and :mod:`darekana.bot.privacy`).

What the service hands back is plain data: its own replies below, and the records of
:mod:`darekana.bot.records`; no adapter sees the database.

Every failure a person can cause raises a :class:`darekana.bot.errors.ServiceError` whose message can be
shown to them; nothing is stored then. What has been acknowledged has been committed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from darekana.recognizer.annotate import annotate
from darekana.recognizer.bundle import BundleError
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.images import DecodeLimits, ImageError, decode_image, fit
from darekana.recognizer.results import Recognition, Verdict
from darekana.recognizer.sandbox import Decoders

from . import enrolment, privacy, retention
from .bundles import promote
from .callers import Place, Requester
from .characters import Match, resolve
from .errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited, ServiceError
from .export import dataset_zip
from .fetch import FetchError, FetchLimits, fetch_picture
from .galleries import ServerGalleries
from .groups import Group, group_faces
from .limits import RateLimiter, WorkQueue
from .metrics import Metrics
from .polling import PollState
from .questions import Questions
from .records import (
    STATUSES,
    Authority,
    Character,
    Feedback,
    Forgotten,
    Kind,
    ListedServerCharacter,
    RecognitionRecord,
    Scope,
    Stats,
    Status,
    StoredFace,
    Swept,
)
from .replies import Ack, Enrolled, Reply, ServerEnrolled, told
from .server_characters import SERVER_PLATFORM, SERVER_PREFIX, ServerCharacter, is_server_answer
from .settings import Settings, parse_rate
from .storage import Store, open_database, upgrade

CROP_MAX_SIDE = 512  # stored crops: enough for retraining at any input size the bundles use
GROUPED_FACES = 1000  # the newest faces grouped for moderators: seconds of work, done when they ask
ANNOTATED_MAX_SIDE = 1280
# The scope of callers that name none (the command line, tests): an operator's, without NSFW faces.
OPERATOR = Scope.everything()
# The most crops a server's own character keeps (its centre is their mean: more change it little, and each is
# embedded again with a new network).
SERVER_CHARACTER_CROPS = 50
# Over HTTP there is no account to forget: each answer carries a token that deletes it.
TOKEN_PLATFORMS = frozenset({"http"})

log = logging.getLogger("darekana")


@dataclass(frozen=True)
class _Recognized:
    result: Recognition
    sha256: str
    crops: list[bytes]
    annotated: bytes | None
    server_faces: frozenset[int] = frozenset()  # indexes of the faces one of the server's own characters named


class Service:
    def __init__(
        self,
        recognizer: Recognizer,
        store: Store,
        settings: Settings = Settings(),
        fetch_limits: FetchLimits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.recognizer, self.store, self.settings = recognizer, store, settings
        self.clock = clock  # what retention, grace periods and stored times count from (tests set it)
        self.operators = settings.operator_ids()
        self.decode_limits = DecodeLimits(max_bytes=settings.max_picture_bytes)
        self.fetch_limits = fetch_limits or FetchLimits(
            max_bytes=self.decode_limits.max_bytes, timeout_s=settings.fetch_timeout_s
        )
        self.user_limit = RateLimiter(*parse_rate(settings.user_rate))
        self.channel_limit = RateLimiter(*parse_rate(settings.channel_rate))
        self.feedback_limit = RateLimiter(*parse_rate(settings.feedback_rate))
        self.feedback_channel_limit = RateLimiter(*parse_rate(settings.feedback_channel_rate))
        self.watch_limit = RateLimiter(*parse_rate(settings.watch_rate))
        self.questions = Questions.from_setting(settings.watch_phrases)
        self.queue = WorkQueue(settings.workers(), settings.queue_size)
        self.decoders = Decoders(settings.workers(), self.decode_limits)  # one per worker: none ever waits
        self.metrics = Metrics(lambda state: getattr(self.queue, state))
        self._enrolling = asyncio.Lock()
        store.sync_characters(_labels(recognizer))
        # every server's own characters, embedded with the serving network (``start`` runs this off the loop)
        self.galleries = ServerGalleries(store, recognizer)

    @classmethod
    async def start(cls, settings: Settings) -> Service:
        """Opens and migrates the database and loads the bundle (both block, so off the event loop)."""

        def build() -> Service:
            engine = open_database(settings.database_url)
            upgrade(engine)
            service = cls(_load(settings.bundle, settings), Store(engine), settings)
            service.decoders.start()
            return service

        return await asyncio.to_thread(build)

    def close(self) -> None:
        self.queue.close()
        self.decoders.close()
        self.store.engine.dispose()

    async def reload(self, bundle: str | os.PathLike[str]) -> str:
        """Answers with the bundle at ``bundle`` (links resolved) from now on and returns its version.

        The new bundle loads off the event loop while the old one keeps answering; a broken one raises
        :class:`darekana.recognizer.bundle.BundleError` and the old one stays. The swap is one assignment: a
        recognition already running finishes on the object it started with, the next one uses the new.
        """
        try:
            recognizer = await asyncio.to_thread(_load, bundle, self.settings)
        except BundleError as exc:
            log.error("kept %s: %s", self.recognizer.version, exc)
            raise
        await asyncio.to_thread(self.store.sync_characters, _labels(recognizer))
        async with self.galleries.lock:  # a server's rebuild never embeds with the network being swapped out
            galleries = await asyncio.to_thread(self.galleries.for_bundle, recognizer)
            previous, self.recognizer = self.recognizer.version, recognizer
            self.galleries.use(galleries, recognizer)
        log.info("now answering with %s (was %s)", recognizer.version, previous)
        return recognizer.version

    async def whois(self, picture: bytes, who: Requester, where: Place = Place(), annotate: bool = True) -> Reply:
        """Recognises every face of ``picture``, stores the recognition and builds the reply; with
        ``annotate``, a picture of several faces comes back drawn with numbered boxes."""
        self._admit(who, where)
        return await self._whois(picture, who, where, annotate)

    async def whois_url(self, url: str, who: Requester, where: Place = Place(), annotate: bool = True) -> Reply:
        """The same for a picture behind an http(s) link, fetched safely (see :mod:`darekana.bot.fetch`)."""
        self._admit(who, where)
        try:
            picture = await fetch_picture(url.strip(), self.fetch_limits)
        except FetchError as exc:
            raise self._refused(who, str(exc)) from None
        return await self._whois(picture, who, where, annotate)

    def _admit(self, who: Requester, where: Place, feedback: bool = False) -> None:
        person, channel = (
            (self.feedback_limit, self.feedback_channel_limit) if feedback else (self.user_limit, self.channel_limit)
        )
        try:
            person.check(who.key)
            if where.channel_id:
                channel.check(f"{who.platform}:{where.channel_id}")
        except RateLimited:
            self.metrics.requests.labels(who.platform, "rate_limited").inc()
            raise

    def _refused(self, who: Requester, message: str) -> BadRequest:
        """A picture refused, counted as such."""
        self.metrics.requests.labels(who.platform, "bad_request").inc()
        return BadRequest(message)

    async def _whois(self, picture: bytes, who: Requester, where: Place, annotate: bool) -> Reply:
        if not picture:
            raise self._refused(who, "that file is empty")
        try:
            with self.metrics.seconds.time():
                guild = where.guild_id if who.platform == SERVER_PLATFORM else None
                seen = await self.queue.run(self._recognize, picture, annotate, guild)
        except ImageError as exc:
            raise self._refused(who, str(exc)) from None
        except Exception as exc:
            self.metrics.requests.labels(who.platform, type(exc).__name__.lower()).inc()
            raise
        token = secrets.token_urlsafe(24) if who.platform in TOKEN_PLATFORMS else None
        if self.settings.retention_days == 0:  # no crop is kept at all: none is stored
            seen = dataclasses.replace(seen, crops=[b""] * len(seen.crops))
        record = _record(seen, who, where, None if token is None else privacy.token_hash(token))
        recognition_id, face_ids = await asyncio.to_thread(self.store.save_recognition, record, self.clock())
        self.metrics.requests.labels(who.platform, "ok").inc()
        for face in seen.result.faces:
            self.metrics.faces.labels(face.verdict).inc()
        lines = told(seen.result, seen.server_faces)
        return Reply(recognition_id, seen.result, face_ids, lines, seen.annotated, token)

    def _recognize(self, picture: bytes, annotated: bool, guild_id: str | None = None) -> _Recognized:
        # The budget starts when a worker takes the picture. A decode past it is killed in its child process;
        # after that, the recognizer gives up between stages (each bounded by the size of what it reads).
        budget = self.settings.picture_budget_s
        deadline = time.monotonic() + budget
        image = self.decoders.decode(picture, timeout=budget)
        recognizer = self.recognizer
        extra = self.galleries.of(guild_id, recognizer)
        result = recognizer.recognize(image, deadline=deadline, extra=extra)
        server = frozenset(i for i, face in enumerate(result.faces) if is_server_answer(face, extra))
        crops = [_png(face.crop, CROP_MAX_SIDE) if face.crop is not None else b"" for face in result.faces]
        # drawn on a copy already at the size sent, not on a copy of the picture as read (up to 2048 px)
        several = annotated and len(result.faces) > 1
        drawn = _png(annotate(fit(image, ANNOTATED_MAX_SIDE), result), ANNOTATED_MAX_SIDE) if several else None
        return _Recognized(result, hashlib.sha256(picture).hexdigest(), crops, drawn, server)

    async def correct(self, face_id: int, name: str, who: Requester, where: Place = Place()) -> Ack:
        """Stores that face ``face_id`` is the character ``name``, matched to a character everyone knows, or
        to one this person proposed; a new name stays theirs until a moderator accepts it."""
        self._admit(who, where, feedback=True)
        await self.face(face_id, where)  # a missing face is that, whatever the name
        match = await asyncio.to_thread(self._resolve, name, who)
        return await self._feedback(face_id, Kind.CORRECTION, match, who, where)

    def _resolve(self, name: str, who: Requester) -> Match:
        mine = who.key
        return resolve(name, [c for c in self.store.characters() if c.proposed_by in (None, mine)])

    async def confirm(self, face_id: int, who: Requester, where: Place = Place()) -> Ack:
        """Stores that the answer given for face ``face_id`` was right."""
        self._admit(who, where, feedback=True)
        face = await self.face(face_id, where)
        if face.verdict == Verdict.UNKNOWN:  # no name was given, so there is nothing to confirm
            raise BadRequest("I didn't name this one: tell me who it is instead")
        match = Match(face.label, face.name, True)
        if face.label.startswith(SERVER_PREFIX):
            # a server's own character: for the shared model it is a name this person gives, reviewed by the
            # operators like a typed one, never a label of the bundle
            match = await asyncio.to_thread(self._resolve, face.name, who)
        return await self._feedback(face_id, Kind.CONFIRMATION, match, who, where)

    async def _feedback(self, face_id: int, kind: Kind, match: Match, who: Requester, where: Place) -> Ack:
        stored = await asyncio.to_thread(
            self.store.save_feedback, face_id, kind, match.label, match.name, who.platform, who.user_id, where.guild_id
        )
        if stored is None:
            raise NotFound(f"there is no face {face_id}")
        self.metrics.feedback.labels(kind).inc()
        return Ack(stored, face_id, kind, match.label, match.name, match.known)

    async def face(self, face_id: int, where: Place = Place()) -> StoredFace:
        """A stored face, as seen from ``where``: a face asked about in a server is found only in that server
        (elsewhere it is "no face": nothing of a server shows outside it)."""
        face = await asyncio.to_thread(self.store.face, face_id)
        if face is None or face.guild_id != where.guild_id:
            raise NotFound(f"there is no face {face_id}")
        return face

    async def faces_of(self, recognition_id: int, where: Place = Place()) -> list[StoredFace]:
        """The faces of a recognition, numbered as in its answer, as seen from ``where`` (see :meth:`face`)."""
        faces = await asyncio.to_thread(self.store.faces_of, recognition_id)
        return [face for face in faces if face.guild_id == where.guild_id]

    async def face_number(self, recognition_id: int, number: int | None, where: Place = Place()) -> StoredFace:
        """Face ``number`` of an answer, as people refer to it; without a number, the only face there is."""
        faces = await self.faces_of(recognition_id, where)
        if not faces:
            raise BadRequest("There was no face in that picture to correct.")
        if number is None and len(faces) > 1:
            raise BadRequest(f'Which face? Reply like "#2 <name>" or "#2 right" (faces 1 to {len(faces)}).')
        number = 1 if number is None else number
        if not 1 <= number <= len(faces):
            raise BadRequest(f"There's no face {number}: the picture had {len(faces)}.")
        return faces[number - 1]

    async def feedback_by_number(
        self, recognition_id: int, number: int | None, name: str | None, who: Requester, where: Place = Place()
    ) -> Ack:
        """What someone said of face ``number`` of an answer: that it is ``name``, or, without a name, that
        the answer was right."""
        face = await self.face_number(recognition_id, number, where)
        return await (self.confirm(face.id, who, where) if name is None else self.correct(face.id, name, who, where))

    # --- posting answers -------------------------------------------------------------------------------

    def worth_posting(self, platform: str, reply: Reply, watched: bool = False) -> bool:
        """Whether an answer is worth a post where people did not ask this bot by name: on X with
        ``twitter_only_confident``, and in watch mode (``watched``) with ``watch_only_confident``, only when
        some face is named with confidence."""
        quiet = (
            self.settings.watch_only_confident
            if watched
            else platform == "twitter" and self.settings.twitter_only_confident
        )
        return reply.named_any or not quiet

    async def reply_to_post(
        self, url: str, who: Requester, where: Place = Place(), annotate: bool = True
    ) -> Reply | None:
        """:meth:`whois_url`, for a platform whose every post counts (X): the reply, stored, or None when it is
        not worth a post (:meth:`worth_posting`), although its recognition is stored all the same."""
        reply = await self.whois_url(url, who, where, annotate)
        return reply if self.worth_posting(who.platform, reply) else None

    # --- watch mode: "who is she?" without a mention ----------------------------------------------------

    async def watched_question(self, platform: str, text: str, *channel_ids: str) -> bool:
        """Whether watch mode takes up a message that does not mention the bot: its ``text`` asks who a
        character is (:mod:`darekana.bot.questions`) in one of ``channel_ids`` (a thread and the channel it is
        in) that moderators watch. Whether it is answered is :meth:`answer_unasked`'s to say."""
        return self.questions.asks(text) and await self.watching(platform, *channel_ids)

    async def watch(self, on: bool, where: Place, moderator: Requester) -> bool:
        """Turns watch mode on or off in ``where``'s channel (the caller checked ``moderator`` is one); False
        when it already was so."""
        if where.guild_id is None or where.channel_id is None:
            raise BadRequest("Watch mode is for channels of a server.")
        return await asyncio.to_thread(
            self.store.set_watched, moderator.platform, where.guild_id, where.channel_id, on, moderator.key
        )

    async def watched_channels(self, platform: str, guild_id: str) -> list[str]:
        return await asyncio.to_thread(self.store.watched_channels, platform, guild_id)

    async def watching(self, platform: str, *channel_ids: str) -> bool:
        """Whether a message in one of ``channel_ids`` (a thread and its channel) is in watch mode."""
        return await asyncio.to_thread(self.store.watching, platform, list(channel_ids))

    async def answer_unasked(
        self, platform: str, channel_id: str, recognize: Callable[[], Awaitable[Reply]]
    ) -> Reply | None:
        """The reply to post to a question asked in a watched channel, or None to stay quiet: when the
        channel had its ``watch_rate`` of answers already, when the picture cannot be read or the asker is
        over a rate limit (nobody asked the bot: no error is posted), and, with ``watch_only_confident``,
        when no face is named with confidence. The recognition is stored all the same, as every one is."""
        key = f"{platform}:{channel_id}"
        if self.watch_limit.full(key):
            return None
        try:
            reply = await recognize()
        except ServiceError as exc:
            log.info("watch mode: not answering in %s: %s", key, exc.message)
            return None
        if not self.worth_posting(platform, reply, watched=True) or self.watch_limit.retry_after(key) > 0:
            return None
        return reply

    async def answer_once(
        self,
        platform: str,
        request_id: str,
        post: Callable[[], Awaitable[str | None]],
        recognition_id: int | None = None,
    ) -> bool:
        """Posts an answer to message ``request_id`` with ``post`` (which returns the post's id, if any),
        unless this message was answered, or is being answered, already: the claim is stored first, so
        a message delivered twice, to one process or to several sharing the database, is answered once.
        False when another claim came first and nothing was posted."""
        answer_id = await asyncio.to_thread(self.store.claim_answer, platform, request_id, recognition_id)
        if answer_id is None:
            return False
        posted = await post()
        if posted is not None:
            await asyncio.to_thread(self.store.answer_posted, answer_id, posted)
        return True

    async def answered(self, platform: str, post_id: str) -> int | None:
        """The recognition this bot's post ``post_id`` answered, for corrections made in reply to it."""
        return await asyncio.to_thread(self.store.answered_recognition, platform, post_id)

    def poll_state(self, platform: str, per_hour: int, per_day: int) -> PollState:
        """Where a platform's poller got to, its posting budget and its latest problems (in the database)."""
        return PollState(self.store, platform, per_hour, per_day)

    async def characters(self) -> list[Character]:
        """The characters everyone can name: the bundle's and those moderators accepted."""
        return [c for c in await asyncio.to_thread(self.store.characters) if c.proposed_by is None]

    # --- who may see and do what ------------------------------------------------------------------------

    def is_operator(self, who: Requester) -> bool:
        """An operator of the bot: a Discord user listed in ``DAREKANA_OPERATORS``."""
        return who.platform == "discord" and who.user_id in self.operators

    def scope(self, who: Requester, where: Place, authority: Authority, nsfw: bool = False) -> Scope:
        """What ``who`` may review, group, export and count, acting at ``where`` with what the platform
        vouches for (``authority``). Operators (the HTTP moderator token, ``DAREKANA_OPERATORS``): everything.
        A server's moderators: what was asked and said in that server. Anyone else: :class:`Forbidden`.

        Faces from age-restricted channels are included only where such pictures may be shown: in an
        age-restricted channel (``where.nsfw``), or outside any server (an operator's direct messages, the
        HTTP API) when the operator asks for them (``nsfw``)."""
        operator = authority is Authority.OPERATOR or self.is_operator(who)
        shown = where.nsfw or (operator and nsfw and where.guild_id is None)
        if operator:
            return Scope.everything(shown)
        if authority is Authority.SERVER_MODERATOR and where.guild_id is not None:
            return Scope.server(who.platform, where.guild_id, shown)
        raise Forbidden("Sorry, only moderators can do that.")

    # --- moderation ------------------------------------------------------------------------------------

    async def feedback(
        self, statuses: tuple[str, ...] = (Status.PENDING,), limit: int | None = 10, scope: Scope = OPERATOR
    ) -> list[Feedback]:
        """Corrections and confirmations with these review statuses in ``scope``, oldest first."""
        _check_statuses(statuses, "statuses")
        return await asyncio.to_thread(self.store.feedback, tuple(statuses), limit, tuple(Kind), scope)

    async def review(self, correction_id: int, status: str, reviewer: Requester, scope: Scope = OPERATOR) -> None:
        """A moderator accepts or rejects a correction in their ``scope`` (``status``: accepted, rejected or
        pending)."""
        if status not in STATUSES:
            raise BadRequest(f"a review is one of {', '.join(STATUSES)}")
        if not await asyncio.to_thread(self.store.review, correction_id, status, reviewer.key, scope):
            raise NotFound(f"there is no correction {correction_id}")

    async def groups(self, limit: int | None = 10, scope: Scope = OPERATOR) -> list[Group]:
        """Faces of characters the bundle does not know, in ``scope``, grouped by likeness, biggest group
        first (see :mod:`darekana.bot.groups`). Unknown faces nobody named wait here only within the
        retention window."""
        recognizer = self.recognizer
        known = {label.id for label in recognizer.manifest.labels}
        since = retention.crop_cutoff(self.settings, self.clock())

        def work() -> list[Group]:
            return group_faces(recognizer, self.store.unknown_faces(GROUPED_FACES, scope, since), known)[:limit]

        return await asyncio.to_thread(work)

    async def enroll_group(self, group_id: int, name: str, moderator: Requester, scope: Scope = OPERATOR) -> Enrolled:
        """Enrolls group ``group_id``'s faces as the character ``name`` (one people proposed, a known one, or a
        new one): a new bundle, gated against the current one and promoted to the bundle link only when it is
        no worse (see :mod:`darekana.bot.enrolment`). Operators only: the bundle is every server's. Faces from
        age-restricted channels are never enrolled (enrolled crops become evidence, shown anywhere), so the
        groups are those without them. One enrolment runs at a time."""
        if not scope.operator:
            raise Forbidden("Only the bot's operators can enroll a character: it changes the model all servers share.")
        if self._enrolling.locked():
            raise Conflict("an enrolment is already under way: try again when it is done")
        async with self._enrolling:
            link, current = self.settings.bundle, Path(self.recognizer.path)
            if not link.is_symlink():
                raise Conflict(
                    f"{link} is a bundle directory, not a link that a new bundle can be promoted to: serve with "
                    f"DAREKANA_BUNDLE=models/current after `darekana bundle promote {link}`"
                )
            group = await self._enrollable(group_id)
            match = await asyncio.to_thread(lambda: resolve(name, self.store.characters()))
            known = group.looks_like
            if known is not None and known.label != match.label:
                # someone the bot knows, named otherwise: a mistake, or someone teaching it a wrong name
                raise Conflict(
                    f"{known.faces} of group {group_id}'s {len(group.faces)} faces are {known.name} to me, with "
                    f"confidence: enroll them as {known.name}, or reject the corrections"
                )
            out = link.parent / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{match.label}"[:100]
            data = self.recognizer.manifest.training.get("data", [])
            tolerance = self.settings.enroll_tolerance
            new = await enrolment.gated_bundle(current, group.faces, match.label, out, data, tolerance)
            await asyncio.to_thread(promote, new.path, link)
            version = await self.reload(link)
            ids = [face.face_id for face in group.faces]
            await asyncio.to_thread(self.store.accept_named, ids, match.label, moderator.key, self.clock())
            return Enrolled(group_id, match.label, match.name, len(ids), version, new.gate)

    async def _enrollable(self, group_id: int) -> Group:
        """Group ``group_id`` among every server's faces, those of age-restricted channels left out, taught by
        enough people."""
        group = next((g for g in await self.groups(None, Scope.everything(nsfw=False)) if g.id == group_id), None)
        if group is None:
            raise NotFound(f"there is no group {group_id} now: groups change as faces come in, list them again")
        if group.people < self.settings.enroll_min_people:
            raise Conflict(
                f"group {group_id}'s faces were sent and named by {group.people} person only: at least "
                f"{self.settings.enroll_min_people} people must have, so that no one person teaches me a character"
            )
        return group

    async def stats(self, scope: Scope = OPERATOR) -> Stats:
        return await asyncio.to_thread(self.store.stats, scope)

    async def export(
        self, statuses: tuple[str, ...] = (Status.ACCEPTED,), scope: Scope = OPERATOR, include_nsfw: bool = False
    ) -> tuple[bytes, int]:
        """A zip of the crops with these review statuses in ``scope`` (see :mod:`darekana.bot.export`) and how
        many it holds. Faces from age-restricted channels only with ``include_nsfw``, where ``scope`` may
        show them. An operator's export counts as using its accepted corrections (retention counts from it)."""
        _check_statuses(statuses, "export statuses")
        if include_nsfw and not scope.nsfw:
            raise BadRequest(
                "faces from age-restricted channels are exported only in an age-restricted channel, "
                "or by an operator in direct messages"
            )
        chosen = dataclasses.replace(scope, nsfw=include_nsfw)
        now = self.clock()

        def work() -> tuple[bytes, int]:
            used: list[int] = []

            def rows() -> Iterator[Feedback]:
                for row in self.store.iter_feedback(tuple(statuses), scope=chosen, with_crops=True):
                    if row.status == Status.ACCEPTED:
                        used.append(row.id)
                    yield row

            data, count = dataset_zip(rows())
            if scope.operator:
                self.store.mark_used(used, now)
            return data, count

        return await asyncio.to_thread(work)

    # --- a server's own characters (darekana.bot.server_characters) --------------------------------------

    async def enroll_server_character(
        self,
        name: str,
        who: Requester,
        where: Place,
        scope: Scope,
        group_id: int | None = None,
        crops: tuple[bytes, ...] = (),
    ) -> ServerEnrolled:
        """Enrolls a character of the server at ``where`` only, from one of its groups of unknown faces
        (``group_id``, as ``/corrections groups`` lists them there) or from face crops a moderator attached:
        from now on faces asked about in that server are also compared with it. No new bundle: the crops are
        embedded with the serving network and kept, to be embedded again by a bundle with another network.
        The server's moderators (or an operator acting in it) only. It is the server's: it stays when whoever
        enrolled it asks to be forgotten, and goes with the server's data when the bot has left it."""
        guild = self._server_of(who, where, scope)
        if (group_id is None) == (not crops):
            raise BadRequest("give me a group of faces (its number from /corrections groups) or attach crops, not both")
        pngs = await (self._group_crops(group_id, guild) if group_id is not None else self._attached_crops(crops))
        match = await asyncio.to_thread(lambda: resolve(name, [c for c in self.store.characters() if c.in_bundle]))
        character = ServerCharacter(guild, match.label, match.name, tuple(pngs))
        async with self.galleries.lock:
            now = self.clock()
            stored = await asyncio.to_thread(self.store.add_server_character, SERVER_PLATFORM, character, who.key, now)
            if not stored:
                raise Conflict(f"{match.name} is already a character of this server: remove it first, then enroll")
            try:
                await self.galleries.rebuild(guild, self.recognizer)
            except BaseException:  # nothing is stored that does not answer
                await asyncio.to_thread(self.store.delete_server_character, SERVER_PLATFORM, guild, match.label)
                raise
        log.info("server %s enrolled its own character %s (%d crops)", guild, match.label, len(pngs))
        return ServerEnrolled(match.label, match.name, len(pngs), match.known)

    async def remove_server_character(self, name: str, who: Requester, where: Place, scope: Scope) -> str:
        """Deletes one of the server's own characters and its crops: it answers nowhere any more."""
        guild = self._server_of(who, where, scope)
        listed = await asyncio.to_thread(self.store.listed_server_characters, SERVER_PLATFORM, guild)
        match = resolve(name, [Character(c.label, c.name, [], False) for c in listed])
        async with self.galleries.lock:
            if not match.known or not await asyncio.to_thread(
                self.store.delete_server_character, SERVER_PLATFORM, guild, match.label
            ):
                raise NotFound(f"this server has no character of its own called {match.name}")
            await self.galleries.rebuild(guild, self.recognizer)
        return f"Removed {match.name}: faces asked about here are no longer compared with it."

    async def server_characters(self, who: Requester, where: Place, scope: Scope) -> list[ListedServerCharacter]:
        """The server's own characters, oldest first (its moderators, or an operator acting in it)."""
        guild = self._server_of(who, where, scope)
        return await asyncio.to_thread(self.store.listed_server_characters, SERVER_PLATFORM, guild)

    def _server_of(self, who: Requester, where: Place, scope: Scope) -> str:
        """The server whose own characters ``scope`` may change at ``where``."""
        if who.platform != SERVER_PLATFORM or where.guild_id is None:
            raise BadRequest("A server's own characters are managed in that server, by its moderators.")
        if not scope.operator and (scope.platform, scope.guild_id) != (who.platform, where.guild_id):
            raise Forbidden("Only this server's moderators can change its characters.")
        return where.guild_id

    async def _group_crops(self, group_id: int, guild: str) -> list[bytes]:
        # this server's groups, as its moderators list them in an ordinary channel: never another server's faces
        found = await self.groups(None, Scope.server(SERVER_PLATFORM, guild))
        group = next((g for g in found if g.id == group_id), None)
        if group is None:
            raise NotFound(f"there is no group {group_id} here now: groups change as faces come in, list them again")
        return [face.crop_png for face in group.faces if face.crop_png][:SERVER_CHARACTER_CROPS]

    async def _attached_crops(self, crops: tuple[bytes, ...]) -> list[bytes]:
        """Attached crops through the hardened decoder, kept as PNG (a moderator may attach anything)."""
        if len(crops) > SERVER_CHARACTER_CROPS:
            raise BadRequest(f"attach at most {SERVER_CHARACTER_CROPS} crops")

        def work() -> list[bytes]:
            pngs = []
            for number, data in enumerate(crops, start=1):
                try:
                    pngs.append(_png(decode_image(data, self.decode_limits), CROP_MAX_SIDE))
                except ImageError as exc:
                    raise BadRequest(f"attachment {number}: {exc}") from None
            return pngs

        return await asyncio.to_thread(work)

    async def refresh_galleries(self) -> int:
        """Rebuilds the galleries of the servers whose own characters another process sharing the database
        changed; returns how many (``darekana serve`` calls it every ``bundle_poll_s``)."""
        return await self.galleries.refresh(self.recognizer)

    # --- privacy ---------------------------------------------------------------------------------------

    def privacy_text(self) -> str:
        """What is stored, for how long and who sees it, with the days this bot runs with."""
        return privacy.privacy_text(self.settings)

    async def forget(self, who: Requester) -> Forgotten:
        """Deletes everything ``who`` ever sent or said (see :func:`darekana.bot.privacy.forget`)."""
        forgotten = await privacy.forget(self.store, who.platform, who.user_id)
        log.info("forgot %s: %s", who.platform, forgotten)  # the counts, not who: the log keeps no one
        return forgotten

    async def delete_recognition(self, recognition_id: int, token: str) -> Forgotten:
        """Deletes a recognition, its faces, crops and the corrections on them, given the delete token its
        answer carried; a wrong token deletes nothing and is "not found", like an id that does not exist."""
        deleted = await asyncio.to_thread(self.store.delete_recognition, recognition_id, privacy.token_hash(token))
        if deleted is None:
            raise NotFound(f"there is no recognition {recognition_id} with that delete token")
        return deleted

    async def sweep(self) -> Swept:
        """Deletes crops past retention and servers past their grace period (see :mod:`.retention`)."""
        swept = await retention.sweep(self.store, self.settings, self.clock())
        gone = [server.split(":", 1)[1] for server in swept.servers if server.startswith(SERVER_PLATFORM + ":")]
        await self.galleries.drop(gone)
        return swept

    async def server_left(self, platform: str, guild_id: str) -> None:
        """The bot left a server (or it was deleted): its data goes once the grace period has passed."""
        await asyncio.to_thread(self.store.guild_removed, platform, guild_id, self.clock())

    async def servers_absent(self, platform: str, present: Iterable[str], ours: Callable[[str], bool]) -> list[str]:
        """At a (re)connection: the servers something is kept of that the bot is no longer in, among those
        ``ours`` says this process would be told of (its shards), are treated as left while it was offline
        (their grace period starts now, or earlier if it was recorded before); returns them."""
        kept = await asyncio.to_thread(self.store.guilds_with_data, platform)
        gone = sorted(g for g in kept - set(present) if ours(g))
        for guild_id in gone:
            await self.server_left(platform, guild_id)
        return gone

    async def server_present(self, platform: str, guild_id: str) -> bool:
        """The bot is in a server (joined again, or found there at start): a pending removal is cancelled."""
        return await asyncio.to_thread(self.store.guild_back, platform, guild_id)


def _check_statuses(statuses: tuple[str, ...], what: str) -> None:
    if not statuses or set(statuses) - set(STATUSES):
        raise BadRequest(f"{what} are among {', '.join(STATUSES)}")


def _load(bundle: str | os.PathLike[str], settings: Settings) -> Recognizer:
    # the resolved path: through models/current the version would read "current@...", and replies and
    # stored recognitions must say which bundle answered
    path = os.path.realpath(bundle)
    return Recognizer(path, threads=settings.threads_per_recognition(), detection=settings.detection())


def _labels(recognizer: Recognizer) -> list[tuple[str, str]]:
    """The bundle's characters as the store keeps them: (label id, display name)."""
    return [(label.id, label.name) for label in recognizer.manifest.labels]


def _png(image: Image.Image, max_side: int) -> bytes:
    image = fit(image, max_side)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)  # 3-4x faster to write than the default, a little larger
    return buffer.getvalue()


def _record(seen: _Recognized, who: Requester, where: Place, token_sha256: str | None) -> RecognitionRecord:
    return RecognitionRecord(
        who.platform,
        who.user_id,
        seen.sha256,
        seen.result,
        seen.crops,
        where.guild_id,
        where.channel_id,
        where.message_id,
        where.request_id,
        where.nsfw,
        token_sha256,
    )
