"""A forget or a sweep killed with SIGKILL in the middle loses no row that should stay, and leaves every row
still there whole: each batch is its own transaction. Run in a child process on a database of thousands
of rows (``bench.forget.seed``), on SQLite and on PostgreSQL, killed a few batches in, then checked."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from bench.forget import OTHER, PERSON, seed
from darekana.bot import retention
from darekana.bot.privacy import forget
from darekana.bot.settings import Settings
from darekana.bot.storage import Store, open_database, upgrade
from darekana.bot.storage.models import CorrectionRow, FaceRow, RecognitionRow

BATCH = 25
PICTURES = 600  # the person's: 3,000 of their rows, 24 batches of recognitions and as many of corrections
NOW = datetime(2027, 6, 1, tzinfo=UTC)
CROP = b"\x89PNG a stored crop" * 100

# The bot's own forget and sweep, in batches of BATCH, saying when each batch has committed.
CHILD = f"""
import asyncio, sys
from datetime import datetime
from darekana.bot import retention
from darekana.bot.privacy import forget
from darekana.bot.settings import Settings
from darekana.bot.storage import Store, open_database

retention.BATCH = {BATCH}

class Saying(Store):
    def forget_batch(self, *args):
        done = super().forget_batch(*args)
        print("batch", done.rows, flush=True)
        return done

    def delete_old_crops(self, *args):
        done = super().delete_old_crops(*args)
        print("batch", done, flush=True)
        return done

url, action, now = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3])
store = Saying(open_database(url))
if action == "forget":
    asyncio.run(forget(store, {PERSON!r}[0], {PERSON!r}[1]))
else:
    asyncio.run(retention.sweep(store, Settings(retention_days=30), now))
print("done", flush=True)
"""


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = open_database(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def killed_midway(url: str, action: str, batches: int) -> None:
    """Runs ``action`` in a child process and SIGKILLs it once ``batches`` batches have committed, a few
    milliseconds into the next one."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, action, NOW.isoformat()], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = 0
    for line in child.stdout:
        assert line.startswith("batch"), f"the child finished before it was killed: {line}"
        committed += 1
        if committed == batches:
            time.sleep(random.uniform(0, 0.02))  # somewhere inside the next batch, or between two
            child.send_signal(signal.SIGKILL)
            break
    assert child.wait(30) == -signal.SIGKILL


def scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def of(engine: Engine, who: tuple[str, str]) -> dict[str, object]:
    """Everything of ``who``: their recognitions' ids, their faces with crops, the corrections by them."""
    with engine.connect() as connection:
        mine = select(RecognitionRow.id).where(RecognitionRow.platform == who[0], RecognitionRow.user_id == who[1])
        faces = connection.execute(
            select(FaceRow.recognition_id, FaceRow.id, FaceRow.crop_png).where(FaceRow.recognition_id.in_(mine))
        ).all()
        said = connection.execute(
            select(CorrectionRow.id, CorrectionRow.face_id)
            .where(CorrectionRow.platform == who[0], CorrectionRow.user_id == who[1])
            .order_by(CorrectionRow.id)
        ).all()
        return {"recognitions": sorted(connection.scalars(mine).all()), "faces": sorted(faces), "said": said}


def no_orphans(engine: Engine) -> None:
    assert not scalar(engine, "SELECT count(*) FROM faces WHERE recognition_id NOT IN (SELECT id FROM recognitions)")
    assert not scalar(engine, "SELECT count(*) FROM corrections WHERE face_id NOT IN (SELECT id FROM faces)")


async def test_kill_9_in_the_middle_of_a_forget_loses_no_row_that_should_stay(engine: Engine, database_url: str):
    seed(engine, PICTURES, [CROP], NOW)
    others = of(engine, OTHER)
    person = of(engine, PERSON)

    killed_midway(database_url, "forget", batches=6)

    no_orphans(engine)
    after = of(engine, OTHER)
    assert after["recognitions"] == others["recognitions"] and after["faces"] == others["faces"]
    left = of(engine, PERSON)
    assert 0 < len(left["recognitions"]) < PICTURES, "killed midway"
    assert (PICTURES - len(left["recognitions"])) % BATCH == 0, "a batch is deleted whole or not at all"
    by_picture: dict[int, int] = {}
    for recognition, _, crop in left["faces"]:
        assert crop == CROP
        by_picture[recognition] = by_picture.get(recognition, 0) + 1
    assert set(by_picture) == set(left["recognitions"]) and set(by_picture.values()) == {2}  # whole pictures
    # the other person's corrections on what is left of the person's pictures are all still there
    left_faces = {face for _, face, _ in left["faces"]}
    theirs_on_left = [said for said in others["said"] if said[1] in left_faces]
    assert theirs_on_left == [said for said in after["said"] if said[1] in left_faces]
    assert len(theirs_on_left) == len(left["recognitions"])
    assert left["said"] == person["said"], "the person's own corrections go after their pictures"

    forgotten = await forget(Store(engine), *PERSON)  # asked again: done this time
    assert forgotten.recognitions == len(left["recognitions"]) and forgotten.corrections > 0
    assert of(engine, PERSON) == {"recognitions": [], "faces": [], "said": []}
    final = of(engine, OTHER)
    assert final["recognitions"] == others["recognitions"] and final["faces"] == others["faces"]
    no_orphans(engine)


async def test_kill_9_in_the_middle_of_a_sweep_loses_no_row_that_should_stay(engine: Engine, database_url: str):
    """Old pictures (40 days) whose second face nobody gave feedback on: those crops go; the first faces and
    the other person's (pending corrections) and every face of recent pictures (5 days) stay."""
    seed(engine, PICTURES, [CROP], NOW - timedelta(days=40))
    seed(engine, 100, [CROP], NOW - timedelta(days=5))
    with engine.connect() as connection:
        second_faces = set(
            connection.scalars(
                select(FaceRow.id)
                .join(RecognitionRow)
                .where(FaceRow.number == 2, RecognitionRow.created_at < NOW - timedelta(days=30))
            ).all()
        )
    assert len(second_faces) == PICTURES
    rows = {
        table: scalar(engine, f"SELECT count(*) FROM {table}") for table in ("recognitions", "faces", "corrections")
    }

    killed_midway(database_url, "sweep", batches=5)

    assert {t: scalar(engine, f"SELECT count(*) FROM {t}") for t in rows} == rows, "a sweep deletes no row"
    blank = blanked(engine)
    assert blank <= second_faces and 0 < len(blank) < len(second_faces), "killed midway, only what is past"
    assert len(blank) % BATCH == 0, "a batch is blanked whole or not at all"
    assert not scalar(engine, "SELECT count(*) FROM faces WHERE crop_deleted_at IS NULL AND length(crop_png) = 0")
    assert not scalar(engine, "SELECT count(*) FROM faces WHERE crop_deleted_at IS NOT NULL AND length(crop_png) > 0")

    swept = await retention.sweep(Store(engine), Settings(retention_days=30), NOW)  # the next sweep finishes
    assert swept.crops == len(second_faces) - len(blank)
    assert blanked(engine) == second_faces


def blanked(engine: Engine) -> set[int]:
    with engine.connect() as connection:
        return set(connection.scalars(select(FaceRow.id).where(func.length(FaceRow.crop_png) == 0)).all())


def test_the_child_runs_the_bots_own_forget_and_sweep():
    """What the child runs is what the bot runs: the same functions, with a smaller batch."""
    assert "from darekana.bot.privacy import forget" in CHILD and "retention.sweep(" in CHILD
    assert retention.BATCH > BATCH and asyncio.iscoroutinefunction(forget)
