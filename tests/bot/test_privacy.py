"""Many servers, one bot (issue 28), on the real service, bundle and pictures, on SQLite and PostgreSQL: a
server's moderators see only their server, operators see everything; faces from age-restricted channels
stay where they were posted; people take their data back (forget, delete tokens); crops are kept only as
long as useful (the retention sweep); a server the bot left is purged after its grace period."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import logging
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from darekana.bot import enrolment, retention
from darekana.bot.callers import Place, Requester
from darekana.bot.errors import BadRequest, Conflict, Forbidden, NotFound
from darekana.bot.groups import Group
from darekana.bot.privacy import privacy_text
from darekana.bot.records import Authority, RecognitionRecord, Scope, Status, UnknownFace
from darekana.bot.service import Service
from darekana.bot.settings import Settings
from darekana.bot.storage import Store
from darekana.bot.storage.models import (
    AnswerRow,
    CharacterRow,
    CorrectionRow,
    FaceRow,
    RecognitionRow,
    WatchedChannelRow,
)
from darekana.recognizer.detect import Box
from darekana.recognizer.results import Candidate, Decision, Face, Model, Recognition, Verdict
from darekana.train.shared import DATASETS

from pictures import group_picture

SERVER_A = Place("111", "1110")
SERVER_A_NSFW = Place("111", "1119", nsfw=True)
SERVER_B = Place("222", "2220")
OPERATOR = Requester("discord", "9000")  # in DAREKANA_OPERATORS
MOD_A = Requester("discord", "9001")  # moderates server A only
A1, A2 = Requester("discord", "1001"), Requester("discord", "1002")
B1, B2 = Requester("discord", "2001"), Requester("discord", "2002")
X = Requester("twitter", "3001")
GURA = sorted((DATASETS / "hololive-20" / "gawr_gura").iterdir())
UNLIMITED = {"user_rate": "1000/1", "channel_rate": "1000/1", "feedback_rate": "1000/1", "operators": "9000"}


@pytest.fixture
def service(make_service: Callable[..., Service], database_url: str) -> Service:
    return make_service(database_url, **UNLIMITED)


async def named(service: Service, pictures: list[Path], people: list[Requester], where: Place) -> list[int]:
    """Each picture asked about at ``where`` by ``people`` in turn and its face named Gawr Gura by its asker;
    the faces' ids."""
    ids = []
    for i, path in enumerate(pictures):
        who = people[i % len(people)]
        reply = await service.whois(path.read_bytes(), who, where)
        await service.correct(reply.face_ids[0], "Gawr Gura", who, where)
        ids.append(reply.face_ids[0])
    return ids


def exported_faces(data: bytes) -> set[int]:
    manifest = zipfile.ZipFile(io.BytesIO(data)).read("manifest.csv").decode()
    return {int(row["face_id"]) for row in csv.DictReader(io.StringIO(manifest))}


def grouped(groups: list[Group]) -> set[int]:
    return {face.face_id for group in groups for face in group.faces}


# --- two kinds of authority ---------------------------------------------------------------------------


async def test_a_moderator_of_one_server_sees_nothing_of_an_other_server_and_cannot_enroll(service: Service):
    ours = await named(service, GURA[:4], [A1, A2], SERVER_A)
    theirs = await named(service, GURA[4:8], [B1, B2], SERVER_B)
    on_x = await named(service, GURA[8:10], [X, Requester("twitter", "3002")], Place())
    for row in service.store.feedback(limit=None):
        await service.review(row.id, Status.ACCEPTED, OPERATOR)
    mine = service.scope(MOD_A, SERVER_A, Authority.SERVER_MODERATOR)
    assert mine == Scope.server("discord", "111")

    statuses = tuple(Status)
    assert {f.face_id for f in await service.feedback(statuses, None, mine)} == set(ours)
    stats = await service.stats(mine)
    assert (stats.recognitions, stats.faces, stats.by_status["accepted"]) == (4, 4, 4)
    assert exported_faces((await service.export(scope=mine))[0]) == set(ours)
    groups = await service.groups(None, mine)
    assert groups and grouped(groups) <= set(ours)
    other = next(f for f in service.store.feedback((Status.ACCEPTED,), None) if f.face_id == theirs[0])
    with pytest.raises(NotFound):
        await service.review(other.id, Status.REJECTED, MOD_A, mine)
    assert service.store.feedback((Status.REJECTED,), None) == []
    with pytest.raises(Forbidden, match="Only the bot's operators"):
        await service.enroll_group(groups[0].id, "Gawr Gura", MOD_A, mine)

    everything = service.scope(OPERATOR, Place(), Authority.PERSON)  # in direct messages
    assert everything == Scope.everything()
    assert (await service.stats(everything)).recognitions == 10
    assert exported_faces((await service.export(scope=everything))[0]) == set(ours + theirs + on_x)
    assert grouped(await service.groups(None, everything)) & set(theirs)
    with pytest.raises(Forbidden):
        service.scope(A1, SERVER_A, Authority.PERSON)
    with pytest.raises(Forbidden):
        service.scope(MOD_A, Place(), Authority.SERVER_MODERATOR)  # a server's moderator outside it
    assert service.scope(Requester("http", "moderator@x"), Place(), Authority.OPERATOR).operator


