"""Fixtures of the tests: real face crops, databases (SQLite and the machine's PostgreSQL), services on the
test bundle (``trained_bundle``, from the project's root ``conftest.py``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from darekana.recognizer.images import load_image
from darekana.train.shared import DATASETS

if TYPE_CHECKING:
    from darekana.bot.service import Service


@pytest.fixture
def real_crops() -> list[Image.Image]:
    """12 real RGB face crops from animeface-10: the first two ``face_*.png`` of the first two characters,
    the first one of each other character."""
    folders = sorted(p for p in (DATASETS / "animeface-10").iterdir() if p.is_dir())
    paths = [
        path for i, folder in enumerate(folders) for path in sorted(folder.glob("face_*.png"))[: 2 if i < 2 else 1]
    ]
    assert len(paths) == 12, f"expected 12 crops from {DATASETS / 'animeface-10'}, found {len(paths)}"
    return [load_image(path) for path in paths]


# --- the bot's storage and service -------------------------------------------------------------------

# These machines run PostgreSQL on 127.0.0.1:5432 with trust authentication; each test gets a fresh
# database there, dropped afterwards.
POSTGRES_ADMIN_URL = os.environ.get("DAREKANA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"darekana_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed at {POSTGRES_ADMIN_URL} (set DAREKANA_TEST_POSTGRES): {exc}")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'darekana.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_service(trained_bundle: Path, tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Builds services on the test bundle: ``make_service(database_url=None, **settings)``; the database is
    migrated first, a SQLite file in ``tmp_path`` unless a URL is given."""
    from darekana.bot.service import Service
    from darekana.bot.settings import Settings
    from darekana.bot.storage import Store, open_database, upgrade
    from darekana.recognizer.engine import Recognizer

    made: list[Service] = []

    def make(database_url: str | None = None, **settings: object) -> Service:
        url = database_url or f"sqlite:///{tmp_path / 'service.sqlite3'}"
        engine = open_database(url)
        upgrade(engine)
        service = Service(
            Recognizer(trained_bundle), Store(engine), Settings(bundle=trained_bundle, database_url=url, **settings)
        )
        made.append(service)
        return service

    yield make
    for service in made:
        service.close()


@pytest.fixture(scope="session")
def known_picture(trained_bundle: Path, held_back: list[Path]) -> tuple[bytes, str]:
    """A held-back face picture (bytes) in which the detector finds one face that the test bundle names
    correctly and with confidence, and that label. Tests of the bot check names against it. (How many faces a
    three-epoch bundle names with confidence varies from one training to the next: one confidently wrong
    validation face can lift the threshold to 0.99.)"""
    from darekana.recognizer.engine import Recognizer

    recognizer = Recognizer(trained_bundle)
    for path in held_back:
        faces = recognizer.recognize(path.read_bytes()).faces
        if (
            len(faces) == 1
            and not faces[0].whole_picture
            and faces[0].label == path.parent.name
            and faces[0].verdict == "confident"
        ):
            return path.read_bytes(), path.parent.name
    pytest.fail("the test bundle names no held-back face correctly with confidence")
