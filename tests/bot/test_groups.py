"""What to add next (darekana.bot.groups) and enrolling a group (darekana.bot.enrolment): real faces of
characters the test bundle does not know, sent and named through the service, grouped, enrolled through
``train enroll`` and the ``train compare`` gate, and promoted to the bundle link."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from darekana.bot import enrolment
from darekana.bot.callers import Requester
from darekana.bot.errors import Conflict, NotFound
from darekana.bot.records import Status
from darekana.bot.service import Service
from darekana.bot.settings import Settings
from darekana.bot.storage import Store, open_database, upgrade
from darekana.recognizer.bundle import load_manifest, write_manifest
from darekana.recognizer.engine import Recognizer
from darekana.train.shared import DATASETS

ALICE, BOB = Requester("discord", "1001"), Requester("http", "203.0.113.7")
MODERATOR = Requester("discord", "9000")
# two characters the animeface-10 bundle never saw, of different looks and datasets
NEWCOMERS = {
    "Gawr Gura": DATASETS / "hololive-20" / "gawr_gura",
    "Aisaka Taiga": DATASETS / "moeimouto-85" / "aisaka_taiga",
}
FACES = 6


@pytest.fixture
def linked_service(trained_bundle: Path, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Services answering through the link ``tmp_path/models/current`` (pointing at the test bundle), as
    ``make run`` sets them up; enrolled bundles are written beside it."""
    made: list[Service] = []

    def make(database_url: str | None = None, **settings: object) -> Service:
        link = tmp_path / "models" / "current"
        if not link.is_symlink():
            link.parent.mkdir()
            link.symlink_to(trained_bundle, target_is_directory=True)
        url = database_url or f"sqlite:///{tmp_path / 'service.sqlite3'}"
        engine = open_database(url)
        upgrade(engine)
        service = Service(
            Recognizer(os.path.realpath(link)), Store(engine), Settings(bundle=link, database_url=url, **settings)
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


async def send_and_name(service: Service, name: str, folder: Path, people: list[Requester], skip: int = 0) -> list[int]:
    """``FACES`` crops of ``folder`` sent by ``people`` in turn, each face named ``name`` by its sender."""
    face_ids = []
    for i, path in enumerate(sorted(folder.iterdir())[skip : skip + FACES]):
        who = people[i % len(people)]
        reply = await service.whois(path.read_bytes(), who)
        await service.correct(reply.face_ids[0], name, who)
        face_ids.append(reply.face_ids[0])
    return face_ids


def unlimited(**settings: object) -> dict[str, object]:
    return {"user_rate": "1000/1", "channel_rate": "1000/1", "feedback_rate": "1000/1", **settings}


async def test_two_new_characters_make_two_groups(linked_service, database_url: str):
    service = linked_service(database_url, **unlimited())
    sent = {name: await send_and_name(service, name, folder, [ALICE, BOB]) for name, folder in NEWCOMERS.items()}
    groups = await service.groups()
    for name, ids in sent.items():
        holding = [g for g in groups if set(ids) & {f.face_id for f in g.faces}]
        biggest = max(holding, key=lambda g: len(set(ids) & {f.face_id for f in g.faces}))
        assert len(set(ids) & {f.face_id for f in biggest.faces}) >= FACES - 2, f"{name} scattered: {holding}"
        assert {f.face_id for f in biggest.faces} <= set(ids), f"{name} grouped with another character"
        assert biggest.names()[0][1] == name and biggest.people == 2 and biggest.pictures == len(biggest.faces)
    assert [len(g.faces) for g in groups] == sorted((len(g.faces) for g in groups), reverse=True)


async def test_faces_named_as_known_characters_are_not_grouped(linked_service, known_picture: tuple[bytes, str]):
    service = linked_service(**unlimited())
    for who in (ALICE, BOB):
        reply = await service.whois(known_picture[0], who)
        await service.correct(reply.face_ids[0], "Shana", who)  # a character the bundle knows
    assert await service.groups() == []


async def test_enrolling_a_group_promotes_a_bundle_that_passed_the_gate(linked_service, trained_bundle: Path):
    service = linked_service(**unlimited())
    ids = await send_and_name(service, "Gawr Gura", NEWCOMERS["Gawr Gura"], [ALICE, BOB])
    group = next(g for g in await service.groups() if set(ids) & {f.face_id for f in g.faces})
    before = service.recognizer.version
    enrolled = await service.enroll_group(group.id, "gawr gura", MODERATOR)  # the name people typed, matched

    link = service.settings.bundle
    assert enrolled.label == "gawr_gura" and enrolled.gate.passed and enrolled.faces == len(group.faces)
    assert Path(os.path.realpath(link)) != trained_bundle and Path(os.path.realpath(link)).parent == link.parent
    assert service.recognizer.version == enrolled.bundle != before
    assert "gawr_gura" in {label.id for label in service.recognizer.manifest.labels}
    accepted = service.store.feedback((Status.ACCEPTED,))
    assert {f.face_id for f in accepted} == {f.face_id for f in group.faces} and accepted[0].reviewer == "discord:9000"
    assert not any({f.face_id for f in g.faces} & {f.face_id for f in group.faces} for g in await service.groups())
    others = [p.read_bytes() for p in sorted(NEWCOMERS["Gawr Gura"].iterdir())[FACES : FACES + 10]]
    named = [service.recognizer.recognize(p).faces[0] for p in others]
    assert sum(f.label == "gawr_gura" for f in named) >= 5, [f.label for f in named]
    gura = next(f for f in named if f.label == "gawr_gura" and f.evidence is not None)
    assert gura.evidence.source == "enrolled"


async def test_the_gate_refuses_a_worse_bundle(trained_bundle: Path, tmp_path: Path):
    """A bundle that calls every face unknown, against the test bundle on its held-back faces."""
    worse = Path(shutil.copytree(trained_bundle, tmp_path / "worse"))
    manifest = load_manifest(worse)
    write_manifest(worse, replace(manifest, thresholds=replace(manifest.thresholds, distance=0.01)))
    gate = await enrolment.gate(trained_bundle, worse, manifest.training["data"], tolerance=0.03)
    assert not gate.passed and gate.faces == len(json.loads((trained_bundle / "split.json").read_text())["test"])
    assert any(r.startswith("known_false_rejection_rate rose") for r in gate.reasons), gate.reasons


async def test_a_bundle_that_cannot_pass_the_gate_is_discarded(linked_service, trained_bundle: Path, tmp_path: Path):
    """A current bundle whose training faces are gone cannot be gated: the new bundle is removed and the
    link, the corrections and the groups stay as they were."""
    moved = Path(shutil.copytree(trained_bundle, tmp_path / "moved", ignore=shutil.ignore_patterns("checkpoints")))
    manifest = load_manifest(moved)
    write_manifest(moved, replace(manifest, training={**manifest.training, "data": [str(tmp_path / "gone")]}))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "current").symlink_to(moved, target_is_directory=True)
    service = linked_service(**unlimited())
    ids = await send_and_name(service, "Gawr Gura", NEWCOMERS["Gawr Gura"], [ALICE, BOB])
    group = next(g for g in await service.groups() if set(ids) & {f.face_id for f in g.faces})
    with pytest.raises(Conflict, match="cannot gate the new bundle"):
        await service.enroll_group(group.id, "Gawr Gura", MODERATOR)
    assert Path(os.path.realpath(service.settings.bundle)) == moved
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["current"]  # the new bundle is gone
    assert service.store.feedback((Status.ACCEPTED,)) == [] and group.id in {g.id for g in await service.groups()}


