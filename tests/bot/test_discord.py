"""The Discord adapter end to end: discord.py's own code, a real service on the test bundle, and a fake
Discord API on 127.0.0.1 (tests/fakes/discord_api.py) that records what discord.py sends."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import discord.gateway
import discord.http
import pytest
import yarl
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from darekana.bot.callers import Place, Requester
from darekana.bot.discord import Darekana, make_client
from darekana.bot.fetch import PRIVATE_MESSAGE
from darekana.bot.service import Service
from darekana.bot.storage.models import AnswerRow, CorrectionRow, FaceRow, GuildRemovalRow, RecognitionRow
from darekana.train.shared import DATASETS

from fakes.discord_api import (
    BOT_ID,
    BOT_USER,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    MANAGE_MESSAGES,
    MODERATOR_ROLE_ID,
    NSFW_CHANNEL_ID,
    Call,
    FakeDiscord,
    attachment_payload,
    component_payload,
    guild_message_event,
    guild_payload,
    member_payload,
    message_menu_payload,
    message_payload,
    modal_submit_payload,
    slash_payload,
    subcommand_payload,
    user_payload,
)
from pictures import group_picture

HOOK = r"/webhooks/\d+/[^/]+"
CALLBACK = r"/interactions/\d+/[^/]+/callback"
EPHEMERAL = 64

ALICE = user_payload(1001, "alice")
BOB = user_payload(1002, "bob")
MOD = user_payload(1003, "mod")
OPERATOR = user_payload(1009, "operator")  # in DAREKANA_OPERATORS
HERE = Place(str(GUILD_ID), str(CHANNEL_ID))  # the fake guild's ordinary channel
AFTER_DARK = Place(str(GUILD_ID), str(NSFW_CHANNEL_ID), nsfw=True)  # its age-restricted one


@dataclass(frozen=True)
class Known:
    """A one-face picture that the test bundle names right."""

    picture: bytes
    label: str
    name: str


@pytest.fixture
def known(known_picture: tuple[bytes, str], service: Service) -> Known:
    picture, label = known_picture
    names = {character.id: character.name for character in service.recognizer.manifest.labels}
    return Known(picture, label, names[label])


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway))
    yield server
    await server.close()


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service(
        user_rate="100/1", channel_rate="100/1", discord_moderator_role="Moderators", operators=OPERATOR["id"]
    )


@pytest.fixture
async def connect(fake: FakeDiscord, service: Service) -> AsyncIterator[Callable[[], Awaitable[Darekana]]]:
    """Logs a client in against the fake and hands it the guild; a second call is the bot after a restart."""
    clients: list[Darekana] = []

    async def make() -> Darekana:
        client = make_client(service, service.settings)
        await client.login("fake-token")
        client._connection.parse_guild_create(guild_payload())
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def bot(connect: Callable[[], Awaitable[Darekana]]) -> Darekana:
    return await connect()


def interact(bot: Darekana, payload: dict) -> None:
    bot._connection.parse_interaction_create(payload)


def attach(fake: FakeDiscord, data: bytes, name: str, content_type: str | None) -> dict:
    url = fake.serve(name, data, content_type or "application/octet-stream")
    return attachment_payload(fake.snowflake(), url, name, len(data), content_type)


def whois_image(
    fake: FakeDiscord, data: bytes, name: str = "picture.png", content_type: str | None = "image/png", **who: Any
) -> dict:
    image = attach(fake, data, name, content_type)
    return slash_payload(
        fake,
        "whois",
        [{"name": "image", "type": 11, "value": image["id"]}],
        [image],
        **(who or {"member": member_payload(ALICE)}),
    )


def custom_ids(components: list[dict]) -> list[str]:
    return [c["custom_id"] for row in components for c in row["components"]]


def options(components: list[dict]) -> list[dict]:
    return [o for row in components for c in row["components"] for o in c.get("options", [])]


async def answered(fake: FakeDiscord, bot: Darekana, payload: dict) -> Call:
    """Runs a slash command or menu that defers, and returns its follow-up (after checking the order)."""
    interact(bot, payload)
    (followup,) = await fake.wait_for("POST", HOOK)
    defer = fake.find("POST", CALLBACK)[-1]
    assert defer.json == {"type": 5}
    assert fake.calls.index(defer) < fake.calls.index(followup)
    return followup


async def press(
    fake: FakeDiscord,
    bot: Darekana,
    message: dict,
    custom_id: str,
    values: list[str] | None = None,
    user: dict = ALICE,
    member: dict | None = None,
) -> Call:
    """Presses a component of ``message`` (as ``user``, or as ``member`` with its roles and permissions) and
    returns the interaction's callback."""
    before = len(fake.find("POST", CALLBACK))
    interact(bot, component_payload(fake, message, custom_id, values, member=member or member_payload(user)))
    return (await fake.wait_for("POST", CALLBACK, before + 1))[-1]


# --- login and commands ---------------------------------------------------------------------------------


async def test_login_registers_the_commands(fake: FakeDiscord, bot: Darekana) -> None:
    (sync,) = fake.find("PUT", r"/applications/\d+/commands")
    commands = {c["name"]: c for c in sync.json}
    assert {o["name"]: o["type"] for o in commands["whois"]["options"]} == {"image": 11, "url": 3}
    assert commands["Who is this?"]["type"] == 3  # a message menu
    corrections = {o["name"]: o for o in commands["corrections"]["options"]}
    assert set(corrections) == {"stats", "review", "export", "groups", "enroll", "character"}
    assert {o["name"] for o in corrections["character"]["options"]} == {"add", "remove", "list"}
    assert commands["corrections"]["dm_permission"] is True  # operators use it in direct messages
    subcommands = {o["name"]: o for o in commands["darekana"]["options"]}
    assert set(subcommands) == {"watch", "privacy", "forget"} and commands["darekana"]["dm_permission"] is True
    assert {o["name"] for o in subcommands["watch"]["options"]} == {"on", "off", "status"}
    assert bot.intents.message_content and bot.intents.guild_messages and bot.intents.dm_messages


# --- /whois and the answer's buttons --------------------------------------------------------------------