async def test_feedback_on_a_face_of_an_other_server_is_not_found(service: Service, known_picture):
    face = (await service.whois(known_picture[0], A1, SERVER_A)).face_ids[0]
    before = service.store.stats()
    for where in (SERVER_B, Place()):
        with pytest.raises(NotFound):
            await service.correct(face, "Shana", B1, where)
        with pytest.raises(NotFound):
            await service.confirm(face, B1, where)  # not even whether it was named leaks
        assert await service.faces_of((await service.face(face, SERVER_A)).recognition_id, where) == []
    assert service.store.stats() == before
    assert (await service.correct(face, "Shana", A2, SERVER_A)).label == "008_shana"


# --- NSFW stays where it was posted --------------------------------------------------------------------


async def test_nsfw_faces_never_appear_in_a_sfw_review_group_sheet_or_export(service: Service):
    safe = await named(service, GURA[:4], [A1, A2], SERVER_A)
    nsfw = await named(service, GURA[4:8], [A1, A2], SERVER_A_NSFW)
    with Session(service.store.engine) as session:
        marks = dict(session.execute(select(FaceRow.id, RecognitionRow.nsfw).join(RecognitionRow)).all())
    assert {face for face, mark in marks.items() if mark} == set(nsfw)  # stored marked
    for ack in service.store.feedback(limit=None):
        await service.review(ack.id, Status.ACCEPTED, OPERATOR, Scope.everything(nsfw=True))

    here = service.scope(MOD_A, SERVER_A, Authority.SERVER_MODERATOR, nsfw=True)  # asking changes nothing here
    operator_here = service.scope(OPERATOR, SERVER_A, Authority.PERSON, nsfw=True)
    operator_dm = service.scope(OPERATOR, Place(), Authority.PERSON)
    for sfw in (here, operator_here, operator_dm):
        assert not sfw.nsfw
        assert not {f.face_id for f in await service.feedback(tuple(Status), None, sfw)} & set(nsfw)
        groups = await service.groups(None, sfw)
        assert groups and not grouped(groups) & set(nsfw)  # the contact sheet is drawn from these groups
        assert exported_faces((await service.export(scope=sfw))[0]) == set(safe)
        with pytest.raises(BadRequest, match="age-restricted"):
            await service.export(scope=sfw, include_nsfw=True)

    there = service.scope(MOD_A, SERVER_A_NSFW, Authority.SERVER_MODERATOR)
    opted_in = service.scope(OPERATOR, Place(), Authority.PERSON, nsfw=True)  # an operator's DM, asking
    for shown in (there, opted_in):
        assert {f.face_id for f in await service.feedback(tuple(Status), None, shown)} == set(safe + nsfw)
        assert grouped(await service.groups(None, shown)) & set(nsfw)
        assert exported_faces((await service.export(scope=shown))[0]) == set(safe)  # unless asked by name
        assert exported_faces((await service.export(scope=shown, include_nsfw=True))[0]) == set(safe + nsfw)


