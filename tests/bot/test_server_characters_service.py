"""A server's own characters through the service, on both databases: enrolled by that server's moderators
from crops they attach (real crops of a character the test bundle does not know), named in that server and
unknown in the other server and over HTTP, kept through reloads, re-embedded with another network, deleted
with the server, never by retention or by forgetting whoever enrolled it."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import inspect

import darekana.bot.service as service_module
from darekana.bot.callers import Place, Requester
from darekana.bot.errors import BadRequest, Conflict, Forbidden, NotFound
from darekana.bot.records import Authority
from darekana.bot.replies import SERVER_MARK, ServerEnrolled
from darekana.bot.server_characters import SERVER_PREFIX, ServerCharacter
from darekana.bot.service import OPERATOR, Service
from darekana.bot.storage import Store, current_revision, downgrade, open_database, upgrade
from darekana.recognizer.engine import Recognizer
from darekana.recognizer.layout import MODEL_FILE
from darekana.train.shared import DATASETS

HORO = sorted((DATASETS / "moeimouto-85" / "horo").glob("*.jpg"))
SHOTS = 5
A, B = "900000000000000010", "900000000000000020"
IN_A, IN_B = Place(A, "c-a"), Place(B, "c-b")
MOD = Requester("discord", "mod-a")
MEMBER = Requester("discord", "member")


def png(path: Path) -> bytes:
    out = io.BytesIO()
    Image.open(path).convert("RGB").save(out, "PNG")
    return out.getvalue()


def moderator_of(service: Service, where: Place, who: Requester = MOD):
    return service.scope(who, where, Authority.SERVER_MODERATOR)


async def enroll_horo(service: Service) -> None:
    crops = tuple(png(p) for p in HORO[:SHOTS])
    enrolled = await service.enroll_server_character("Horo", MOD, IN_A, moderator_of(service, IN_A), crops=crops)
    assert enrolled.crops == SHOTS and not enrolled.in_bundle and "this server only" in enrolled.text


async def answers(service: Service, who: Requester, where: Place) -> list[str]:
    """Every line said of horo's other pictures, asked by ``who`` at ``where``."""
    lines = []
    for path in HORO[SHOTS : SHOTS + 8]:
        reply = await service.whois(path.read_bytes(), who, where)
        assert all(not face.label.startswith(SERVER_PREFIX) for face in reply.faces) or where.guild_id == A
        lines += reply.lines
    return lines


@pytest.fixture
def service(make_service: Callable[..., Service], database_url: str) -> Service:
    return make_service(database_url, user_rate="1000/1", channel_rate="1000/1")


async def test_server_character_named_in_its_server_unknown_in_the_other_server_and_over_http(service: Service):
    await enroll_horo(service)
    in_a = await answers(service, MOD, IN_A)
    named = [line for line in in_a if f"Horo {SERVER_MARK}" in line]
    assert len(named) >= 4, in_a  # most of her other faces, and the reply says whose character she is
    for who, where in ((MEMBER, IN_B), (Requester("http", "203.0.113.7"), Place(channel_id="203.0.113.7"))):
        assert not any("Horo" in line for line in await answers(service, who, where))
    (listed,) = await service.server_characters(MOD, IN_A, moderator_of(service, IN_A))
    assert (listed.name, listed.label, listed.crops, listed.enrolled_by) == ("Horo", "horo", SHOTS, MOD.key)
    assert await service.server_characters(MOD, IN_B, moderator_of(service, IN_B)) == []


async def test_only_that_server_moderators_enroll_a_server_character_not_other_server_ones(service: Service):
    crops = (png(HORO[0]),)
    with pytest.raises(Forbidden):  # a moderator of server B, acting in A
        await service.enroll_server_character("Horo", MOD, IN_A, moderator_of(service, IN_B), crops=crops)
    with pytest.raises(Forbidden):  # a plain member of A
        service.scope(MEMBER, IN_A, Authority.PERSON)
    with pytest.raises(BadRequest, match="in that server"):  # over HTTP there is no server
        await service.enroll_server_character("Horo", Requester("http", "x"), Place(), OPERATOR, crops=crops)
    with pytest.raises(BadRequest, match="not both"):
        await service.enroll_server_character("Horo", MOD, IN_A, moderator_of(service, IN_A))
    with pytest.raises(BadRequest, match="attachment 2"):
        await service.enroll_server_character("Horo", MOD, IN_A, moderator_of(service, IN_A), crops=(*crops, b"no"))
    with pytest.raises(NotFound, match="no group 12345"):
        await service.enroll_server_character("Horo", MOD, IN_A, moderator_of(service, IN_A), group_id=12345)
    assert service.store.server_characters("discord") == [] and service.galleries.current.of(A) is None
    await enroll_horo(service)  # an operator could too: everything is theirs
    with pytest.raises(Conflict, match="already"):
        await service.enroll_server_character("horo", MOD, IN_A, OPERATOR, crops=crops)
    with pytest.raises(NotFound):  # B's moderator cannot remove what B does not have
        await service.remove_server_character("Horo", MOD, IN_B, moderator_of(service, IN_B))
    assert "Removed Horo" in await service.remove_server_character("Horo", MOD, IN_A, moderator_of(service, IN_A))
    assert service.store.server_characters("discord") == [] and service.galleries.current.of(A) is None