async def test_whois_answers_after_deferring_with_right_and_wrong(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    followup = await answered(fake, bot, whois_image(fake, known.picture))
    assert followup.json["content"].startswith(f"1. {known.name} (")
    # one face: no numbered picture, but the nearest face the bundle knows of the character named
    (shown,) = followup.files
    (embed,) = followup.json["embeds"]
    assert embed["thumbnail"]["url"] == f"attachment://{shown.filename}" and known.name in embed["description"]
    assert Image.open(io.BytesIO(shown.data)).format == "JPEG"
    recognition = int(custom_ids(followup.json["components"])[0].split(":")[-1])
    assert custom_ids(followup.json["components"]) == [f"darekana:right:{recognition}", f"darekana:wrong:{recognition}"]
    with Session(service.store.engine) as session:
        row = session.get(RecognitionRow, recognition)
        assert (row.platform, row.user_id, row.guild_id, row.channel_id) == (
            "discord",
            "1001",
            str(GUILD_ID),
            str(CHANNEL_ID),
        )


async def test_right_on_several_faces_confirms_the_chosen_ones(
    fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    followup = await answered(fake, bot, whois_image(fake, group_picture()))
    assert len(followup.json["content"].splitlines()) == 3
    numbered, *evidence = followup.files
    assert numbered.filename == "faces.png" and Image.open(io.BytesIO(numbered.data)).format == "PNG"
    assert [e["thumbnail"]["url"] for e in followup.json["embeds"]] == [f"attachment://{f.filename}" for f in evidence]

    callback = await press(fake, bot, followup.message, custom_ids(followup.json["components"])[0])
    assert callback.json["type"] == 4 and callback.json["data"]["flags"] == EPHEMERAL
    picker = callback.json["data"]["components"][0]["components"][0]
    assert picker["max_values"] == 3 and [o["label"][:2] for o in picker["options"]] == ["1.", "2.", "3."]

    chosen = [o["value"] for o in picker["options"][:2]]
    done = await press(fake, bot, callback.message, picker["custom_id"], chosen)
    assert done.json["type"] == 7 and done.json["data"]["content"].count("Thanks! Noted") == 2
    stored = service.store.feedback()
    assert sorted(str(f.face_id) for f in stored) == sorted(chosen)
    assert {(f.kind, f.user_id) for f in stored} == {("confirmation", "1001")}


async def test_wrong_then_a_runner_up_after_a_restart(
    known: Known, fake: FakeDiscord, service: Service, connect: Callable[[], Awaitable[Darekana]]
) -> None:
    first = await connect()
    followup = await answered(fake, first, whois_image(fake, known.picture))
    await first.close()
    bot = await connect()  # a fresh process: only the custom_id remembers the answer

    callback = await press(fake, bot, followup.message, custom_ids(followup.json["components"])[1], user=BOB)
    assert callback.json["data"]["flags"] == EPHEMERAL and "Who is it then?" in callback.json["data"]["content"]
    choices = options(callback.json["data"]["components"])
    assert choices[-1]["label"] == "Other…" and known.label not in [o["value"] for o in choices]

    picker = custom_ids(callback.json["data"]["components"])[0]
    done = await press(fake, bot, callback.message, picker, [choices[0]["value"]], user=BOB)
    assert done.json["type"] == 7 and done.json["data"]["content"].startswith("Thanks! Saved: this is ")
    (correction,) = service.store.feedback()
    assert (correction.kind, correction.label, correction.user_id) == ("correction", choices[0]["value"], "1002")


async def test_wrong_on_several_faces_then_other_opens_a_form(
    fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    followup = await answered(fake, bot, whois_image(fake, group_picture()))
    which = await press(fake, bot, followup.message, custom_ids(followup.json["components"])[1])
    face_picker = which.json["data"]["components"][0]["components"][0]
    assert face_picker["max_values"] == 1 and len(face_picker["options"]) == 3

    second = face_picker["options"][1]["value"]
    names = await press(fake, bot, which.message, face_picker["custom_id"], [second])
    assert names.json["type"] == 7 and "Who is face 2 then?" in names.json["data"]["content"]

    form = await press(fake, bot, names.message, custom_ids(names.json["data"]["components"])[0], [":other"])
    assert form.json["type"] == 9
    interact(
        bot,
        modal_submit_payload(fake, form.json["data"], {"Character name": "Kagamine Rin"}, member=member_payload(ALICE)),
    )
    ack = (await fake.wait_for("POST", CALLBACK, 5))[-1]  # after the deferral and three presses
    assert ack.json["data"]["flags"] == EPHEMERAL
    assert ack.json["data"]["content"] == (
        "Thanks! Saved: this is Kagamine Rin (a character I don't know yet: moderators will review it)."
    )
    (correction,) = service.store.feedback()
    assert (str(correction.face_id), correction.label) == (second, "kagamine_rin")


async def test_a_button_of_an_answer_that_is_gone_says_so(fake: FakeDiscord, bot: Darekana) -> None:
    message = message_payload(
        fake.snowflake(),
        BOT_USER,
        "1. Hatsune Miku (97%)",
        components=[
            {"type": 1, "components": [{"type": 2, "style": 3, "label": "Right", "custom_id": "darekana:right:999"}]}
        ],
    )
    callback = await press(fake, bot, message, "darekana:right:999")
    assert callback.json["data"] == {
        "content": "I no longer have that answer.",
        "flags": EPHEMERAL,
        "tts": False,
        "allowed_mentions": {"parse": []},
    }


# --- the message menu and mentions ----------------------------------------------------------------------


async def test_message_menu_reads_an_image_link(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("darekana.bot.fetch.is_public_address", lambda ip: True)  # the fake's link is on 127.0.0.1
    link = fake.serve("face.png", known.picture, "image/png")
    embed = {"type": "image", "url": link, "thumbnail": {"url": link, "proxy_url": link, "width": 400, "height": 400}}
    target = message_payload(fake.snowflake(), BOB, link, embeds=[embed])
    followup = await answered(
        fake, bot, message_menu_payload(fake, "Who is this?", target, member=member_payload(ALICE))
    )
    assert followup.json["content"].startswith(f"1. {known.name} (")
    assert len(fake.find("GET", r"/attachments/.*/face\.png")) == 1  # fetched by the service, once
    with Session(service.store.engine) as session:
        assert session.scalars(select(RecognitionRow.message_id)).all() == [target["id"]]


async def test_message_menu_without_a_picture(fake: FakeDiscord, bot: Darekana, service: Service) -> None:
    target = message_payload(fake.snowflake(), BOB, "no pictures here")
    interact(bot, message_menu_payload(fake, "Who is this?", target, member=member_payload(ALICE)))
    (refusal,) = await fake.wait_for("POST", CALLBACK)
    assert refusal.json["data"]["content"] == "There's no picture in that message."
    assert refusal.json["data"]["flags"] == EPHEMERAL
    assert (await service.stats()).recognitions == 0


async def test_mention_with_a_picture_replies_under_it(known: Known, fake: FakeDiscord, bot: Darekana) -> None:
    image = attach(fake, known.picture, "face.png", "image/png")
    other_bot = user_payload(2000, "another-bot", bot=True)
    ignored = message_payload(fake.snowflake(), other_bot, f"<@{BOT_ID}>", attachments=[image])
    bot._connection.parse_message_create(guild_message_event(ignored, member_payload(other_bot)))
    asking = message_payload(fake.snowflake(), ALICE, f"<@{BOT_ID}> who is she?", attachments=[image])
    bot._connection.parse_message_create(guild_message_event(asking, member_payload(ALICE)))

    (reply,) = await fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert str(reply.json["message_reference"]["message_id"]) == asking["id"]
    assert reply.json["content"].startswith(f"1. {known.name} (")
    assert [c.split(":")[1] for c in custom_ids(reply.json["components"])] == ["right", "wrong"]
    assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    await asyncio.sleep(0.2)
    assert len(fake.find("POST", rf"/channels/{CHANNEL_ID}/messages")) == 1  # nothing for the bot's message


async def test_reply_with_a_mention_answers_the_picture_replied_to(
    known: Known, fake: FakeDiscord, bot: Darekana
) -> None:
    image = attach(fake, known.picture, "face.png", "image/png")
    picture = message_payload(fake.snowflake(), BOB, "look", attachments=[image])
    asking = message_payload(fake.snowflake(), ALICE, f"<@{BOT_ID}> who?")
    bot._connection.parse_message_create(guild_message_event(asking, member_payload(ALICE), referenced=picture))
    (reply,) = await fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert str(reply.json["message_reference"]["message_id"]) == picture["id"]
    assert reply.json["content"].startswith(f"1. {known.name} (")

    # Without the replied-to message in the event, it is fetched; without any picture, a hint.
    fake.add_message(picture)
    event = guild_message_event(asking | {"id": str(fake.snowflake())}, member_payload(ALICE), referenced=picture)
    del event["referenced_message"]
    bot._connection.parse_message_create(event)
    second = (await fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages", 2))[-1]
    assert fake.find("GET", rf"/channels/{CHANNEL_ID}/messages/{picture['id']}")
    assert str(second.json["message_reference"]["message_id"]) == picture["id"]

    alone = message_payload(fake.snowflake(), ALICE, f"<@{BOT_ID}> who?")
    bot._connection.parse_message_create(guild_message_event(alone, member_payload(ALICE)))
    hint = (await fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages", 3))[-1]
    assert hint.json["content"].startswith("I don't see a picture.")


async def test_a_picture_in_direct_messages_needs_no_mention(known: Known, fake: FakeDiscord, bot: Darekana) -> None:
    image = attach(fake, known.picture, "face.png", "image/png")
    bot._connection.parse_message_create(
        message_payload(fake.snowflake(), ALICE, "who is she?", attachments=[image], channel_id=DM_CHANNEL_ID)
    )
    (reply,) = await fake.wait_for("POST", rf"/channels/{DM_CHANNEL_ID}/messages")
    assert reply.json["content"].startswith(f"1. {known.name} (")


async def test_two_processes_on_one_database_answer_each_message_once(
    known: Known, fake: FakeDiscord, make_service: Callable[..., Service], postgres_url: str
) -> None:
    """Every process connected with the bot's token receives every event: the claim in the shared database
    lets one of them answer."""
    services = [make_service(postgres_url, user_rate="100/1", channel_rate="100/1") for _ in range(2)]
    clients = [make_client(service, service.settings, sync_commands=False) for service in services]
    try:
        for client in clients:
            await client.login("fake-token")
            client._connection.parse_guild_create(guild_payload())
        image = attach(fake, known.picture, "face.png", "image/png")
        asking = message_payload(fake.snowflake(), ALICE, f"<@{BOT_ID}> who is she?", attachments=[image])
        command = whois_image(fake, known.picture)
        for client in clients:
            client._connection.parse_message_create(guild_message_event(asking, member_payload(ALICE)))
            interact(client, command)
        (reply,) = await fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages")
        (followup,) = await fake.wait_for("POST", HOOK)
        await asyncio.sleep(1.0)  # time for a second answer, were one coming
        assert len(fake.find("POST", rf"/channels/{CHANNEL_ID}/messages")) == 1 and len(fake.find("POST", HOOK)) == 1
        assert len(fake.find("POST", CALLBACK)) == 1  # one "thinking…" too
        assert reply.json["content"].startswith(f"1. {known.name} (")
        with Session(services[0].store.engine) as session:
            answers = session.scalars(select(AnswerRow).order_by(AnswerRow.id)).all()
        assert [(a.platform, a.request_id) for a in answers] == [
            ("discord", asking["id"]),
            ("discord", f"interaction:{command['id']}"),
        ] or [(a.platform, a.request_id) for a in answers] == [
            ("discord", f"interaction:{command['id']}"),
            ("discord", asking["id"]),
        ]
        assert all(a.message_id for a in answers)  # each claim knows the post it led to
    finally:
        for client in clients:
            await client.close()


# --- at scale --------------------------------------------------------------------------------------------


async def test_a_bot_in_thousands_of_servers_starts_on_the_shards_discord_advises(
    fake: FakeDiscord, service: Service
) -> None:
    fake.add_guilds(2600)  # Discord requires shards from 2,500 servers
    fake.shard_count = 3
    client = make_client(service, service.settings, sync_commands=False)
    running = asyncio.create_task(client.start("fake-token"))
    try:
        await asyncio.wait_for(client.wait_until_ready(), 60)
        assert sorted(fake.identified) == [(0, 3), (1, 3), (2, 3)] and client.shard_count == 3
        assert {str(g.id) for g in client.guilds} == {g["id"] for g in fake.guilds}
    finally:
        await client.close()
        await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), 10)


async def test_a_bot_split_over_processes_runs_its_own_shards_and_registers_commands_once(
    fake: FakeDiscord, service: Service
) -> None:
    fake.add_guilds(2600)
    clients = [
        make_client(service, replace(service.settings, discord_shard_count=4, discord_shard_ids=ids))
        for ids in ("1,3", "0, 2")
    ]
    running = [asyncio.create_task(client.start("fake-token")) for client in clients]
    try:
        for client in clients:
            await asyncio.wait_for(client.wait_until_ready(), 60)
        assert sorted(fake.identified) == [(0, 4), (1, 4), (2, 4), (3, 4)]
        assert not fake.find("GET", r"/gateway/bot")  # the count was given: nothing to ask
        held = [{g.id for g in client.guilds} for client in clients]
        assert held[0] == {int(g["id"]) for g in fake.guilds if (int(g["id"]) >> 22) % 4 in (1, 3)}
        assert not held[0] & held[1] and {str(g) for g in held[0] | held[1]} == {g["id"] for g in fake.guilds}
        assert len(fake.find("PUT", r"/applications/\d+/commands")) == 1  # by the process with shard 0
    finally:
        for client in clients:
            await client.close()
        await asyncio.wait_for(asyncio.gather(*running, return_exceptions=True), 10)


# --- bad input and errors -------------------------------------------------------------------------------


async def test_bad_input_is_refused_and_nothing_is_stored(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    refusals = []
    for payload in (
        whois_image(fake, b"just some notes", "notes.txt", "text/plain; charset=utf-8"),
        whois_image(fake, b"x" * (21 * 1024 * 1024), "huge.png"),
        slash_payload(fake, "whois", member=member_payload(ALICE)),
    ):
        interact(bot, payload)
        refusals.append((await fake.wait_for("POST", CALLBACK, len(refusals) + 1))[-1].json)
    assert [r["type"] for r in refusals] == [4, 4, 4] and {r["data"]["flags"] for r in refusals} == {EPHEMERAL}
    assert refusals[0]["data"]["content"].startswith("That file isn't a picture (text/plain")
    assert refusals[1]["data"]["content"] == "That picture is 21.0 MB; the most I take is 20 MB."
    assert refusals[2]["data"]["content"].startswith("Give me one picture")
    assert fake.find("GET", r"/attachments/.*") == []  # refused before downloading

    link = fake.serve("face.png", known.picture, "image/png")
    interact(
        bot, slash_payload(fake, "whois", [{"name": "url", "type": 3, "value": link}], member=member_payload(ALICE))
    )
    (refusal,) = await fake.wait_for("POST", HOOK)
    assert refusal.json["content"] == PRIVATE_MESSAGE and refusal.json["flags"] == EPHEMERAL
    assert fake.find("DELETE", HOOK + r"/messages/@original")  # the public "thinking…" is removed first
    assert fake.find("GET", r"/attachments/.*") == []
    assert (await service.stats()).recognitions == 0


async def test_unexpected_errors_are_logged_and_apologised_for(
    known: Known,
    fake: FakeDiscord,
    bot: Darekana,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(service, "whois", broken)
    followup = await answered(fake, bot, whois_image(fake, known.picture))
    assert followup.json["content"].startswith("Sorry, something went wrong")
    assert followup.json["flags"] == EPHEMERAL
    assert any(r.levelno == logging.ERROR and "database on fire" in str(r.exc_info[1]) for r in caplog.records)


# --- moderators -----------------------------------------------------------------------------------------


def enroll_options(group: int, name: str = "Gawr Gura") -> list[dict]:
    return [{"type": 4, "name": "group", "value": group}, {"type": 3, "name": "name", "value": name}]


OPTIONS: dict[str, list[dict]] = {"stats": [], "review": [], "export": [], "groups": [], "enroll": enroll_options(1)}


@pytest.mark.parametrize("who", [{"member": member_payload(ALICE)}, {"user": ALICE}], ids=["member", "dm"])
async def test_moderator_commands_refuse_others(fake: FakeDiscord, bot: Darekana, who: dict) -> None:
    for number, name in enumerate(("stats", "review", "export", "groups", "enroll"), start=1):
        interact(bot, slash_payload(fake, "corrections", [{"type": 1, "name": name, "options": OPTIONS[name]}], **who))
        refusal = (await fake.wait_for("POST", CALLBACK, number))[-1].json
        assert refusal["data"]["flags"] == EPHEMERAL
        expected = "Sorry, only moderators" if "member" in who else "Moderator commands only work in a server"
        assert refusal["data"]["content"].startswith(expected)
    assert fake.find("POST", HOOK) == []


async def test_review_then_export(known: Known, fake: FakeDiscord, bot: Darekana, service: Service) -> None:
    reply = await service.whois(known.picture, Requester("discord", "1001"), HERE)
    await service.correct(reply.face_ids[0], "Kinomoto Sakura", Requester("discord", "1001"), HERE)
    await service.correct(reply.face_ids[0], "Shana", Requester("discord", "1002"), HERE)
    by_role = member_payload(MOD, roles=(MODERATOR_ROLE_ID,))

    interact(bot, subcommand_payload(fake, "corrections", "stats", member=by_role))
    (stats,) = await fake.wait_for("POST", CALLBACK)
    assert stats.json["data"]["content"].startswith("Recognitions: 1 (1 faces)\nFeedback: 2 corrections")

    interact(bot, subcommand_payload(fake, "corrections", "review", member=by_role))
    page = (await fake.wait_for("POST", CALLBACK, 2))[-1]
    assert f"<@1001> says this is **Kinomoto Sakura**, not {known.name}" in page.json["data"]["content"]
    (crop,) = page.files
    assert Image.open(io.BytesIO(crop.data)).format == "PNG"
    accept, reject = custom_ids(page.json["data"]["components"])
    assert accept.startswith("darekana:review:accepted:") and reject.startswith("darekana:review:rejected:")

    # Anyone else pressing is refused; the moderator's press moves on to the next correction.
    refused = await press(fake, bot, page.message, accept, user=BOB)
    assert refused.json["data"]["content"].startswith("Sorry, only moderators")
    interact(bot, component_payload(fake, page.message, accept, member=by_role))
    following = (await fake.wait_for("POST", CALLBACK, 4))[-1]
    assert following.json["type"] == 7 and "says this is **Shana**" in following.json["data"]["content"]
    assert len(following.files) == 1
    by_permission = member_payload(MOD, permissions=MANAGE_MESSAGES)
    interact(
        bot,
        component_payload(
            fake, following.message, custom_ids(following.json["data"]["components"])[1], member=by_permission
        ),
    )
    last = (await fake.wait_for("POST", CALLBACK, 5))[-1]
    assert (last.json["type"], last.json["data"]["content"]) == (7, "Nothing left to review.")
    assert last.json["data"]["components"] == last.json["data"]["attachments"] == []
    assert {(f.name, f.status, f.reviewer) for f in service.store.feedback(("accepted", "rejected"))} == {
        ("Kinomoto Sakura", "accepted", "discord:1003"),
        ("Shana", "rejected", "discord:1003"),
    }

    interact(bot, subcommand_payload(fake, "corrections", "export", member=by_permission))
    (export,) = await fake.wait_for("POST", HOOK)
    assert fake.find("POST", CALLBACK)[-1].json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert export.json["flags"] == EPHEMERAL and export.json["content"].startswith("1 accepted faces")
    archive = zipfile.ZipFile(io.BytesIO(export.files[0].data))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [r["label"] for r in rows] == ["001_kinomoto_sakura"]
    assert rows[0]["path"] in archive.namelist() and rows[0]["path"].startswith("001_kinomoto_sakura/")

    # A server that allows smaller files than the zip gets told so instead.
    small = subcommand_payload(fake, "corrections", "export", member=by_permission) | {"attachment_size_limit": 1000}
    interact(bot, small)
    too_large = (await fake.wait_for("POST", HOOK, 2))[-1]
    assert too_large.files == [] and too_large.json["flags"] == EPHEMERAL
    assert "more than I can attach here" in too_large.json["content"]


async def test_groups_listed_with_their_faces_then_enrolled(fake: FakeDiscord, bot: Darekana, service: Service) -> None:
    """The listing and the command over Discord (grouping and enrolling themselves: tests/bot/test_groups.py)."""
    for i, path in enumerate(sorted((DATASETS / "hololive-20" / "gawr_gura").iterdir())[:4]):
        who = Requester("discord", str(1001 + i % 2))
        reply = await service.whois(path.read_bytes(), who, HERE)
        await service.correct(reply.face_ids[0], "Gawr Gura", who, HERE)
    by_role = member_payload(MOD, roles=(MODERATOR_ROLE_ID,))
    interact(bot, subcommand_payload(fake, "corrections", "groups", member=by_role))
    (listing,) = await fake.wait_for("POST", HOOK)
    assert listing.json["flags"] == EPHEMERAL and "named Gawr Gura (" in listing.json["content"]
    (sheet,) = listing.files
    assert sheet.filename == "groups.png" and Image.open(io.BytesIO(sheet.data)).format == "PNG"
    group = int(listing.json["content"].split("**Group ")[1].split("**")[0])

    command = [{"type": 1, "name": "enroll", "options": enroll_options(group)}]
    interact(bot, slash_payload(fake, "corrections", command, member=by_role))
    refused = (await fake.wait_for("POST", HOOK, 2))[-1]  # a server's moderator: not the shared model's
    assert refused.json["flags"] == EPHEMERAL and refused.json["content"].startswith("Only the bot's operators")
    interact(bot, slash_payload(fake, "corrections", command, user=OPERATOR))  # in direct messages
    answered = (await fake.wait_for("POST", HOOK, 3))[-1]
    # this bot answers with a bundle directory, not a link: nothing to promote to, and it says so privately
    assert answered.json["flags"] == EPHEMERAL and "not a link" in answered.json["content"]


def character_payload(fake: FakeDiscord, action: str, options: list[dict], member: dict, files: list[dict]) -> dict:
    command = {"type": 2, "name": "character", "options": [{"type": 1, "name": action, "options": options}]}
    return slash_payload(fake, "corrections", [command], files, member=member)


async def test_server_character_added_listed_and_removed_by_moderators_only(
    fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    """``/corrections character`` over Discord (what it does: tests/bot/test_server_characters_service.py)."""
    horo = sorted((DATASETS / "moeimouto-85" / "horo").glob("*.jpg"))
    crops = [attach(fake, path.read_bytes(), path.name, "image/jpeg") for path in horo[:3]]
    add = [{"name": "name", "type": 3, "value": "Horo"}]
    add += [{"name": f"crop{n}", "type": 11, "value": c["id"]} for n, c in enumerate(crops, start=1)]
    interact(bot, character_payload(fake, "add", add, member_payload(ALICE), crops))  # not a moderator
    (refused,) = await fake.wait_for("POST", CALLBACK)
    assert refused.json["data"]["flags"] == EPHEMERAL and "only moderators" in refused.json["data"]["content"]
    assert service.store.server_characters("discord") == []
    by_role = member_payload(MOD, roles=(MODERATOR_ROLE_ID,))
    interact(bot, character_payload(fake, "add", add, by_role, crops))
    (enrolled,) = await fake.wait_for("POST", HOOK)
    assert enrolled.json["flags"] == EPHEMERAL and enrolled.json["content"].startswith("Enrolled 3 faces as Horo")
    assert service.galleries.current.of(str(GUILD_ID)) is not None
    interact(bot, character_payload(fake, "list", [], by_role, []))
    listed = (await fake.wait_for("POST", CALLBACK, 3))[-1].json["data"]
    assert listed["flags"] == EPHEMERAL and f"**Horo**: 3 faces, enrolled by <@{MOD['id']}>" in listed["content"]
    interact(bot, character_payload(fake, "remove", [{"name": "name", "type": 3, "value": "horo"}], by_role, []))
    removed = (await fake.wait_for("POST", HOOK, 2))[-1]
    assert removed.json["flags"] == EPHEMERAL and removed.json["content"].startswith("Removed Horo")
    assert service.store.server_characters("discord") == [] and service.galleries.current.of(str(GUILD_ID)) is None


# --- watch mode: "who is she?" without a mention --------------------------------------------------------

MESSAGES = rf"/channels/{CHANNEL_ID}/messages"


def watch_payload(fake: FakeDiscord, action: str, member: dict) -> dict:
    watch = {"type": 2, "name": "watch", "options": [{"type": 1, "name": action, "options": []}]}
    return slash_payload(fake, "darekana", [watch], member=member)


async def watch(fake: FakeDiscord, bot: Darekana, action: str, member: dict | None = None) -> str:
    """Runs ``/darekana watch ACTION`` (by a moderator unless ``member`` says otherwise); its private reply."""
    before = len(fake.find("POST", CALLBACK))
    interact(bot, watch_payload(fake, action, member or member_payload(MOD, permissions=MANAGE_MESSAGES)))
    reply = (await fake.wait_for("POST", CALLBACK, before + 1))[-1]
    assert reply.json["data"]["flags"] == EPHEMERAL
    return reply.json["data"]["content"]


def post(bot: Darekana, message: dict, author: dict = ALICE, referenced: dict | None = None) -> None:
    bot._connection.parse_message_create(guild_message_event(message, member_payload(author), referenced))


def ask_with(fake: FakeDiscord, text: str, picture: bytes, name: str = "a.png") -> dict:
    """Alice's message ``text`` with ``picture`` attached."""
    kind = "image/jpeg" if name.endswith(".jpg") else "image/png"
    return message_payload(fake.snowflake(), ALICE, text, attachments=[attach(fake, picture, name, kind)])


async def silent(fake: FakeDiscord, answers: int = 0) -> None:
    await asyncio.sleep(0.5)  # time for an answer, were one coming
    assert len(fake.find("POST", MESSAGES)) == answers


async def test_a_watched_channel_answers_who_is_she_without_a_mention(
    known: Known, fake: FakeDiscord, bot: Darekana
) -> None:
    image = attach(fake, known.picture, "face.png", "image/png")
    post(bot, message_payload(fake.snowflake(), ALICE, "who is she?", attachments=[image]))
    await silent(fake)  # off by default

    assert (await watch(fake, bot, "on")).startswith(f"Watching <#{CHANNEL_ID}>: ")
    assert await watch(fake, bot, "on") == f"I was already watching <#{CHANNEL_ID}>."
    assert await watch(fake, bot, "status", member_payload(BOB)) == f"I answer without a mention in <#{CHANNEL_ID}>."
    asking = message_payload(fake.snowflake(), ALICE, "ＷＨＯ is she??", attachments=[image])
    post(bot, asking)
    (reply,) = await fake.wait_for("POST", MESSAGES)
    assert str(reply.json["message_reference"]["message_id"]) == asking["id"]
    assert reply.json["content"].startswith(f"1. {known.name} (")
    assert [c.split(":")[1] for c in custom_ids(reply.json["components"])] == ["right", "wrong"]
    post(bot, asking)  # delivered again: never answered twice
    await silent(fake, 1)

    assert await watch(fake, bot, "off") == f"I stopped watching <#{CHANNEL_ID}>: mention me to ask."
    post(bot, message_payload(fake.snowflake(), ALICE, "who is she?", attachments=[image]))
    await silent(fake, 1)
    assert (await watch(fake, bot, "status")).startswith("I don't watch any channel here")


async def test_watch_mode_answers_questions_only(known: Known, fake: FakeDiscord, bot: Darekana) -> None:
    await watch(fake, bot, "on")
    image = attach(fake, known.picture, "face.png", "image/png")
    picture = message_payload(fake.snowflake(), BOB, "my new wallpaper", attachments=[image])
    post(bot, picture, BOB)  # a picture is not a question
    post(bot, message_payload(fake.snowflake(), ALICE, "who is she?"))  # a question without a picture
    other_bot = user_payload(2000, "another-bot", bot=True)
    post(bot, message_payload(fake.snowflake(), other_bot, "who is she?", attachments=[image]), other_bot)
    post(bot, message_payload(fake.snowflake(), BOT_USER, "who is she?", attachments=[image]), BOT_USER)
    await silent(fake)

    asking = message_payload(fake.snowflake(), ALICE, "誰？")
    post(bot, asking, referenced=picture)
    (reply,) = await fake.wait_for("POST", MESSAGES)
    assert str(reply.json["message_reference"]["message_id"]) == picture["id"]  # under the picture asked of
    assert reply.json["content"].startswith(f"1. {known.name} (")


async def test_only_moderators_turn_watch_mode_on(known: Known, fake: FakeDiscord, bot: Darekana) -> None:
    assert (await watch(fake, bot, "on", member_payload(ALICE))).startswith("Sorry, only moderators")
    post(bot, ask_with(fake, "who is she?", known.picture))
    await silent(fake)
    assert (await watch(fake, bot, "on", member_payload(MOD, roles=(MODERATOR_ROLE_ID,)))).startswith("Watching")


async def test_watch_mode_keeps_to_its_rate_and_to_confident_answers(
    known: Known, fake: FakeDiscord, make_service: Callable[..., Service], connect: Callable[[], Awaitable[Darekana]]
) -> None:
    service = make_service(user_rate="100/1", channel_rate="100/1", watch_rate="1/60")
    unsure = next(  # a face of a character the test bundle does not know, named without confidence
        path.read_bytes()
        for path in sorted((DATASETS / "hololive-20").glob("*/*.jpg"))[::97]
        if not any(f.verdict == "confident" for f in service.recognizer.recognize(path.read_bytes()).faces)
    )
    client = make_client(service, service.settings)
    await client.login("fake-token")
    client._connection.parse_guild_create(guild_payload())
    try:
        await watch(fake, client, "on")
        post(client, ask_with(fake, "sauce?", unsure, "u.jpg"))
        await silent(fake)  # nothing named with confidence: quiet
        for name in ("a.png", "b.png"):
            post(client, ask_with(fake, "who is she", known.picture, name))
        await fake.wait_for("POST", MESSAGES)
        await silent(fake, 1)  # one answer a minute in this channel
    finally:
        await client.close()


async def test_watched_channels_survive_a_restart(
    known: Known, fake: FakeDiscord, connect: Callable[[], Awaitable[Darekana]]
) -> None:
    first = await connect()
    await watch(fake, first, "on")
    await first.close()
    bot = await connect()
    post(bot, ask_with(fake, "what's her name", known.picture))
    (reply,) = await fake.wait_for("POST", MESSAGES)
    assert reply.json["content"].startswith(f"1. {known.name} (")


# --- privacy: other servers, operators, NSFW, forget, leaving a server ----------------------------------

OTHER_SERVER = Place("900000000000000099", "900000000000000098")  # a server this moderator is not in


async def corrected(service: Service, picture: bytes, who: Requester, where: Place, name: str) -> int:
    """A picture asked about and one face named at ``where``; the correction's id."""
    reply = await service.whois(picture, who, where)
    return (await service.correct(reply.face_ids[0], name, who, where)).id


async def slash(fake: FakeDiscord, bot: Darekana, payload: dict) -> Call:
    """Runs a command answered at once (not deferred); its callback."""
    before = len(fake.find("POST", CALLBACK))
    interact(bot, payload)
    return (await fake.wait_for("POST", CALLBACK, before + 1))[-1]


def corrections_payload(fake: FakeDiscord, name: str, options: list[dict] | None = None, **who: Any) -> dict:
    return slash_payload(fake, "corrections", [{"type": 1, "name": name, "options": options or []}], **who)


async def test_a_moderator_sees_nothing_of_an_other_server_and_an_operator_sees_all(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    ours = await corrected(service, known.picture, Requester("discord", "1001"), HERE, "Shana")
    theirs = await corrected(service, known.picture, Requester("discord", "1002"), OTHER_SERVER, "Kinomoto Sakura")
    await corrected(service, known.picture, Requester("twitter", "55"), Place(), "Izumi Konata")
    moderator = member_payload(MOD, permissions=MANAGE_MESSAGES)

    stats = await slash(fake, bot, corrections_payload(fake, "stats", member=moderator))
    assert stats.json["data"]["content"].startswith("Recognitions: 1 (1 faces)\nFeedback: 1 corrections")
    page = await slash(fake, bot, corrections_payload(fake, "review", member=moderator))
    assert f"Correction #{ours}:" in page.json["data"]["content"] and "Sakura" not in page.json["data"]["content"]
    accept = custom_ids(page.json["data"]["components"])[0]
    done = await press(fake, bot, page.message, accept, member=moderator)
    assert done.json["data"]["content"] == "Nothing left to review."  # the other server's is not next

    listing = await slash(fake, bot, corrections_payload(fake, "stats", user=OPERATOR))  # in direct messages
    assert listing.json["data"]["content"].startswith("Recognitions: 3 (3 faces)\nFeedback: 3 corrections")
    everything = await slash(fake, bot, corrections_payload(fake, "review", user=OPERATOR))
    assert f"Correction #{theirs}:" in everything.json["data"]["content"]  # the oldest pending, anywhere
    stranger = await slash(fake, bot, corrections_payload(fake, "review", user=ALICE))
    assert stranger.json["data"]["content"].startswith("Moderator commands only work in a server")


async def test_nsfw_faces_never_appear_in_a_sfw_channel_review_but_do_in_an_age_restricted_one(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    safe = await corrected(service, known.picture, Requester("discord", "1001"), HERE, "Shana")
    nsfw = await corrected(service, known.picture, Requester("discord", "1002"), AFTER_DARK, "Kinomoto Sakura")
    moderator = member_payload(MOD, permissions=MANAGE_MESSAGES)

    here = await slash(fake, bot, corrections_payload(fake, "review", member=moderator))
    assert f"Correction #{safe}:" in here.json["data"]["content"]
    done = await press(fake, bot, here.message, custom_ids(here.json["data"]["components"])[1], member=moderator)
    assert done.json["data"]["content"] == "Nothing left to review."  # the NSFW one is not shown here

    asked = corrections_payload(fake, "review", [{"type": 5, "name": "nsfw", "value": True}], member=moderator)
    opted = await slash(fake, bot, asked)  # asking for them in an ordinary channel changes nothing
    assert opted.json["data"]["content"] == "Nothing left to review."
    there = await slash(fake, bot, corrections_payload(fake, "review", member=moderator, channel_id=NSFW_CHANNEL_ID))
    assert f"Correction #{nsfw}:" in there.json["data"]["content"] and len(there.files) == 1

    include = [{"type": 5, "name": "include_nsfw", "value": True}]
    interact(bot, corrections_payload(fake, "export", include, member=moderator))
    (refusal,) = await fake.wait_for("POST", HOOK)
    assert "only in an age-restricted channel" in refusal.json["content"] and refusal.files == []

    in_dm = await slash(fake, bot, corrections_payload(fake, "review", user=OPERATOR))
    assert in_dm.json["data"]["content"] == "Nothing left to review."  # an operator's DM: not unless asked
    wanted = await slash(
        fake, bot, corrections_payload(fake, "review", [{"type": 5, "name": "nsfw", "value": True}], user=OPERATOR)
    )
    assert f"Correction #{nsfw}:" in wanted.json["data"]["content"]
    assert custom_ids(wanted.json["data"]["components"])[0].endswith(":nsfw")  # the next page asks again


async def test_privacy_command_says_the_real_retention_days(
    fake: FakeDiscord, make_service: Callable[..., Service]
) -> None:
    service = make_service(retention_days=12, guild_grace_days=3)
    client = make_client(service, service.settings)
    await client.login("fake-token")
    try:
        shown = await slash(fake, client, slash_payload(fake, "darekana", [{"type": 1, "name": "privacy"}], user=ALICE))
        text = shown.json["data"]["content"]
        assert shown.json["data"]["flags"] == EPHEMERAL and len(text) <= 2000
        assert "deleted after 12 days" in text and "after 3 days, unless I am back" in text
        assert "30 days" not in text and "7 days" not in text
    finally:
        await client.close()


def person_rows(service: Service, platform: str, user_id: str) -> tuple[int, int, int]:
    """(recognitions, faces of them, corrections by them): what forget must leave at zero."""
    with Session(service.store.engine) as session:
        mine = select(RecognitionRow.id).where(RecognitionRow.platform == platform, RecognitionRow.user_id == user_id)
        faces = session.scalars(select(FaceRow.id).where(FaceRow.recognition_id.in_(mine))).all()
        said = session.scalars(
            select(CorrectionRow.id).where(CorrectionRow.platform == platform, CorrectionRow.user_id == user_id)
        ).all()
        return len(session.scalars(mine).all()), len(faces), len(said)


async def test_forget_asks_a_confirmation_only_the_requester_can_press(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    alice, bob = Requester("discord", ALICE["id"]), Requester("discord", BOB["id"])
    await corrected(service, known.picture, alice, HERE, "Shana")
    await corrected(service, known.picture, bob, HERE, "Kinomoto Sakura")
    forget = slash_payload(fake, "darekana", [{"type": 1, "name": "forget"}], member=member_payload(ALICE))

    asked = await slash(fake, bot, forget)
    assert asked.json["data"]["flags"] == EPHEMERAL and "It cannot be undone." in asked.json["data"]["content"]
    confirm, cancel = custom_ids(asked.json["data"]["components"])
    not_hers = await press(fake, bot, asked.message, confirm, user=BOB)
    assert not_hers.json["data"]["content"] == "Only the person who asked to be forgotten can confirm it."
    kept = await press(fake, bot, asked.message, cancel)
    assert (kept.json["type"], kept.json["data"]["content"]) == (7, "Nothing was deleted.")
    assert person_rows(service, "discord", ALICE["id"]) == (1, 1, 1)

    again = await slash(fake, bot, forget)
    confirm = custom_ids(again.json["data"]["components"])[0]
    deferred = await press(fake, bot, again.message, confirm)
    assert deferred.json == {"type": 6}
    (done,) = await fake.wait_for("PATCH", HOOK + r"/messages/@original")
    assert (
        done.json["content"].startswith(
            "Done: I deleted 1 picture you asked about (1 face, crops included), 1 correction or"
        )
        and not done.json["components"]
    )
    assert person_rows(service, "discord", ALICE["id"]) == (0, 0, 0)
    assert person_rows(service, "discord", BOB["id"]) == (1, 1, 1)  # nobody else's


async def test_leaving_a_server_purges_it_after_the_grace_period_unless_the_bot_is_back(
    known: Known, fake: FakeDiscord, bot: Darekana, service: Service
) -> None:
    clock = [datetime(2027, 1, 1, tzinfo=UTC)]
    service.clock = lambda: clock[0]
    await corrected(service, known.picture, Requester("discord", ALICE["id"]), HERE, "Shana")
    await corrected(service, known.picture, Requester("discord", BOB["id"]), OTHER_SERVER, "Shana")

    def removals() -> list[tuple[str, datetime]]:
        with Session(service.store.engine) as session:
            return [(r.guild_id, r.removed_at) for r in session.scalars(select(GuildRemovalRow))]

    bot._connection.parse_guild_delete({"id": str(GUILD_ID)})  # removed from the server
    await until(lambda: removals())
    assert [guild for guild, _ in removals()] == [str(GUILD_ID)]
    clock[0] += timedelta(days=6)
    assert (await service.sweep()).servers == ()  # within the grace period: nothing goes
    bot._connection.parse_guild_create(guild_payload())  # invited back: the removal is cancelled
    await until(lambda: not removals())
    clock[0] += timedelta(days=30)
    assert (await service.sweep()).servers == () and (await service.stats()).recognitions == 2

    bot._connection.parse_guild_delete({"id": str(GUILD_ID)})
    await until(lambda: removals())
    clock[0] += timedelta(days=7, seconds=1)
    swept = await service.sweep()
    assert swept.servers == (f"discord:{GUILD_ID}",) and swept.purged.recognitions == 1
    assert person_rows(service, "discord", ALICE["id"]) == (0, 0, 0)
    assert person_rows(service, "discord", BOB["id"]) == (1, 1, 1)  # the other server's stays
    assert not removals()


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_server_that_removed_the_bot_while_it_was_offline_is_purged_after_the_grace_period(
    known: Known, bot: Darekana, service: Service
) -> None:
    """No on_guild_remove comes for a server that removed the bot while it was offline: at on_ready, a server
    something is kept of that the bot is not in starts its grace period; the servers it is in do not."""
    clock = [datetime(2027, 1, 1, tzinfo=UTC)]
    service.clock = lambda: clock[0]
    await corrected(service, known.picture, Requester("discord", ALICE["id"]), HERE, "Shana")
    await corrected(service, known.picture, Requester("discord", BOB["id"]), OTHER_SERVER, "Shana")

    def removals() -> list[str]:
        with Session(service.store.engine) as session:
            return [r.guild_id for r in session.scalars(select(GuildRemovalRow))]

    assert str(GUILD_ID) in [str(g.id) for g in bot.guilds]  # the fake server the bot is in
    bot.dispatch("ready")
    await until(lambda: removals())
    assert removals() == [OTHER_SERVER.guild_id]
    clock[0] += timedelta(days=7, seconds=1)
    swept = await service.sweep()
    assert swept.servers == (f"discord:{OTHER_SERVER.guild_id}",)
    assert person_rows(service, "discord", BOB["id"]) == (0, 0, 0)
    assert person_rows(service, "discord", ALICE["id"]) == (1, 1, 1)  # the server it is in keeps everything
    # another process's shard is not this one's business: nothing of it is marked
    assert await service.servers_absent("discord", [], lambda guild: False) == []


def test_nsfw_is_a_channel_age_restricted_itself_or_by_its_server_mark() -> None:
    from types import SimpleNamespace

    from darekana.bot.discord.replies import is_nsfw

    def channel(own: bool, level: discord.NSFWLevel | None) -> SimpleNamespace:
        return SimpleNamespace(is_nsfw=lambda: own, guild=SimpleNamespace(nsfw_level=level) if level else None)

    assert is_nsfw(channel(True, discord.NSFWLevel.default))
    assert is_nsfw(channel(False, discord.NSFWLevel.age_restricted))
    assert is_nsfw(channel(False, discord.NSFWLevel.explicit))
    assert not is_nsfw(channel(False, discord.NSFWLevel.safe))
    assert not is_nsfw(channel(False, discord.NSFWLevel.default))
    assert not is_nsfw(channel(False, None))  # a direct message
