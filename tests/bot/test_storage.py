"""The storage layer on a real SQLite file and on the machine's PostgreSQL: migrations, records, reviews."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from darekana.bot.records import RecognitionRecord
from darekana.bot.storage import Store, current_revision, downgrade, open_database, upgrade
from darekana.bot.storage.models import Base
from darekana.cli import main as darekana
from darekana.recognizer.detect import Box
from darekana.recognizer.results import Candidate, Decision, Face, Model, Recognition, Verdict

TABLES = {
    "characters",
    "recognitions",
    "faces",
    "corrections",
    "answers",
    "cursors",
    "watched_channels",
    "guild_removals",
}


def record(faces: int = 2, user: str = "u1", guild: str | None = None, nsfw: bool = False) -> RecognitionRecord:
    """A recognition of ``faces`` faces asked by ``user`` in server ``guild`` (None: outside any server, where
    feedback from anywhere outside a server is taken)."""
    candidates = [Candidate("000_hatsune_miku", "Hatsune Miku", 0.9), Candidate("初音", "初音ミク", 0.05)]
    found = [
        Face.of(Decision(candidates, Model.PRIMARY, Verdict.CONFIDENT, 0.8), Box(10 * n, 20, 30, 40), 0.95)
        for n in range(1, faces + 1)
    ]
    return RecognitionRecord(
        platform="discord",
        user_id=user,
        picture_sha256="ab" * 32,
        result=Recognition(found, 640, 480, faces, "animeface-10@t", {}),
        crops_png=[b"\x89PNG fake crop %d" % n for n in range(1, faces + 1)],
        guild_id=guild,
        channel_id="2",
        message_id="3",
        nsfw=nsfw,
    )


@pytest.fixture
def store(database_url: str) -> Store:
    engine = open_database(database_url)
    upgrade(engine)
    yield Store(engine)
    engine.dispose()


def test_upgrade_from_empty_gives_exactly_the_models_schema(database_url: str):
    engine = open_database(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == "0007"
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"migrations and darekana/bot/storage/models.py disagree: {diff}"
    engine.dispose()


def test_downgrade_then_upgrade_round_trip(database_url: str):
    engine = open_database(database_url)
    upgrade(engine)
    Store(engine).save_recognition(record())
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    store = Store(engine)
    assert store.stats().recognitions == 0
    assert store.save_recognition(record())[0] >= 1
    engine.dispose()


def test_recognition_and_faces_round_trip(store: Store):
    recognition_id, face_ids = store.save_recognition(record(faces=3))
    assert len(face_ids) == 3 and len(set(face_ids)) == 3
    faces = store.faces_of(recognition_id)
    assert [f.number for f in faces] == [1, 2, 3] and [f.id for f in faces] == face_ids
    face = store.face(face_ids[1])
    assert (face.label, face.verdict, face.recognition_id) == ("000_hatsune_miku", "confident", recognition_id)
    assert face.candidates[1] == {"label": "初音", "name": "初音ミク", "probability": 0.05}
    assert store.face(10_000) is None


def test_feedback_one_per_person_and_face_latest_wins(store: Store):
    _, (face, _) = store.save_recognition(record())
    first = store.save_feedback(face, "correction", "kagamine_rin", "Kagamine Rin", "discord", "u9")
    again = store.save_feedback(face, "correction", "kagamine_len", "Kagamine Len", "discord", "u9")
    other = store.save_feedback(face, "confirmation", "000_hatsune_miku", "Hatsune Miku", "http", "u9")
    assert first == again != other
    rows = store.feedback()
    assert [(r.kind, r.label, r.predicted_label) for r in rows] == [
        ("correction", "kagamine_len", "000_hatsune_miku"),
        ("confirmation", "000_hatsune_miku", "000_hatsune_miku"),
    ]
    assert rows[0].crop_png == b"\x89PNG fake crop 1"
    assert store.save_feedback(10_000, "correction", "x", "X", "http", "u9") is None
    assert {c.label for c in store.characters()} >= {"kagamine_rin", "kagamine_len"}


def test_review_moves_between_statuses_and_stats_count(store: Store):
    _, faces = store.save_recognition(record(faces=2))
    a = store.save_feedback(faces[0], "correction", "rem", "Rem", "discord", "u1")
    b = store.save_feedback(faces[1], "correction", "ram", "Ram", "discord", "u1")
    assert store.review(a, "accepted", "discord:mod") and store.review(b, "rejected", "discord:mod")
    assert not store.review(10_000, "accepted", "discord:mod")
    with pytest.raises(ValueError):
        store.review(a, "maybe", "discord:mod")
    assert [r.label for r in store.feedback(("accepted",))] == ["rem"]
    assert store.feedback(("accepted",))[0].reviewer == "discord:mod"
    stats = store.stats()
    assert (stats.recognitions, stats.faces) == (1, 2)
    assert stats.by_status == {"pending": 0, "accepted": 1, "rejected": 1}
    assert stats.most_corrected == [("000_hatsune_miku", "rem", 1)]


def test_sync_characters_keeps_names_people_brought(store: Store):
    store.sync_characters([("000_hatsune_miku", "Hatsune Miku"), ("001_kagamine_rin", "Kagamine Rin")])
    _, (face, _) = store.save_recognition(record())
    store.save_feedback(face, "correction", "gawr_gura", "Gawr Gura", "http", "u1")
    store.sync_characters([("000_hatsune_miku", "Hatsune Miku")])
    rows = {c.label: c for c in store.characters()}
    assert rows["000_hatsune_miku"].in_bundle and rows["000_hatsune_miku"].name == "Hatsune Miku"
    assert not rows["001_kagamine_rin"].in_bundle and not rows["gawr_gura"].in_bundle


def test_data_survives_reopening(database_url: str):
    engine = open_database(database_url)
    upgrade(engine)
    _, (face, _) = Store(engine).save_recognition(record())
    Store(engine).save_feedback(face, "correction", "rem", "Rem", "discord", "u1")
    engine.dispose()
    reopened = open_database(database_url)
    upgrade(reopened)  # a restart runs migrations again: a no-op on an up-to-date database
    assert [r.label for r in Store(reopened).feedback()] == ["rem"]
    reopened.dispose()


def test_concurrent_writers_lose_nothing(store: Store):
    _, faces = store.save_recognition(record(faces=4))

    def write(i: int) -> int | None:
        return store.save_feedback(faces[i % 4], "correction", f"c{i}", f"C{i}", "http", f"user{i}")

    with ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(write, range(40)))
    assert None not in ids and len(set(ids)) == 40
    assert len(store.feedback(limit=100)) == 40


def test_db_command_upgrades_and_downgrades(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DAREKANA_DATABASE_URL", database_url)
    assert darekana(["db", "upgrade"]) == 0
    assert "revision 0007" in capsys.readouterr().out
    assert darekana(["db", "downgrade", "base"]) == 0
    assert "base (empty)" in capsys.readouterr().out
    assert darekana(["db", "downgrade"]) == 2
    assert "needs a revision" in capsys.readouterr().err


def test_db_command_reports_an_unreachable_database_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DAREKANA_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert darekana(["db", "current"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("darekana: database error:") and err.count("\n") == 1


def test_answers_are_claimed_once_and_map_posts_to_recognitions(store: Store):
    recognition_id, _ = store.save_recognition(record())
    claim = store.claim_answer("twitter", "mention-1", recognition_id)
    assert claim is not None and store.claim_answer("twitter", "mention-1", recognition_id) is None
    assert store.claim_answer("discord", "mention-1", None) is not None  # another platform's message
    assert store.answered_recognition("twitter", "post-9") is None
    store.answer_posted(claim, "post-9")
    assert store.answered_recognition("twitter", "post-9") == recognition_id
    assert store.answers_since("twitter", datetime.now(UTC) - timedelta(hours=1)) == 1


def test_cursors_round_trip(store: Store):
    assert store.cursor("twitter:since_id") is None
    store.set_cursor("twitter:since_id", "100")
    store.set_cursor("twitter:since_id", "1860000000000000001")
    assert store.cursor("twitter:since_id") == "1860000000000000001"


def test_faces_stored_before_distances_convert_both_ways(database_url: str):
    """Revision 0003 turned the cosine similarity of format 1-2 bundles into the distance that means the same
    (darekana.recognizer.centres); going down and up again gives the stored distances back."""
    engine = open_database(database_url)
    upgrade(engine)
    Store(engine).save_recognition(record())  # distance 0.8
    downgrade(engine, "0002")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT similarity FROM faces")).scalars().all() == pytest.approx([0.68] * 2)
        connection.execute(text("UPDATE faces SET similarity = 1.0000001"))  # a rounding error above 1
        connection.commit()
    upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT distance FROM faces")).scalars().all() == [0.0, 0.0]
    engine.dispose()


def test_one_step_downgrade_keeps_the_first_revisions_data(database_url: str):
    engine = open_database(database_url)
    upgrade(engine)
    Store(engine).save_recognition(record())
    downgrade(engine, "0001")
    assert current_revision(engine) == "0001" and "answers" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert Store(engine).stats().recognitions == 1
    engine.dispose()


def test_watched_channels_turn_on_and_off_once_and_per_server(store: Store):
    assert store.set_watched("discord", "g1", "c1", True, "discord:9")
    assert not store.set_watched("discord", "g1", "c1", True, "discord:8"), "already on"
    assert store.set_watched("discord", "g1", "c2", True, "discord:9")
    assert store.set_watched("discord", "g2", "c3", True, "discord:9")
    assert store.watched_channels("discord", "g1") == ["c1", "c2"]
    assert store.watching("discord", ["thread", "c2"]) and not store.watching("twitter", ["c1"])
    assert store.set_watched("discord", "g1", "c1", False, "discord:9")
    assert not store.set_watched("discord", "g1", "c1", False, "discord:9"), "already off"
    assert store.watched_channels("discord", "g1") == ["c2"] and not store.watching("discord", ["c1"])


def test_privacy_migration_keeps_what_is_stored_both_ways(database_url: str):
    """0006 only adds columns, indexes and a table: rows stored before it, corrections included, are all
    there after it, and after going back down to 0005."""
    engine = open_database(database_url)
    upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO recognitions (platform, user_id, picture_sha256, bundle_version, width, height, "
                "faces_detected, created_at) VALUES ('discord', 'u1', 'ab', 'b@1', 64, 64, 1, :at)"
            ),
            {"at": datetime(2026, 1, 1)},
        )
        connection.execute(
            text(
                "INSERT INTO faces (recognition_id, number, x, y, w, h, whole_picture, crop_png, label, name, "
                "confidence, verdict, model, distance, candidates) VALUES (1, 1, 0, 0, 8, 8, false, :crop, 'l', "
                "'L', 0.9, 'confident', 'primary', 0.1, '[]')"
            ),
            {"crop": b"\x89PNG old crop"},
        )
        connection.execute(
            text(
                "INSERT INTO corrections (face_id, kind, label, name, platform, user_id, created_at, status) "
                "VALUES (1, 'correction', 'rem', 'Rem', 'discord', 'u2', :at, 'pending')"
            ),
            {"at": datetime(2026, 1, 2)},
        )
    upgrade(engine)
    store = Store(engine)
    (kept,) = store.feedback()
    assert (kept.label, kept.crop_png, kept.user_id) == ("rem", b"\x89PNG old crop", "u2")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT nsfw, delete_token_sha256 FROM recognitions")).one() == (False, None)
    downgrade(engine, "0005")
    with engine.connect() as connection:
        for table in ("recognitions", "faces", "corrections"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1, table
    upgrade(engine)
    assert [f.crop_png for f in Store(engine).feedback()] == [b"\x89PNG old crop"]
    engine.dispose()


def test_db_sweep_prints_what_it_deleted(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("DAREKANA_DATABASE_URL", database_url)
    monkeypatch.setenv("DAREKANA_RETENTION_DAYS", "30")
    assert darekana(["db", "sweep"]) == 2
    assert "run `darekana db upgrade` first" in capsys.readouterr().err  # the sweep never migrates
    engine = open_database(database_url)
    upgrade(engine)
    store = Store(engine)
    old = datetime.now(UTC) - timedelta(days=31)
    store.save_recognition(record(faces=2), old)  # nobody said anything: both crops go
    _, (named, unnamed) = store.save_recognition(record(faces=2), old)
    store.save_feedback(named, "correction", "rem", "Rem", "discord", "u9")  # pending: kept
    store.save_recognition(record(faces=1))  # new: kept
    assert darekana(["db", "sweep"]) == 0
    assert capsys.readouterr().out == "swept: 3 face crops past retention; 0 servers past their grace period\n"
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT id FROM faces WHERE crop_deleted_at IS NULL ORDER BY id")).scalars()
        assert list(kept) == [named, unnamed + 1]
    assert darekana(["db", "sweep"]) == 0 and "swept: 0 face crops" in capsys.readouterr().out
    engine.dispose()


def test_a_server_back_in_the_middle_of_its_purge_keeps_what_is_left(store: Store):
    """The bot rejoins while a sweep is purging the server: the next batch finds the removal cancelled and
    deletes nothing more (each batch checks it, in its own transaction)."""
    removed = datetime(2027, 1, 1, tzinfo=UTC)
    for _ in range(3):
        store.save_recognition(record(guild="g1"), removed - timedelta(days=1))
    store.save_recognition(record(guild="g2"), removed)
    store.set_watched("discord", "g1", "c1", True, "discord:9")
    store.guild_removed("discord", "g1", removed)
    later = removed + timedelta(days=8)
    assert store.guilds_removed_before(later) == [("discord", "g1")]
    assert store.purge_guild_batch("discord", "g1", later, 1).recognitions == 1
    assert store.guild_back("discord", "g1")
    assert store.purge_guild_batch("discord", "g1", later, 1) is None
    assert store.end_guild_purge("discord", "g1", later).rows == 0
    assert store.stats().recognitions == 3 and store.watched_channels("discord", "g1") == ["c1"]
    assert store.guilds_removed_before(later) == []