async def test_nsfw_faces_are_never_enrolled_so_never_evidence_in_a_reply(
    service: Service, trained_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Enrolled crops become the gallery's evidence, shown under answers anywhere: an enrolment leaves the
    faces of age-restricted channels out, even when they make a group of their own."""
    link = tmp_path / "models" / "current"
    link.parent.mkdir()
    link.symlink_to(trained_bundle, target_is_directory=True)
    service.settings = dataclasses.replace(service.settings, bundle=link)
    nsfw_only = await named(service, GURA[:6], [A1, A2], SERVER_A_NSFW)
    taught: list[set[int]] = []

    async def enrolled(current: Path, faces: list[UnknownFace], *args: object) -> None:
        taught.append({face.face_id for face in faces})
        raise Conflict("stopped here: the gate itself is tests/bot/test_groups.py's")

    monkeypatch.setattr(enrolment, "gated_bundle", enrolled)
    shown = await service.groups(None, service.scope(OPERATOR, Place(), Authority.PERSON, nsfw=True))
    assert shown and grouped(shown) <= set(nsfw_only)
    with pytest.raises(NotFound, match="no group"):
        await service.enroll_group(shown[0].id, "Gawr Gura", OPERATOR)
    safe = await named(service, GURA[6:12], [A1, A2], SERVER_A)
    group = max(await service.groups(None), key=lambda g: len(grouped([g]) & set(safe)))
    with pytest.raises(Conflict, match="stopped here"):
        await service.enroll_group(group.id, "Gawr Gura", OPERATOR)
    assert taught and taught[0] <= set(safe) and not taught[0] & set(nsfw_only)


# --- forget ---------------------------------------------------------------------------------------------


def table_rows(service: Service) -> dict[str, int]:
    with Session(service.store.engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (RecognitionRow, FaceRow, CorrectionRow, CharacterRow, WatchedChannelRow, AnswerRow)
        }


def rows_of(service: Service, who: Requester) -> dict[str, object]:
    """Everything stored of ``who``: their recognitions with their faces' crops, and what they said."""
    with Session(service.store.engine) as session:
        recognitions = select(RecognitionRow.id).where(
            RecognitionRow.platform == who.platform, RecognitionRow.user_id == who.user_id
        )
        crops = session.execute(
            select(FaceRow.id, FaceRow.crop_png).where(FaceRow.recognition_id.in_(recognitions)).order_by(FaceRow.id)
        ).all()
        said = session.scalars(
            select(CorrectionRow.id).where(CorrectionRow.platform == who.platform, CorrectionRow.user_id == who.user_id)
        ).all()
        return {"recognitions": session.scalars(recognitions).all(), "crops": crops, "said": sorted(said)}


async def test_forget_removes_every_row_and_crop_of_that_person_and_no_one_elses(service: Service, known_picture):
    alice, bob = A1, A2
    group = await service.whois(group_picture(), alice, SERVER_A)  # three faces
    single = await service.whois(known_picture[0], alice, Place())  # in direct messages
    bobs = await service.whois(known_picture[0], bob, SERVER_A)
    await service.correct(group.face_ids[0], "Shana", bob, SERVER_A)  # Bob on Alice's picture
    await service.correct(bobs.face_ids[0], "Miku Rin", alice, SERVER_A)  # Alice on Bob's: a new name, hers
    await service.correct(group.face_ids[1], "Gawr Gura", alice, SERVER_A)  # a new name Bob gives too
    await service.correct(bobs.face_ids[0], "Gawr Gura", bob, SERVER_A)
    await service.confirm(single.face_ids[0], alice)
    await service.watch(True, SERVER_A, alice)
    await service.watch(True, SERVER_B, bob)
    await service.answer_once("discord", "m1", _posted, group.recognition_id)
    bob_before = rows_of(service, bob)
    before = table_rows(service)

    forgotten = await service.forget(alice)

    after = table_rows(service)
    assert rows_of(service, alice) == {"recognitions": [], "crops": [], "said": []}
    assert rows_of(service, bob)["recognitions"] == bob_before["recognitions"]
    assert rows_of(service, bob)["crops"] == bob_before["crops"]  # every face and crop of Bob's, byte for byte
    # Bob's correction on Alice's picture went with her picture; his on his own stays
    assert len(rows_of(service, bob)["said"]) == len(bob_before["said"]) - 1 == 1
    assert before["recognitions"] - after["recognitions"] == forgotten.recognitions == 2
    assert before["faces"] - after["faces"] == forgotten.faces == 4
    assert before["corrections"] - after["corrections"] == forgotten.corrections == 4
    assert before["watched_channels"] - after["watched_channels"] == forgotten.watched_channels == 1
    characters = {c.label: c.proposed_by for c in service.store.characters()}
    assert "miku_rin" not in characters and characters["gawr_gura"] == bob.key  # Bob's name is kept, his
    assert forgotten.proposals == 2 and after["answers"] == before["answers"]  # the bot's own post stays
    with Session(service.store.engine) as session:
        assert session.scalars(select(AnswerRow.recognition_id)).all() == [None]
    assert (await service.forget(alice)).text == "I had nothing of yours: nothing to delete."
    assert table_rows(service) == after


async def _posted() -> str:
    return "post-1"


async def test_forget_and_the_sweep_leave_the_event_loop_free(service: Service):
    """A forget of 10,000 rows runs in batches off the event loop: the loop keeps answering meanwhile."""
    from bench.forget import PERSON, seed

    seed(service.store.engine, 2000, [b"\x89PNG crop" * 100], datetime.now(UTC) - timedelta(days=60))
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticking() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last - 0.01)
            last = now

    ticker = asyncio.create_task(ticking())
    started = time.perf_counter()
    forgotten = await service.forget(Requester(*PERSON))
    swept = await service.sweep()  # the other person's 2,000 crops are 60 days old
    seconds = time.perf_counter() - started
    done.set()
    await ticker
    assert forgotten.rows == 10_000 and swept.crops == 2000
    assert seconds < 30, f"forget and sweep took {seconds:.1f} s"
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f} s"


