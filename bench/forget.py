"""Forget benchmark: how long ``/darekana forget`` (``darekana.bot.privacy.forget``) takes to delete one
person's data, on SQLite and, when reachable, on PostgreSQL.

    python -m bench.forget [--pictures 2000] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

A fresh database is filled with one person's data: ``--pictures`` recognitions of two faces each, whose
crops are real animeface-10 face crops (47 KB on average), someone else's correction on each of those
pictures, and the person's own correction on each of someone else's pictures (one face each, also kept):
with the default 2,000, 10,000 rows of the person's to delete (2,000 + 4,000 + 2,000 + 2,000), among 14,000.
The forget runs as the bot runs it, in bounded batches off the event loop. Prints one JSON line: the
machine, the rows deleted, and the seconds on each database (null for PostgreSQL when it cannot be reached).
``seed`` is also what ``tests/bot/test_privacy_durability.py`` fills its databases with.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bench.common import machine
from darekana.bot.privacy import forget
from darekana.bot.storage import Store, open_database, upgrade
from darekana.bot.storage.models import CorrectionRow, FaceRow, RecognitionRow
from darekana.train.shared import DATASETS

PERSON = ("discord", "4242")  # the person who asks to be forgotten
OTHER = ("discord", "7777")  # everyone else, as one person
POSTGRES = os.environ.get("DAREKANA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CHUNK = 500  # rows per INSERT


def real_crops(count: int = 64) -> list[bytes]:
    """The bytes of ``count`` real face crops (PNG) of animeface-10."""
    return [path.read_bytes() for path in sorted((DATASETS / "animeface-10").glob("*/face_*.png"))[:count]]


def seed(engine: Engine, pictures: int, crops: Sequence[bytes], now: datetime | None = None) -> dict[str, int]:
    """Fills a migrated database: ``pictures`` recognitions of :data:`PERSON` with two faces each and a
    correction by :data:`OTHER` on the first, and ``pictures`` recognitions of OTHER with one face each,
    corrected by PERSON. Returns the rows of each: what a forget of PERSON deletes, and what it keeps."""
    now = now or datetime.now(UTC)
    cycle = itertools.cycle(crops)
    mine = _recognitions(engine, PERSON, pictures, now)
    theirs = _recognitions(engine, OTHER, pictures, now)
    my_faces = _faces(engine, [(r, n) for r in mine for n in (1, 2)], cycle, now)
    their_faces = _faces(engine, [(r, 1) for r in theirs], cycle, now)
    _corrections(engine, my_faces[::2], OTHER, now)  # on the first face of each of PERSON's pictures
    _corrections(engine, their_faces, PERSON, now)
    return {
        "person": len(mine) + len(my_faces) + pictures + pictures,
        "others": len(theirs) + len(their_faces),
    }


def _recognitions(engine: Engine, who: tuple[str, str], count: int, now: datetime) -> list[int]:
    rows = [
        {
            "platform": who[0],
            "user_id": who[1],
            "guild_id": "1",
            "channel_id": "2",
            "picture_sha256": uuid.uuid4().hex * 2,
            "bundle_version": "bench@1",
            "width": 512,
            "height": 512,
            "faces_detected": 2,
            "created_at": now,
            "nsfw": False,
        }
        for _ in range(count)
    ]
    return _insert(engine, RecognitionRow, rows)


def _faces(engine: Engine, owners: list[tuple[int, int]], crops: Iterator[bytes], now: datetime) -> list[int]:
    candidates = [{"label": "000_hatsune_miku", "name": "Hatsune Miku", "probability": 0.9}]
    rows = [
        {
            "recognition_id": recognition,
            "number": number,
            "x": 10,
            "y": 10,
            "w": 100,
            "h": 100,
            "whole_picture": False,
            "crop_png": next(crops),
            "label": "000_hatsune_miku",
            "name": "Hatsune Miku",
            "confidence": 0.9,
            "verdict": "confident",
            "model": "primary",
            "distance": 0.5,
            "candidates": candidates,
        }
        for recognition, number in owners
    ]
    return _insert(engine, FaceRow, rows)


def _corrections(engine: Engine, faces: list[int], who: tuple[str, str], now: datetime) -> list[int]:
    rows = [
        {
            "face_id": face,
            "kind": "correction",
            "label": "001_kinomoto_sakura",
            "name": "Kinomoto Sakura",
            "platform": who[0],
            "user_id": who[1],
            "created_at": now,
            "status": "pending",
        }
        for face in faces
    ]
    return _insert(engine, CorrectionRow, rows)


def _insert(engine: Engine, model: type[Any], rows: list[dict[str, Any]]) -> list[int]:
    """Inserts ``rows`` in chunks; their ids, in order."""
    ids: list[int] = []
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            ids += connection.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), chunk).all()
    return ids


def count(engine: Engine) -> int:
    """Recognitions, faces and corrections in all."""
    with engine.connect() as connection:
        return sum(
            connection.scalar(select(func.count()).select_from(model)) or 0
            for model in (RecognitionRow, FaceRow, CorrectionRow)
        )


def timed_forget(url: str, pictures: int, crops: Sequence[bytes]) -> tuple[int, float]:
    """Seeds a fresh database at ``url`` and forgets PERSON; the rows deleted and the seconds it took."""
    engine = open_database(url)
    try:
        upgrade(engine)
        seeded = seed(engine, pictures, crops)
        before = count(engine)
        started = time.perf_counter()
        forgotten = asyncio.run(forget(Store(engine), *PERSON))
        seconds = time.perf_counter() - started
        deleted = before - count(engine)
        assert deleted == seeded["person"] == forgotten.rows, (deleted, seeded, forgotten)
        return deleted, seconds
    finally:
        engine.dispose()


def on_postgres(admin_url: str, pictures: int, crops: Sequence[bytes]) -> tuple[int, float] | None:
    """:func:`timed_forget` on a database made for it on the PostgreSQL server of ``admin_url`` (dropped
    after); None when that server cannot be reached."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"darekana_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        admin.dispose()
        return None
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        return timed_forget(url, pictures, crops)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pictures", type=int, default=2000, help="the person's pictures (5 rows of theirs each)")
    p.add_argument("--postgres", default=POSTGRES, help="a PostgreSQL server where a database may be made")
    args = p.parse_args()
    crops = real_crops()
    with TemporaryDirectory(prefix="darekana-bench-forget-") as folder:
        rows, sqlite_s = timed_forget(f"sqlite:///{Path(folder) / 'forget.sqlite3'}", args.pictures, crops)
    postgres = on_postgres(args.postgres, args.pictures, crops)
    figures = {
        "benchmark": "forget",
        "machine": machine(),
        "rows": rows,
        "crop_kb": round(sum(map(len, crops)) / len(crops) / 1024, 1),
        "sqlite_s": round(sqlite_s, 3),
        "postgresql_s": None if postgres is None else round(postgres[1], 3),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
