"""The core service on a real bundle, real pictures and a real SQLite database: replies, stored records,
corrections, limits, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from darekana.bot.callers import Place, Requester
from darekana.bot.errors import BadRequest, Busy, NotFound, RateLimited
from darekana.bot.fetch import FetchLimits
from darekana.bot.replies import Reply
from darekana.bot.service import Service
from darekana.recognizer.describe import describe_face
from darekana.train.data import scan
from darekana.train.shared import DATASETS

from pictures import group_picture, picture_bytes, repeat_last_scan, slow_jpeg

ALICE = Requester("discord", "1001")
BOB = Requester("discord", "1002")


@contextlib.asynccontextmanager
async def serving(pictures: dict[str, bytes]) -> AsyncIterator[str]:
    """A web server on 127.0.0.1 with ``pictures`` at their paths; yields its base URL."""

    async def picture(request: web.Request) -> web.Response:
        return web.Response(body=pictures[request.path], content_type="image/png")

    app = web.Application()
    app.router.add_get("/{name}", picture)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def counts(service: Service) -> tuple[int, int, int]:
    stats = service.store.stats()
    return stats.recognitions, stats.faces, sum(stats.by_status.values())


async def test_one_face_named_stored_with_its_crop(make_service, known_picture: tuple[bytes, str]):
    service = make_service()
    picture, label = known_picture
    reply = await service.whois(picture, ALICE, Place("g", "c", "m"))
    assert [f.label for f in reply.faces] == [label]
    face, face_id = reply.faces[0], reply.face_ids[0]
    assert reply.lines == [f"1. {describe_face(face)}"] and face.name in reply.text
    assert reply.annotated_png is None  # one face: the text says it all
    stored = service.store.face(face_id)
    assert (stored.label, stored.number, stored.recognition_id) == (label, 1, reply.recognition_id)
    crop = Image.open(io.BytesIO(_crop(service, face_id)))
    assert crop.format == "PNG" and min(crop.size) > 32


def _crop(service: Service, face_id: int) -> bytes:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from darekana.bot.storage.models import FaceRow

    with Session(service.store.engine) as session:
        return session.scalar(select(FaceRow.crop_png).where(FaceRow.id == face_id))


async def test_group_picture_numbered_in_reading_order_with_annotated_picture(make_service):
    service = make_service()
    reply = await service.whois(group_picture(), ALICE)
    assert [f["number"] for f in reply.to_dict()["faces"]] == [1, 2, 3]
    assert [f.box.x for f in reply.faces] == sorted(f.box.x for f in reply.faces)
    assert [line[:3] for line in reply.lines] == ["1. ", "2. ", "3. "]
    annotated = Image.open(io.BytesIO(reply.annotated_png))
    assert annotated.size == (1024, 682)
    assert [f.id for f in service.store.faces_of(reply.recognition_id)] == reply.face_ids


async def test_picture_without_faces_says_so(make_service):
    service = make_service()
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 255, 255)).save(blank, "PNG")
    reply = await service.whois(blank.getvalue(), ALICE)
    assert reply.recognition.faces_detected == 0
    assert reply.lines[0].startswith("no anime face found")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "PNG"),
    ],
)
async def test_bad_pictures_are_refused_and_store_nothing(make_service, data: bytes, message: str):
    service = make_service()
    with pytest.raises(BadRequest, match=message):
        await service.whois(data, ALICE)
    assert counts(service) == (0, 0, 0)


async def test_too_large_picture_is_refused(make_service, known_picture: tuple[bytes, str]):
    service = make_service(max_picture_mb=0.001)
    with pytest.raises(BadRequest, match="larger than|too large"):
        await service.whois(known_picture[0], ALICE)
    assert counts(service) == (0, 0, 0)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.png",
        "http://localhost/x.png",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_links_to_this_machine_are_never_fetched(make_service, url: str):
    service = make_service()
    with pytest.raises(BadRequest, match="private or local|only http"):
        await service.whois_url(url, ALICE)
    assert counts(service) == (0, 0, 0)


async def test_corrections_match_typed_names_and_keep_new_ones(make_service, known_picture: tuple[bytes, str]):
    service = make_service()
    reply = await service.whois(known_picture[0], ALICE)
    face, label = reply.face_ids[0], reply.faces[0].label
    ack = await service.correct(face, "  sakura   KINOMOTO ", BOB)
    assert (ack.label, ack.name, ack.known) == ("001_kinomoto_sakura", "Kinomoto Sakura", True)
    new = await service.correct(face, "Gawr Gura", ALICE)
    assert (new.label, new.known) == ("gawr_gura", False) and "don't know yet" in new.text
    confirmed = await service.confirm(face, Requester("http", "203.0.113.9"))
    assert confirmed.label == label
    rows = {(r.user_id, r.kind, r.label) for r in service.store.feedback()}
    assert rows == {
        ("1002", "correction", "001_kinomoto_sakura"),
        ("1001", "correction", "gawr_gura"),
        ("203.0.113.9", "confirmation", label),
    }


@pytest.mark.parametrize(
    "name, message",
    [("", "tell me"), ("   ", "tell me"), ("x" * 5000, "too long"), ("rin\x00", "control"), ("kagamine", None)],
)
async def test_bad_corrections_change_nothing(
    make_service, known_picture: tuple[bytes, str], name: str, message: str | None
):
    service = make_service()
    face = (await service.whois(known_picture[0], ALICE)).face_ids[0]
    for brought in ("Kagamine Rin", "Kagamine Len"):  # accepted, "kagamine" could then be either
        ack = await service.correct(face, brought, Requester("discord", brought))
        await service.review(ack.id, "accepted", Requester("discord", "moderator"))
    before = counts(service)
    with pytest.raises(BadRequest, match=message or "could be Kagamine Len or Kagamine Rin"):
        await service.correct(face, name, BOB)
    assert counts(service) == before


async def test_unknown_faces_and_corrections_are_not_found(make_service):
    service = make_service()
    with pytest.raises(NotFound, match="no face 424242"):
        await service.correct(424242, "miku", ALICE)
    with pytest.raises(NotFound):
        await service.confirm(424242, ALICE)
    with pytest.raises(NotFound, match="no correction"):
        await service.review(424242, "accepted", ALICE)
    with pytest.raises(BadRequest):
        await service.review(1, "maybe", ALICE)
    assert counts(service) == (0, 0, 0)


async def test_reviewed_corrections_export_as_a_training_folder(make_service, tmp_path: Path):
    service = make_service()
    reply = await service.whois(group_picture(), ALICE)
    first, second, third = reply.face_ids
    accepted = [await service.correct(first, "miku", BOB), await service.confirm(third, BOB)]
    rejected = await service.correct(second, "Rem", BOB)
    for ack in accepted:
        await service.review(ack.id, "accepted", ALICE)
    await service.review(rejected.id, "rejected", ALICE)
    data, count = await service.export()
    assert count == 2
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp_path)
    assert (tmp_path / "manifest.csv").read_text().count("\n") == 3
    dataset = scan([tmp_path])  # exactly what `darekana train fit` reads
    assert sorted(s.label for s in dataset.samples) == sorted(["000_hatsune_miku", reply.faces[2].label])
    assert len({s.group for s in dataset.samples}) == 1  # one source picture: kept in one split
    with pytest.raises(BadRequest):
        await service.export(("everything",))


async def test_user_and_channel_rate_limits(make_service, known_picture: tuple[bytes, str]):
    service = make_service(user_rate="2/60", channel_rate="3/60")
    picture = known_picture[0]
    for _ in range(2):
        await service.whois(picture, ALICE, Place(channel_id="c1"))
    with pytest.raises(RateLimited, match="try again in") as raised:
        await service.whois(picture, ALICE, Place(channel_id="c1"))
    assert 0 < raised.value.retry_after <= 60
    await service.whois(picture, BOB, Place(channel_id="c1"))
    with pytest.raises(RateLimited):
        await service.whois(picture, Requester("discord", "1003"), Place(channel_id="c1"))
    await service.whois(picture, Requester("discord", "1003"), Place(channel_id="c2"))
    assert counts(service)[0] == 4


async def test_a_burst_beyond_the_queue_is_told_busy(make_service, known_picture: tuple[bytes, str]):
    service = make_service(recognition_workers=1, queue_size=1, user_rate="100/1")
    results = await asyncio.gather(
        *(service.whois(known_picture[0], Requester("http", str(i))) for i in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, Busy) for r in results) == 3
    assert all(not isinstance(r, Exception) or isinstance(r, Busy) for r in results)
    assert counts(service)[0] == 2
    assert (await service.whois(known_picture[0], ALICE)).faces  # the queue drained


async def test_metrics_count_outcomes(make_service, known_picture: tuple[bytes, str]):
    service = make_service()
    await service.whois(known_picture[0], Requester("http", "a"))
    with pytest.raises(BadRequest):
        await service.whois(b"nope", Requester("http", "a"))
    text = service.metrics.render().decode()
    assert 'darekana_requests_total{outcome="ok",platform="http"} 1.0' in text
    assert 'darekana_requests_total{outcome="bad_request",platform="http"} 1.0' in text
    assert 'darekana_queue_jobs{state="waiting"} 0.0' in text


async def test_an_unknown_character_cannot_be_confirmed_only_named(make_service):
    service = make_service(user_rate="1000/1")
    strangers = sorted((DATASETS / "hololive-20").glob("*/*.jpg"))[::97][:40]  # characters the bundle never saw
    for path in strangers:
        reply = await service.whois(path.read_bytes(), ALICE)
        if reply.faces[0].verdict == "unknown":
            break
    else:
        pytest.fail("no face of an unseen character was rejected as unknown")
    assert reply.lines[-1] == "1. I don't know this character"
    with pytest.raises(BadRequest, match="didn't name"):
        await service.confirm(reply.face_ids[0], BOB)
    assert (await service.correct(reply.face_ids[0], "Gawr Gura", BOB)).label == "gawr_gura"


async def test_every_head_of_a_real_illustration_is_answered_and_faint_ones_marked(make_service, trained_bundle):
    from darekana.recognizer import Recognizer

    service = make_service()
    picture = picture_bytes("paperface-heads/pictures/236.jpg")  # three heads, characters the bundle never saw
    for faint in (False, True):
        if faint:  # a detector that is sure of nothing: every head still answered, each marked
            service.recognizer = Recognizer(trained_bundle, detection={"sure": 1.01})
        reply = await service.whois(picture, BOB if faint else ALICE)
        assert reply.recognition.faces_detected == 3 and len(reply.lines) == 3
        for face, line in zip(reply.faces, reply.lines):
            assert face.sure is (not faint)
            assert ("(unclear face)" in line) is faint
            assert not (faint and face.verdict == "confident")


# --- the rules every platform shares ---------------------------------------------------------------------


async def test_faces_are_found_by_their_number_in_an_answer(make_service):
    service = make_service()
    reply = await service.whois(group_picture(), ALICE)
    assert (await service.face_number(reply.recognition_id, 2)).id == reply.face_ids[1]
    for number, message in ((None, "Which face?"), (0, "no face 0"), (4, "no face 4")):
        with pytest.raises(BadRequest, match=message):
            await service.face_number(reply.recognition_id, number)
    ack = await service.feedback_by_number(reply.recognition_id, 3, "Shana", BOB)
    assert (ack.face_id, ack.kind, ack.label) == (reply.face_ids[2], "correction", "008_shana")
    ack = await service.feedback_by_number(reply.recognition_id, 1, None, BOB)
    assert (ack.face_id, ack.kind) == (reply.face_ids[0], "confirmation")
    single = await service.whois(picture_bytes("animeface-10/000_hatsune_miku/face_128_326_108.png"), ALICE)
    assert (await service.face_number(single.recognition_id, None)).id == single.face_ids[0]  # the only one


async def test_only_confident_answers_are_worth_a_post_on_x(make_service, known_picture: tuple[bytes, str]):
    service = make_service(twitter_only_confident=True)
    named = await service.whois(known_picture[0], ALICE)
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 255, 255)).save(blank, "PNG")
    doubtful = await service.whois(blank.getvalue(), ALICE)  # no face: a guess from the whole picture
    assert named.named_any and not doubtful.named_any
    assert service.worth_posting("twitter", named) and not service.worth_posting("twitter", doubtful)
    assert service.worth_posting("discord", doubtful)  # asked in person: always answered
    assert make_service(twitter_only_confident=False).worth_posting("twitter", doubtful)


async def test_on_x_a_doubtful_answer_is_stored_but_not_worth_a_post(make_service, known_picture: tuple[bytes, str]):
    service = make_service(twitter_only_confident=True)
    service.fetch_limits = FetchLimits(allow_private=True)  # the pictures are on this machine
    x = Requester("twitter", "555")
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 255, 255)).save(blank, "PNG")
    pictures = {"/known.png": known_picture[0], "/blank.png": blank.getvalue()}
    async with serving(pictures) as base:
        named = await service.reply_to_post(f"{base}/known.png", x, annotate=False)
        assert named is not None and named.faces[0].label == known_picture[1] and named.annotated_png is None
        assert await service.reply_to_post(f"{base}/blank.png", x) is None  # no face named with confidence
        assert counts(service)[0] == 2  # stored all the same, as every recognition is
        loose = make_service(twitter_only_confident=False)
        loose.fetch_limits = service.fetch_limits
        assert await loose.reply_to_post(f"{base}/blank.png", x) is not None


async def test_watch_mode_takes_up_questions_in_watched_channels_only(make_service):
    service = make_service()
    moderator = Requester("discord", "mod")
    assert await service.watch(True, Place("guild", "watched"), moderator)
    assert await service.watched_question("discord", "who is she?", "watched")
    assert await service.watched_question("discord", "sauce?", "thread", "watched")  # a thread of it
    assert not await service.watched_question("discord", "nice picture", "watched")  # not a question
    assert not await service.watched_question("discord", "who is she?", "elsewhere")
    assert not await service.watched_question("twitter", "who is she?", "watched")  # another platform's channel
    assert not await service.watch(True, Place("guild", "watched"), moderator)  # already on
    assert await service.watch(False, Place("guild", "watched"), moderator)
    assert not await service.watched_question("discord", "who is she?", "watched")
    with pytest.raises(BadRequest):
        await service.watch(True, Place(channel_id="dm"), moderator)


async def test_watch_mode_answers_within_its_rate_and_only_with_confidence(make_service, known_picture):
    service = make_service(watch_rate="2/60", watch_only_confident=True, user_rate="100/1")
    blank = io.BytesIO()
    Image.new("RGB", (300, 200), (255, 255, 255)).save(blank, "PNG")
    asked: list[str] = []

    def asking(picture: bytes) -> Callable[[], Awaitable[Reply]]:
        async def recognize() -> Reply:
            asked.append("asked")
            return await service.whois(picture, ALICE)

        return recognize

    async def refused() -> Reply:
        raise BadRequest("that file is empty")

    assert await service.answer_unasked("discord", "c", asking(blank.getvalue())) is None  # doubtful: quiet
    assert await service.answer_unasked("discord", "c", refused) is None  # errors are not said either
    assert await service.answer_unasked("discord", "c", asking(known_picture[0])) is not None
    assert await service.answer_unasked("discord", "c", asking(known_picture[0])) is not None
    assert await service.answer_unasked("discord", "c", asking(known_picture[0])) is None  # the channel's rate
    assert await service.answer_unasked("discord", "other", asking(known_picture[0])) is not None
    assert len(asked) == 4  # past its rate, a channel's pictures are not even recognised


async def test_an_answer_is_posted_once_however_often_it_is_delivered(
    make_service, database_url: str, known_picture: tuple[bytes, str]
):
    first, second = make_service(database_url), make_service(database_url)  # two processes, one database
    reply = await first.whois(known_picture[0], ALICE)
    posts: list[str] = []

    async def post() -> str:
        await asyncio.sleep(0.05)  # the other delivery arrives while this one is posting
        posts.append("posted")
        return f"post-{len(posts)}"

    deliveries = (first, second, first)
    claims = await asyncio.gather(*(s.answer_once("twitter", "42", post, reply.recognition_id) for s in deliveries))
    assert sorted(claims) == [False, False, True] and posts == ["posted"]
    assert await second.answered("twitter", "post-1") == reply.recognition_id  # replies to it can correct it
    assert await first.answer_once("twitter", "43", post) and posts == ["posted", "posted"]


# --- what people say cannot steer others ---------------------------------------------------------------


async def test_a_strangers_new_name_changes_nothing_for_anyone_else_until_accepted(make_service, known_picture):
    service = make_service()
    face = (await service.whois(known_picture[0], ALICE)).face_ids[0]
    stranger = Requester("http", "198.51.100.7")
    proposed = await service.correct(face, "Miku Rin", stranger)
    assert (proposed.label, proposed.known) == ("miku_rin", False)
    assert (await service.correct(face, "miku", BOB)).label == "000_hatsune_miku"  # not "could be ..."
    assert "miku_rin" not in {c.label for c in await service.characters()}
    assert (await service.correct(face, "miku rin", stranger)).known  # theirs, for them
    assert not (await service.correct(face, "miku rin", BOB)).known  # Bob proposes it anew
    await service.review(proposed.id, "accepted", Requester("http", "moderator"))
    assert (await service.correct(face, "Miku Rin", ALICE)).known  # now everyone's
    assert "miku_rin" in {c.label for c in await service.characters()}


async def test_corrections_are_rate_limited_per_person_and_per_address(make_service, known_picture):
    service = make_service(feedback_rate="3/60", feedback_channel_rate="4/60")
    face = (await service.whois(known_picture[0], ALICE)).face_ids[0]
    for name in ("Alpha Centauri", "Zeta Reticuli", "Orion Nebula"):
        await service.correct(face, name, BOB)
    before = counts(service)
    with pytest.raises(RateLimited):
        await service.correct(face, "Someone Else", BOB)
    with pytest.raises(RateLimited):
        await service.confirm(face, BOB)
    assert counts(service) == before and len(await asyncio.to_thread(service.store.characters)) == 10 + 3
    behind_one_address = [Requester("http", f"203.0.113.1/{n}") for n in range(5)]
    where = Place(channel_id="203.0.113.1")
    for person in behind_one_address[:4]:
        await service.correct(face, "Shana", person, where)
    with pytest.raises(RateLimited):
        await service.correct(face, "Shana", behind_one_address[4], where)


async def test_a_missing_face_is_not_found_whatever_the_name(make_service):
    service = make_service()
    for name in ("Shana", "", "x" * 5000):
        with pytest.raises(NotFound):
            await service.correct(123456, name, BOB)


# --- no picture holds a worker ----------------------------------------------------------------------------


def _scan_bomb() -> bytes:
    out = io.BytesIO()
    Image.open(DATASETS / "paperface-heads/pictures/236.jpg").convert("RGB").save(out, "JPEG", progressive=True)
    return repeat_last_scan(out.getvalue(), 399)  # 400 passes of its final scan


async def test_a_scan_bomb_does_not_hold_the_worker_from_the_next_picture(make_service, known_picture):
    service = make_service(recognition_workers=1, user_rate="100/1")
    started = asyncio.get_running_loop().time()
    bomb, crop = await asyncio.gather(
        service.whois(_scan_bomb(), ALICE), service.whois(known_picture[0], BOB), return_exceptions=True
    )
    assert isinstance(bomb, BadRequest) and "takes too long to read" in bomb.message
    assert crop.faces[0].label == known_picture[1]
    assert asyncio.get_running_loop().time() - started < 3
    assert counts(service)[0] == 1  # the bomb stored nothing


async def test_a_picture_that_decodes_past_the_budget_is_stopped_then_and_the_next_one_answered(
    make_service, known_picture
):
    service = make_service(recognition_workers=1, user_rate="100/1", picture_budget_s=0.3)
    await service.whois(known_picture[0], BOB)  # the decoder's process is started
    started = asyncio.get_running_loop().time()
    slow, crop = await asyncio.gather(
        service.whois(slow_jpeg(), ALICE), service.whois(known_picture[0], BOB), return_exceptions=True
    )
    assert isinstance(slow, BadRequest) and slow.message == "this picture takes too long to read"
    assert crop.faces[0].label == known_picture[1]
    # stopped at its budget, not read to the end (its message says so); the bound leaves a loaded machine room
    assert asyncio.get_running_loop().time() - started < 3
    assert counts(service)[0] == 2


async def test_a_picture_past_its_time_budget_is_refused_and_nothing_is_stored(make_service, known_picture):
    service = make_service(picture_budget_s=0.0)
    with pytest.raises(BadRequest, match="takes too long to read"):
        await service.whois(known_picture[0], ALICE)
    assert counts(service) == (0, 0, 0)
    assert service.queue.running == 0  # the worker is free again