# --- delete tokens --------------------------------------------------------------------------------------


async def test_a_delete_token_deletes_its_own_recognition_and_a_wrong_one_nothing(service: Service, known_picture):
    web = Requester("http", "203.0.113.7")
    mine = await service.whois(group_picture(), web, Place(channel_id="203.0.113.7"))
    other = await service.whois(known_picture[0], web)
    discord = await service.whois(known_picture[0], A1)
    assert mine.delete_token and other.delete_token and discord.delete_token is None
    await service.correct(mine.face_ids[0], "Shana", Requester("http", "203.0.113.8"))
    with Session(service.store.engine) as session:
        stored = session.scalars(select(RecognitionRow.delete_token_sha256).order_by(RecognitionRow.id)).all()
    assert mine.delete_token not in stored and len(stored[0]) == 64 and stored[2] is None  # only its hash
    before = table_rows(service)
    for recognition, token in [
        (mine.recognition_id, "wrong"),
        (mine.recognition_id, other.delete_token),  # another answer's token
        (mine.recognition_id, mine.delete_token[:-1]),
        (discord.recognition_id, mine.delete_token),
        (424242, mine.delete_token),
    ]:
        with pytest.raises(NotFound):
            await service.delete_recognition(recognition, token)
    assert table_rows(service) == before
    deleted = await service.delete_recognition(mine.recognition_id, mine.delete_token)
    assert (deleted.recognitions, deleted.faces, deleted.corrections) == (1, 3, 1)
    with pytest.raises(NotFound):
        await service.delete_recognition(mine.recognition_id, mine.delete_token)
    assert table_rows(service)["recognitions"] == before["recognitions"] - 1


# --- retention ------------------------------------------------------------------------------------------


