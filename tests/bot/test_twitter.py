"""darekana on X, end to end: tweepy's real async client talks to a fake X API v2 on 127.0.0.1
(tests/fakes/x_api.py), over a real service, model and SQLite database."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace

import pytest
import tweepy
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from darekana import cli
from darekana.bot import serve
from darekana.bot.fetch import FetchLimits
from darekana.bot.records import Kind
from darekana.bot.replies import Reply
from darekana.bot.service import Service
from darekana.bot.settings import Settings
from darekana.bot.twitter import poller as twitter_bot
from darekana.bot.twitter.poller import Refused, TwitterBot, make_client, wait_for_reset
from darekana.bot.twitter.state import configured
from darekana.bot.twitter.text import Said, answer_text, asks_to_forget, parse_feedback, weighted_length
from darekana.recognizer.describe import describe
from darekana.recognizer.detect import Box
from darekana.recognizer.results import Candidate, Decision, Face, Model, Recognition, Verdict

from fakes.x_api import BOT_ID, FakeX
from pictures import group_picture

CREDENTIALS = {
    "twitter_consumer_key": "ck",
    "twitter_consumer_secret": "cs",
    "twitter_access_token": "at",
    "twitter_access_token_secret": "ats",
}
Connect = Callable[[Service], Awaitable[TwitterBot]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeX]:
    x = FakeX()
    await x.start()
    yield x
    await x.close()


@pytest.fixture
async def connect(fake: FakeX) -> AsyncIterator[Connect]:
    """Starts a bot for a service (a "process"): a new tweepy client on the fake, as after a restart."""
    sessions = []

    async def start(service: Service) -> TwitterBot:
        client = make_client(service.settings)
        client.session = fake.session()
        sessions.append(client.session)
        return TwitterBot(service, service.settings, client)

    yield start
    for session in sessions:
        await session.close()


def x_service(make_service: Callable[..., Service], **settings: object) -> Service:
    """A service configured for X whose fetcher may read the fake's pictures on 127.0.0.1 (tests only).
    It answers unsure faces too: how sure the test model is of a picture varies from one training to the next."""
    values = {
        **CREDENTIALS,
        "user_rate": "1000/1",
        "twitter_replies_per_hour": 100,
        "twitter_replies_per_day": 100,
        "twitter_poll_seconds": 0.05,
        "twitter_only_confident": False,
        **settings,
    }
    service = make_service(**values)
    service.fetch_limits = FetchLimits(allow_private=True)
    return service


def replied_to(post: dict) -> str:
    return next(r["id"] for r in post["referenced_tweets"] if r["type"] == "replied_to")


def name_of(service: Service, label: str) -> str:
    return next(c.name for c in service.store.characters() if c.label == label)


async def until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def plain_picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (128, 128, 128)).save(out, "PNG")
    return out.getvalue()


# --- answering mentions --------------------------------------------------------------------------------


async def test_mention_with_a_photo_gets_one_text_reply_naming_the_character(
    fake, connect, make_service, known_picture
):
    service = x_service(make_service, twitter_bearer_token="bearer")
    picture, label = known_picture
    mention = fake.post("@darekana who is this?", media=(fake.photo(picture),))
    bot = await connect(service)
    await bot.poll()

    [reply] = fake.replies
    assert replied_to(reply) == mention and name_of(service, label) in reply["text"]
    assert weighted_length(reply["text"]) <= 280 and "http" not in reply["text"]
    [read] = fake.find("GET", "/mentions")
    assert "since_id" not in read.query and read.auth == "Bearer"  # app-only reads when a bearer token is set
    assert set(read.query["expansions"].split(",")) == {
        "attachments.media_keys",
        "referenced_tweets.id",
        "referenced_tweets.id.attachments.media_keys",
    }
    assert read.query["media.fields"] == "url,type"
    assert {"author_id", "referenced_tweets", "conversation_id"} <= set(read.query["tweet.fields"].split(","))
    assert fake.find("POST", "/2/tweets")[0].auth == "OAuth"  # posting needs the user context
    recognition = service.store.answered_recognition("twitter", reply["id"])
    assert [f.label for f in service.store.faces_of(recognition)] == [label]


async def test_mention_replying_to_or_quoting_a_post_recognises_that_posts_photo(
    fake, connect, make_service, known_picture
):
    service = x_service(make_service)
    picture, label = known_picture
    original = fake.post("look at her", author="3000", media=(fake.photo(picture),), mention=False)
    replying = fake.post("@darekana who?", replied_to=original)
    quoting = fake.post("@darekana and this?", quoted=original)
    fake.post("@darekana hello")  # no picture anywhere: no post (saying so would cost one)
    fake.post("@darekana this video?", media=(fake.photo(picture, kind="video"),))
    fake.post("@darekana", author=BOT_ID, media=(fake.photo(picture),))  # its own post: never answered
    bot = await connect(service)
    await bot.poll()

    assert [replied_to(r) for r in fake.replies] == [replying, quoting]
    assert all(name_of(service, label) in r["text"] for r in fake.replies)
    assert fake.find("GET", "/mentions")[0].auth == "OAuth"  # no bearer token: reads as the bot's user


@pytest.mark.parametrize("only_confident", [True, False])
async def test_only_confident_answers_unless_configured_otherwise(
    fake, connect, make_service, known_picture, only_confident
):
    service = x_service(make_service, twitter_only_confident=only_confident)
    pictures = {
        fake.post(f"@darekana who? {n}", media=(fake.photo(picture),)): picture
        for n, picture in enumerate([plain_picture(), known_picture[0], group_picture()])
    }
    await (await connect(service)).poll()

    # How sure the test model is varies between trainings: ask it which pictures have a confident face.
    def confident(picture: bytes) -> bool:
        return any(f.verdict == "confident" for f in service.recognizer.recognize(picture).faces)

    expected = [mention for mention, picture in pictures.items() if not only_confident or confident(picture)]
    assert [replied_to(r) for r in fake.replies] == expected
    assert service.store.stats().recognitions == 3  # recognised either way


async def test_since_id_round_trip_across_a_restart(fake, connect, make_service, known_picture):
    first, second = (fake.post(f"@darekana {n}", media=(fake.photo(known_picture[0]),)) for n in (1, 2))
    await (await connect(x_service(make_service))).poll()
    assert [replied_to(r) for r in fake.replies] == [first, second]  # oldest first
    assert x_service(make_service).store.cursor("twitter:since_id") == second

    third = fake.post("@darekana 3", media=(fake.photo(known_picture[0]),))
    restarted = await connect(x_service(make_service))  # a new process on the same database
    await restarted.poll()
    assert fake.find("GET", "/mentions")[-1].query["since_id"] == second
    assert [replied_to(r) for r in fake.replies] == [first, second, third]


async def test_the_same_mention_delivered_again_is_answered_once(fake, connect, make_service, known_picture):
    mention = fake.post("@darekana who?", media=(fake.photo(known_picture[0]),))
    bot = await connect(x_service(make_service))
    await bot.poll()
    fake.ignore_since_id = True  # X sends it again
    await bot.poll()
    await (await connect(x_service(make_service))).poll()  # and again after a restart
    assert len(fake.find("GET", "/mentions")) == 3
    assert [replied_to(r) for r in fake.replies] == [mention]


async def test_first_poll_reads_one_page_and_a_backlog_is_capped(
    fake, connect, make_service, known_picture, monkeypatch
):
    monkeypatch.setattr(twitter_bot, "PAGE_SIZE", 5)
    monkeypatch.setattr(twitter_bot, "MAX_PAGES", 3)
    photo = fake.photo(known_picture[0])
    older = fake.post("@darekana from before", media=(photo,))  # on the second page: history, never read
    chatter = [fake.post(f"@darekana hi {n}") for n in range(4)]
    newest = fake.post("@darekana now", media=(photo,))
    bot = await connect(x_service(make_service))
    await bot.poll()
    assert len(fake.find("GET", "/mentions")) == 1 and [replied_to(r) for r in fake.replies] == [newest]
    assert bot.state.since_id() == newest and older not in [replied_to(r) for r in fake.replies]
    assert len(chatter) == 4  # with ``newest``, one full page

    backlog = [fake.post(f"@darekana later {n}") for n in range(17)]  # 4 pages of 5: one page too many
    await bot.poll()
    pages = fake.find("GET", "/mentions")[1:]
    assert [p.query.get("pagination_token") for p in pages] == [None, "5", "10"]
    assert all(p.query["since_id"] == newest for p in pages)
    assert bot.state.since_id() == backlog[-1]
    assert any("older ones were skipped" in problem for problem in bot.state.problems())


@pytest.mark.parametrize("limits", [{"twitter_replies_per_hour": 2}, {"twitter_replies_per_day": 2}])
async def test_budget_answers_the_oldest_and_skips_the_rest_for_good(
    fake, connect, make_service, known_picture, limits
):
    mentions = [fake.post(f"@darekana {n}", media=(fake.photo(known_picture[0]),)) for n in range(4)]
    bot = await connect(x_service(make_service, **limits))
    await bot.poll()
    await bot.poll()
    assert [replied_to(r) for r in fake.replies] == mentions[:2]
    late = fake.post("@darekana now?", media=(fake.photo(known_picture[0]),))
    await (await connect(x_service(make_service, **limits))).poll()  # the budget is in the database
    assert len(fake.replies) == 2 and bot.state.since_id() == late
    assert sum("budget spent" in p for p in bot.state.problems()) == 3
    assert make_service().store.stats().recognitions == 2  # over budget: not even recognised


# --- corrections and confirmations -----------------------------------------------------------------------


async def test_replies_to_an_answer_correct_or_confirm_it(fake, connect, make_service, known_picture):
    service = x_service(make_service)
    picture, label = known_picture
    fake.post("@darekana who?", media=(fake.photo(picture),))
    bot = await connect(service)
    await bot.poll()
    answer = fake.replies[0]["id"]
    face = service.store.faces_of(service.store.answered_recognition("twitter", answer))[0]

    corrected = fake.post("@darekana @alice wrong, it's Kinomoto Sakura!", author="2001", replied_to=answer)
    confirmed = fake.post("@darekana Right!", author="2002", replied_to=answer)
    fake.post("@darekana nice one", author="2003", replied_to=answer)  # talk: nothing stored, nothing posted
    await bot.poll()

    feedback = {f.user_id: f for f in service.store.feedback()}
    assert set(feedback) == {"2001", "2002"} and all(f.face_id == face.id for f in feedback.values())
    assert (feedback["2001"].kind, feedback["2001"].label) == ("correction", "001_kinomoto_sakura")
    assert (feedback["2002"].kind, feedback["2002"].label) == ("confirmation", label)
    acks = {replied_to(r): r["text"] for r in fake.replies[1:]}
    assert set(acks) == {corrected, confirmed} and "Kinomoto Sakura" in acks[corrected]


async def test_corrections_of_a_group_picture_need_the_face_number(fake, connect, make_service):
    service = x_service(make_service)
    fake.post("@darekana who are they?", media=(fake.photo(group_picture()),))
    bot = await connect(service)
    await bot.poll()
    answer = fake.replies[0]
    assert [line[:3] for line in answer["text"].splitlines()] == ["1. ", "2. ", "3. "]

    unnumbered = fake.post("@darekana it's Shana", replied_to=answer["id"])
    numbered = fake.post("@darekana #2 Shana", replied_to=answer["id"])
    too_far = fake.post("@darekana #5 right", author="2009", replied_to=answer["id"])
    zero = fake.post("@darekana #0 Shana", author="2010", replied_to=answer["id"])
    await bot.poll()

    acks = {replied_to(r): r["text"] for r in fake.replies[1:]}
    assert "Which face?" in acks[unnumbered] and "no face 5" in acks[too_far] and "no face 0" in acks[zero]
    assert "Shana" in acks[numbered]
    [stored] = service.store.feedback()
    faces = service.store.faces_of(service.store.answered_recognition("twitter", answer["id"]))
    assert (stored.face_id, stored.label) == (faces[1].id, "008_shana")


async def test_a_correction_over_budget_is_stored_but_not_acknowledged(fake, connect, make_service, known_picture):
    service = x_service(make_service, twitter_replies_per_hour=1)
    fake.post("@darekana who?", media=(fake.photo(known_picture[0]),))
    bot = await connect(service)
    await bot.poll()
    fake.post("@darekana it's Shana", replied_to=fake.replies[0]["id"])
    await bot.poll()
    assert len(fake.replies) == 1 and [f.label for f in service.store.feedback()] == ["008_shana"]


@pytest.mark.parametrize(
    "text, said",
    [
        ("@darekana right", Said("confirmation", None)),
        ("@darekana @bob Correct.", Said("confirmation", None)),
        ("@darekana #2 right", Said("confirmation", 2)),
        ("@darekana it's Kagamine Rin", Said("correction", None, "Kagamine Rin")),
        ("@darekana It’s Miku!", Said("correction", None, "Miku")),
        ("@darekana wrong, Hakurei Reimu", Said("correction", None, "Hakurei Reimu")),
        ("@darekana no, it's 2: Shana", Said("correction", 2, "Shana")),
        ("@darekana #3 Izumi Konata", Said("correction", 3, "Izumi Konata")),
        ("@darekana wrong, #2 is Akiyama Mio", Said("correction", 2, "Akiyama Mio")),
        ("@darekana it's 初音ミク", Said("correction", None, "初音ミク")),
        ("@darekana it's Tom &amp; Jerry", Said("correction", None, "Tom & Jerry")),  # as the API escapes it
        ("@darekana nice picture", None),
        ("@darekana no", None),
        ("@darekana righteous fury", None),
    ],
)
def test_feedback_grammar(text: str, said: Said | None):
    assert parse_feedback(text) == said


# --- fitting in a post ---------------------------------------------------------------------------------


def face(number: int, name: str, verdict: str = "confident") -> Face:
    candidates = [
        Candidate(f"label_{number}", name, 0.97),
        Candidate("else", "Someone Else", 0.02),
        Candidate("another", "Another Person", 0.01),
    ]
    return Face.of(Decision(candidates, Model.PRIMARY, Verdict(verdict), 0.5), Box(10 * number, 0, 10, 10), 0.99)


def reply_of(faces: list[Face]) -> Reply:
    result = Recognition(faces, 100, 100, len(faces), "test", {})
    return Reply(1, result, list(range(1, len(faces) + 1)), describe(result))


def test_weighted_length_counts_cjk_and_emoji_double():
    assert weighted_length("Hatsune Miku") == 12
    assert weighted_length("初音ミク") == 8
    assert weighted_length("é—") == 2  # Latin-1 and some general punctuation weigh 1
    assert weighted_length("…") == 2  # but not all of it
    assert weighted_length("🙂") == 2


@pytest.mark.parametrize(
    "faces, expect",
    [
        ([face(1, "Hatsune Miku")], ["1. Hatsune Miku (97%); then Someone Else 2%, Another Person 1%"]),
        ([face(n, "初音ミク" * 4) for n in range(1, 5)], ["1. 初音ミク初音ミク初音ミク初音ミク (97%)\n2. "]),
        (
            [
                face(n, "Kagamine Rin of the very long series title" * 2, v)
                for n, v in zip(range(1, 9), ["confident", "unsure", "unknown"] * 3)
            ],
            ["1. Kagamine Rin of the ver… (97%)\n2. maybe Kagamine Rin of the ver…?\n3. ?\n", "\n8. maybe"],
        ),
        (
            [face(n, "初音ミク" * 6) for n in range(1, 30)],
            ["1. 初音ミク初音ミク初音ミ… (97%)\n2. ", "\n8. ", "\n+21 more"],
        ),
    ],
)
def test_answers_fit_in_one_post_shortening_names_then_faces(faces: list[Face], expect: list[str]):
    text = answer_text(reply_of(faces))
    assert weighted_length(text) <= 280
    for part in expect:
        assert part in text


# --- X's limits and failures -----------------------------------------------------------------------------


async def test_a_429_waits_for_the_reset_and_never_hammers(fake, connect, make_service, known_picture):
    reset = int(time.time()) + 2
    fake.fail_next(
        "GET",
        "/mentions",
        429,
        {"title": "Too Many Requests", "status": 429},
        {"x-rate-limit-limit": "10", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
    )
    mention = fake.post("@darekana who?", media=(fake.photo(known_picture[0]),))
    bot = await connect(x_service(make_service))
    task = asyncio.create_task(bot.run())
    try:
        await until(lambda: fake.replies)
    finally:
        task.cancel()
    reads = fake.find("GET", "/mentions")
    assert reads[1].at >= reset and reads[1].at - reads[0].at < 4  # waited for the reset, no longer
    assert [replied_to(r) for r in fake.replies] == [mention]
    assert any("rate limit" in p for p in bot.state.problems())


def test_the_wait_is_for_the_limit_that_is_spent():
    def refused(headers: dict[str, str]) -> tweepy.TooManyRequests:
        response = SimpleNamespace(status=429, reason="Too Many Requests", headers=headers)
        reset = headers.get("x-rate-limit-reset")
        return tweepy.TooManyRequests(response, response_json={}, reset_time=int(reset) if reset else None)

    daily = {
        "x-rate-limit-remaining": "99",
        "x-rate-limit-reset": "1060",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": "87000",
    }
    assert wait_for_reset(refused(daily), now=1000.0) == 86001
    assert wait_for_reset(refused({"x-rate-limit-reset": "1030"}), now=1000.0) == 31
    assert wait_for_reset(refused({}), now=1000.0) == 15 * 60


async def test_a_refused_post_is_not_retried_and_the_poller_waits(fake, connect, make_service, known_picture):
    fake.fail_next(
        "POST",
        "/2/tweets",
        429,
        None,
        {"x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(int(time.time()) + 60)},
    )
    mention = fake.post("@darekana who?", media=(fake.photo(known_picture[0]),))
    service = x_service(make_service)
    bot = await connect(service)
    with pytest.raises(tweepy.TooManyRequests):
        await bot.poll()
    assert bot.state.since_id() == mention  # claimed: handling it again could not post it anyway
    await bot.poll()
    assert fake.replies == [] and len(fake.find("POST", "/2/tweets")) == 1
    assert service.store.stats().recognitions == 1


async def test_server_errors_and_malformed_answers_back_off_then_recover(fake, connect, make_service, known_picture):
    fake.fail_next("GET", "/mentions", 503, {"title": "Service Unavailable", "status": 503})
    fake.fail_next("GET", "/mentions", 200, "{this is not json")
    fake.fail_next("GET", "/mentions", 200, {"data": [{"text": "a mention without an id"}]})
    mention = fake.post("@darekana who?", media=(fake.photo(known_picture[0]),))
    bot = await connect(x_service(make_service))  # polls every 0.05 s: backs off 0.1, 0.2, 0.4 s
    task = asyncio.create_task(bot.run())
    try:
        await until(lambda: fake.replies)
    finally:
        task.cancel()
    at = [call.at for call in fake.find("GET", "/mentions")][:4]
    gaps = [later - earlier for earlier, later in itertools.pairwise(at)]
    assert len(gaps) == 3 and all(gap >= wait - 0.01 for gap, wait in zip(gaps, (0.1, 0.2, 0.4))), gaps
    assert [replied_to(r) for r in fake.replies] == [mention]
    problems = bot.state.problems()
    assert len(problems) == 3 and all("reading mentions failed" in p for p in problems)
    assert any("503" in p for p in problems) and any("MalformedPage" in p for p in problems)


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_stop_with_a_message(fake, connect, make_service, status):
    fake.fail_next("GET", "/2/users/me", 503)  # X unavailable at start: tried again
    fake.fail_next("GET", "/2/users/me", status, {"title": "Unauthorized", "status": status})
    bot = await connect(x_service(make_service))
    with pytest.raises(Refused, match="refused the DAREKANA_TWITTER_"):
        await asyncio.wait_for(bot.run(), 10)
    assert len(fake.find("GET", "/2/users/me")) == 2 and fake.find("GET", "/mentions") == []


# --- configuration, serve and status ---------------------------------------------------------------------


def test_off_unless_all_four_credentials_are_set():
    assert not configured(Settings())
    assert configured(Settings(**CREDENTIALS))
    with pytest.raises(ValueError, match="DAREKANA_TWITTER_ACCESS_TOKEN_SECRET"):
        configured(Settings(**{**CREDENTIALS, "twitter_access_token_secret": ""}))
    assert Settings.from_env({"DAREKANA_TWITTER_ONLY_CONFIDENT": "false"}).twitter_only_confident is False
    with pytest.raises(ValueError, match="DAREKANA_TWITTER_ONLY_CONFIDENT"):
        Settings.from_env({"DAREKANA_TWITTER_ONLY_CONFIDENT": "maybe"})


@pytest.mark.parametrize("credentials", [CREDENTIALS, {}])
async def test_serve_polls_x_only_when_configured(fake, trained_bundle, tmp_path, monkeypatch, credentials):
    sessions = []

    def client_on_fake(settings: Settings) -> tweepy.asynchronous.AsyncClient:
        client = make_client(settings)
        client.session = fake.session()
        sessions.append(client.session)
        return client

    monkeypatch.setattr(twitter_bot, "make_client", client_on_fake)
    settings = Settings(
        bundle=trained_bundle,
        database_url=f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        http_port=0,
        twitter_poll_seconds=0.05,
        **credentials,
    )
    ready = asyncio.Event()
    task = asyncio.create_task(serve.serve(settings, ready))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        if credentials:
            await until(lambda: len(fake.find("GET", "/mentions")) >= 2)
        else:
            await asyncio.sleep(0.3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for session in sessions:
            await session.close()
    reads = fake.find("GET", f"/2/users/{BOT_ID}/mentions")
    assert (len(reads) >= 2) if credentials else fake.calls == []


async def test_status_command_prints_budget_since_id_and_problems(
    fake, connect, make_service, known_picture, tmp_path, monkeypatch, capsys
):
    service = x_service(make_service, twitter_replies_per_hour=1)
    mentions = [fake.post(f"@darekana {n}", media=(fake.photo(known_picture[0]),)) for n in range(2)]
    await (await connect(service)).poll()
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    for name, value in {
        "DATABASE_URL": service.settings.database_url,
        "TWITTER_REPLIES_PER_HOUR": "1",
        **{key.upper(): value for key, value in CREDENTIALS.items()},
    }.items():
        monkeypatch.setenv(f"DAREKANA_{name}", value)
    assert cli.main(["twitter", "status"]) == 0
    out = capsys.readouterr().out
    assert "X poller: on" in out and "posts: 1/1 in the last hour, 1/17 in the last 24 hours" in out
    assert f"since_id: {mentions[1]}" in out and f"mention {mentions[1]} not answered" in out


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_any_reply_is_feedback_or_talk(text: str):
    said = parse_feedback(text)
    if said is not None:
        assert said.kind in (Kind.CONFIRMATION, Kind.CORRECTION)
        assert said.face is None or 0 <= said.face <= 99
        assert (said.kind is Kind.CORRECTION) == bool(said.name)


# --- forget -------------------------------------------------------------------------------------------


def rows_of(service: Service, author: str) -> tuple[int, int]:
    """(recognitions asked by ``author``, corrections and confirmations by them)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from darekana.bot.storage.models import CorrectionRow, RecognitionRow

    with Session(service.store.engine) as session:
        asked = select(func.count()).select_from(RecognitionRow).where(RecognitionRow.user_id == author)
        said = select(func.count()).select_from(CorrectionRow).where(CorrectionRow.user_id == author)
        return session.scalar(asked) or 0, session.scalar(said) or 0