async def test_a_known_character_named_otherwise_is_not_enrolled(linked_service, trained_bundle: Path):
    """Training faces of Hatsune Miku, named "Not Miku" by two people: the bundle names them Miku with
    confidence, so they may be enrolled as Miku only, whatever the gate would say."""
    service = linked_service(**unlimited())
    train = [Path(p) for p in json.loads((trained_bundle / "split.json").read_text())["train"]]
    ids = []
    for i, path in enumerate(sorted(p for p in train if p.parent.name == "000_hatsune_miku")[:10]):
        who = (ALICE, BOB)[i % 2]
        reply = await service.whois(path.read_bytes(), who)
        await service.correct(reply.face_ids[0], "Not Miku", who)
        ids.append(reply.face_ids[0])
    group = max(await service.groups(), key=lambda g: len(set(ids) & {f.face_id for f in g.faces}))
    assert group.looks_like is not None and group.looks_like.label == "000_hatsune_miku"  # shown to moderators
    with pytest.raises(Conflict, match="are Hatsune Miku to me"):
        await service.enroll_group(group.id, "Not Miku", MODERATOR)
    assert Path(os.path.realpath(service.settings.bundle)) == trained_bundle


async def test_a_group_one_person_sent_and_named_is_not_enrolled(linked_service):
    service = linked_service(**unlimited())
    ids = await send_and_name(service, "Gawr Gura", NEWCOMERS["Gawr Gura"], [ALICE])
    group = next(g for g in await service.groups() if set(ids) & {f.face_id for f in g.faces})
    with pytest.raises(Conflict, match="1 person only"):
        await service.enroll_group(group.id, "Gawr Gura", MODERATOR)
    with pytest.raises(NotFound, match="no group 999999"):
        await service.enroll_group(999999, "Gawr Gura", MODERATOR)


async def test_enrolling_needs_a_bundle_link(make_service):
    service = make_service()
    with pytest.raises(Conflict, match="not a link"):
        await service.enroll_group(1, "Gawr Gura", MODERATOR)