async def test_retention_sweep_deletes_exactly_what_is_past_retention_and_nothing_pending(service: Service):
    """Each kind of face, 40 days old unless said otherwise, and what a 30-day window keeps of it."""
    now = datetime(2027, 3, 1, tzinfo=UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=10)
    store = service.store
    cases: dict[str, int] = {}
    for name in (
        "nobody_said_anything",
        "pending",
        "accepted_never_used",
        "accepted_used_long_ago",
        "accepted_used_lately",
        "rejected_long_ago",
        "rejected_lately",
        "recent_nobody_said_anything",
        "recent_pending",
    ):
        _, (face,) = store.save_recognition(_record(name), recent if name.startswith("recent") else old)
        cases[name] = face
        if "nobody" not in name:
            store.save_feedback(face, "correction", "gawr_gura", "Gawr Gura", "discord", "1001")
    _review(store, cases, "accepted_", "accepted", reviewed=old, used={"used_long_ago": old, "used_lately": recent})
    _review(store, cases, "rejected_", "rejected", reviewed=None, used={})
    _set(store, "reviewed_at", cases["rejected_long_ago"], old)
    _set(store, "reviewed_at", cases["rejected_lately"], recent)
    past = {cases[n] for n in ("nobody_said_anything", "accepted_used_long_ago", "rejected_long_ago")}

    service.clock = lambda: now
    pool = {face.face_id for face in store.unknown_faces(20, since=now - timedelta(days=30))}
    assert cases["recent_nobody_said_anything"] in pool, "unknown faces wait for grouping within the window"
    assert cases["nobody_said_anything"] not in pool, "and only within it"
    swept = await service.sweep()
    assert swept.crops == len(past)
    crops = _crops(store)
    assert {face for face, (crop, _) in crops.items() if not crop} == past
    assert all(deleted == now.replace(tzinfo=None) for face, (_, deleted) in crops.items() if face in past)
    assert all(crop and deleted is None for face, (crop, deleted) in crops.items() if face not in past)
    assert (await service.sweep()).crops == 0  # nothing more, however often it runs
    exported = exported_faces((await service.export(tuple(Status)))[0])
    assert exported == set(cases.values()) - past - {
        cases["nobody_said_anything"],
        cases["recent_nobody_said_anything"],
    }
    assert (await service.stats()).faces == len(cases)  # the faces themselves stay: only crops go


def _record(name: str) -> RecognitionRecord:
    """A one-face recognition; a face nobody said anything of was called unknown (it waits for grouping)."""
    verdict = Verdict.UNKNOWN if "nobody" in name else Verdict.CONFIDENT
    decision = Decision([Candidate("000_hatsune_miku", "Hatsune Miku", 0.9)], Model.PRIMARY, verdict, 0.8)
    face = Face.of(decision, Box(10, 20, 30, 40), 0.95)
    result = Recognition([face], 640, 480, 1, "animeface-10@t", {})
    return RecognitionRecord("discord", "1001", name.encode().hex().ljust(64, "0")[:64], result, [b"\x89PNG crop"])


def _review(store: Store, cases: dict[str, int], prefix: str, status: str, reviewed, used) -> None:  # noqa: ANN001
    for name, face in cases.items():
        if name.startswith(prefix):
            (row,) = [f for f in store.feedback(limit=None) if f.face_id == face]
            store.review(row.id, status, "discord:9000")
            if reviewed is not None:
                _set(store, "reviewed_at", face, reviewed)
            for suffix, when in used.items():
                if name.endswith(suffix):
                    _set(store, "used_at", face, when)


def _set(store: Store, column: str, face: int, when: datetime) -> None:
    with store.engine.begin() as connection:
        connection.execute(update(CorrectionRow).where(CorrectionRow.face_id == face).values({column: when}))


def _crops(store: Store) -> dict[int, tuple[bytes, datetime | None]]:
    with Session(store.engine) as session:
        rows = session.execute(select(FaceRow.id, FaceRow.crop_png, FaceRow.crop_deleted_at)).all()
    return {face: (crop, None if deleted is None else deleted.replace(tzinfo=None)) for face, crop, deleted in rows}


async def test_retention_zero_stores_the_recognition_but_no_crop(make_service, known_picture):
    service = make_service(retention_days=0, **UNLIMITED)
    reply = await service.whois(known_picture[0], A1)
    assert service.store.face(reply.face_ids[0]).label == known_picture[1]
    (crop,) = _crops(service.store).values()
    assert crop[0] == b"" and crop[1] is not None
    ack = await service.correct(reply.face_ids[0], "Shana", A2)  # feedback is still taken
    await service.review(ack.id, "accepted", OPERATOR)
    assert (await service.export())[1] == 0 and await service.groups() == []


