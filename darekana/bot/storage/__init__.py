"""Where recognitions, faces, corrections and characters are kept: SQLAlchemy 2 over SQLite (default) or
any database SQLAlchemy speaks (PostgreSQL when several processes share it), schema by Alembic."""

from .database import current_revision, downgrade, open_database, upgrade
from .store import Store

__all__ = ["Store", "open_database", "upgrade", "downgrade", "current_revision"]