async def test_server_character_from_an_unknown_faces_group_of_that_server(service: Service):
    for i, path in enumerate(HORO[:6]):  # asked about in A by two people: a group of unknown faces
        await service.whois(path.read_bytes(), Requester("discord", str(i % 2)), IN_A)
    groups = await service.groups(None, moderator_of(service, IN_A))
    assert groups and await service.groups(None, moderator_of(service, IN_B)) == []
    group = groups[0]
    with pytest.raises(NotFound):  # B's moderators cannot take A's faces
        await service.enroll_server_character("Horo", MOD, IN_B, moderator_of(service, IN_B), group_id=group.id)
    enrolled = await service.enroll_server_character("Horo", MOD, IN_A, moderator_of(service, IN_A), group.id)
    assert enrolled.crops == len(group.faces) and service.galleries.current.of(A) is not None


async def test_server_character_survives_a_reload_and_is_embedded_again_with_another_network(
    service: Service, trained_bundle: Path, monkeypatch: pytest.MonkeyPatch
):
    await enroll_horo(service)
    before = service.galleries.current
    await service.reload(trained_bundle)  # the same network: the centres hold, the thresholds are its own
    kept, held = service.galleries.current.of(A), before.of(A)
    assert kept is not None and held is not None and kept.means is held.means  # nothing embedded again
    assert kept.thresholds == service.recognizer.rethreshold(held).thresholds
    other = Recognizer(trained_bundle)
    other.manifest.checksums = {**other.manifest.checksums, MODEL_FILE: "another network"}
    monkeypatch.setattr(service_module, "_load", lambda bundle, settings: other)
    await service.reload(trained_bundle)
    extra = service.galleries.current.of(A)
    assert service.recognizer is other and extra is not None and extra.network == "another network"
    assert service.galleries.current is not before and extra.labels[0].id == SERVER_PREFIX + "horo"
    assert any(SERVER_MARK in line for line in await answers(service, MOD, IN_A))


async def test_guild_purge_removes_server_character_retention_and_forget_do_not(service: Service):
    await enroll_horo(service)
    (enrolled,) = service.store.server_characters("discord", A)
    later = datetime.now(UTC) + timedelta(days=service.settings.retention_days + 30)
    service.clock = lambda: later
    await service.forget(MOD)  # the character is the server's, not the moderator's
    swept = await service.sweep()  # far past retention: the crops of server characters are not faces
    assert swept.crops == 0 and swept.servers == ()
    (kept,) = service.store.server_characters("discord", A)
    assert kept == enrolled and len(kept.crops) == SHOTS and service.galleries.current.of(A) is not None
    await service.server_left("discord", A)
    service.clock = lambda: later + timedelta(days=service.settings.guild_grace_days + 1)
    swept = await service.sweep()
    assert swept.servers == (f"discord:{A}",) and swept.purged.server_characters == 1
    assert service.store.server_characters("discord") == [] and service.galleries.current.of(A) is None


def test_other_server_characters_migration_up_and_down(database_url: str):
    engine = open_database(database_url)
    upgrade(engine)
    assert current_revision(engine) == "0007"
    store = Store(engine)
    assert store.add_server_character("discord", ServerCharacter(B, "horo", "Horo", (b"png",)), "discord:m", NOW)
    assert not store.add_server_character("discord", ServerCharacter(B, "horo", "Horo", (b"png",)), "discord:m", NOW)
    downgrade(engine, "0006")
    tables = set(inspect(engine).get_table_names())
    assert not {"server_characters", "server_character_crops"} & tables and "faces" in tables
    upgrade(engine)
    assert Store(engine).server_characters("discord") == []
    engine.dispose()


NOW = datetime(2026, 12, 5, tzinfo=UTC)


async def test_right_on_a_server_character_answer_is_a_name_for_review_never_a_server_label(service: Service):
    await enroll_horo(service)
    for path in HORO[SHOTS : SHOTS + 8]:
        reply = await service.whois(path.read_bytes(), MEMBER, IN_A)
        named = [i for i, face in enumerate(reply.faces) if face.label == SERVER_PREFIX + "horo"]
        if named and reply.faces[named[0]].verdict != "unknown":
            ack = await service.confirm(reply.face_ids[named[0]], MEMBER, IN_A)
            break
    else:
        pytest.fail("none of horo's other faces was named as the server's character")
    assert not ack.label.startswith(SERVER_PREFIX) and ack.name == "Horo" and not ack.known


async def test_server_character_enrolled_by_another_process_is_answered_after_a_refresh(
    make_service: Callable[..., Service], database_url: str
):
    """Two processes on one database (PostgreSQL in production): one enrolls, the other answers with it once
    it refreshes, and forgets it once it is removed there."""
    here = make_service(database_url, user_rate="1000/1", channel_rate="1000/1")
    there = make_service(database_url, user_rate="1000/1", channel_rate="1000/1")
    assert await there.refresh_galleries() == 0  # nothing changed: no rebuild
    await enroll_horo(here)
    assert there.galleries.current.of(A) is None
    assert await there.refresh_galleries() == 1
    assert any(f"Horo {SERVER_MARK}" in line for line in await answers(there, MOD, IN_A))
    assert await here.refresh_galleries() == 0  # its own enrolment is not rebuilt twice
    await here.remove_server_character("Horo", MOD, IN_A, moderator_of(here, IN_A))
    assert await there.refresh_galleries() == 1 and there.galleries.current.of(A) is None


def test_server_character_of_one_crop_is_said_never_to_be_sure():
    one, five = ServerEnrolled("server:horo", "Horo", 1, False), ServerEnrolled("server:horo", "Horo", 5, False)
    assert "never sure of it" in one.text and "never sure" not in five.text