async def test_an_operators_export_starts_the_retention_clock_of_accepted_crops(service: Service, known_picture):
    now = datetime(2027, 3, 1, tzinfo=UTC)
    service.clock = lambda: now - timedelta(days=40)
    face = (await service.whois(known_picture[0], A1, SERVER_A)).face_ids[0]
    ack = await service.correct(face, "Shana", A1, SERVER_A)
    await service.review(ack.id, "accepted", OPERATOR)
    await service.export(scope=service.scope(MOD_A, SERVER_A, Authority.SERVER_MODERATOR))  # not the operators'
    service.clock = lambda: now
    assert (await service.sweep()).crops == 0  # accepted, never used for the shared model: kept
    service.clock = lambda: now - timedelta(days=31)
    assert (await service.export())[1] == 1  # an operator's export, 31 days ago
    service.clock = lambda: now
    assert (await service.sweep()).crops == 1
    assert (await service.export())[1] == 0  # nothing left to learn from


# --- servers the bot left ----------------------------------------------------------------------------------


async def test_guild_removal_purges_a_server_after_its_grace_period_unless_the_bot_is_back(
    service: Service, known_picture
):
    clock = [datetime(2027, 1, 1, tzinfo=UTC)]
    service.clock = lambda: clock[0]
    ours = await named(service, GURA[:2], [A1, A2], SERVER_A)
    theirs = await named(service, GURA[2:4], [B1], SERVER_B)
    await service.watch(True, SERVER_A, MOD_A)
    await service.server_left("discord", "111")
    await service.server_left("discord", "111")  # told twice: the first time counts
    clock[0] += timedelta(days=7)
    assert (await service.sweep()).servers == ()  # exactly the grace period: not yet
    assert await service.server_present("discord", "111") and not await service.server_present("discord", "111")
    clock[0] += timedelta(days=60)
    assert (await service.sweep()).servers == ()  # the bot is back: nothing goes

    await service.server_left("discord", "111")
    clock[0] += timedelta(days=7, seconds=1)
    swept = await service.sweep()
    assert swept.servers == ("discord:111",) and "1 servers past their grace period" in swept.text
    assert (swept.purged.recognitions, swept.purged.faces, swept.purged.corrections) == (2, 2, 2)
    assert swept.purged.watched_channels == 1 and await service.watched_channels("discord", "111") == []
    left = {f.face_id for f in service.store.feedback(limit=None)}
    assert left == set(theirs) and not left & set(ours)
    assert (await service.sweep()).servers == ()  # done: the removal record went with it


def test_privacy_text_says_the_real_days_and_fits_one_message():
    for days, grace in ((30, 7), (1, 14), (0, 0)):
        words = privacy_text(Settings(retention_days=days, guild_grace_days=grace))
        assert len(words) <= 2000
        assert ("I keep no face crops at all." in words) is (days == 0)
        if days:
            assert f"deleted after {days} day{'s' if days > 1 else ''}." in words
        assert f"after {grace} days, unless I am back" in words
    assert "after 30 days" in privacy_text(Settings()) and "after 7 days" in privacy_text(Settings())


async def test_retention_cutoff_counts_whole_days_from_now():
    now = datetime(2027, 1, 31, 12, tzinfo=UTC)
    assert retention.crop_cutoff(Settings(retention_days=30), now) == datetime(2027, 1, 1, 12, tzinfo=UTC)


async def test_serve_sweeps_periodically_and_a_failing_sweep_does_not_stop_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    from darekana.bot import serve
    from darekana.bot.records import Swept

    monkeypatch.setattr(serve, "SWEEP_DELAY_S", 0.0)
    caplog.set_level(logging.INFO, "darekana")
    calls: list[int] = []

    class Sweeping:
        async def sweep(self) -> Swept:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("the database is away")
            return Swept(crops=2)

    sweeping = asyncio.create_task(serve.sweep_periodically(Sweeping(), Settings(sweep_interval_s=0.02)))  # type: ignore[arg-type]
    async with asyncio.timeout(10):
        while len(calls) < 3:
            await asyncio.sleep(0.01)
    sweeping.cancel()
    assert "the retention sweep failed" in caplog.text and "swept: 2 face crops past retention" in caplog.text
    calls.clear()
    never = asyncio.create_task(serve.sweep_periodically(Sweeping(), Settings(sweep_interval_s=0)))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    never.cancel()
    assert calls == []
