"""Alembic environment: the engine comes from ``darekana.bot.storage.database`` (``darekana db upgrade`` and every
start of ``darekana serve``), or from ``-x url=...`` when alembic's own command line is used."""

from alembic import context
from sqlalchemy import create_engine

from darekana.bot.storage.models import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(context.get_x_argument(as_dictionary=True)["url"])

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