async def test_forget_mention_deletes_that_accounts_data_and_answers_briefly(
    fake, connect, make_service, known_picture
):
    service = x_service(make_service)
    fake.post("@darekana who?", author="2001", media=(fake.photo(known_picture[0]),))
    fake.post("@darekana and her?", author="2002", media=(fake.photo(known_picture[0]),))
    bot = await connect(service)
    await bot.poll()
    answered = fake.replies[0]["id"]  # 2001's
    fake.post("@darekana it's Shana", author="2002", replied_to=answered)
    await bot.poll()
    assert rows_of(service, "2001") == (1, 0) and rows_of(service, "2002") == (1, 1)

    forget = fake.post("@darekana @someone Forget me!", author="2001", replied_to=answered)
    await bot.poll()
    reply = fake.replies[-1]
    assert replied_to(reply) == forget and reply["text"].startswith(
        "Done: I deleted 1 picture you asked about (1 face, crops included)"
    )
    assert weighted_length(reply["text"]) <= 280
    assert rows_of(service, "2001") == (0, 0)
    assert rows_of(service, "2002") == (1, 0)  # their picture stays; their correction went with 2001's picture
    fake.ignore_since_id = True
    await bot.poll()  # delivered again: forgotten again (nothing left), never answered twice
    assert [replied_to(r) for r in fake.replies].count(forget) == 1


async def test_forget_over_budget_deletes_but_posts_nothing(fake, connect, make_service, known_picture):
    service = x_service(make_service, twitter_replies_per_hour=1)
    fake.post("@darekana who?", author="2001", media=(fake.photo(known_picture[0]),))
    bot = await connect(service)
    await bot.poll()
    fake.post("@darekana forget", author="2001")
    await bot.poll()
    assert len(fake.replies) == 1 and service.store.stats().recognitions == 0
    assert any("budget spent" in problem for problem in bot.state.problems())


@pytest.mark.parametrize(
    "text, forget",
    [
        ("@darekana forget", True),
        ("@darekana @bob Forget me.", True),
        ("@darekana FORGET!", True),
        ("@darekana forget her name", False),
        ("@darekana don't forget", False),
        ("@darekana it's Forget", False),
    ],
)
def test_what_asks_to_forget(text: str, forget: bool):
    assert asks_to_forget(text) is forget
