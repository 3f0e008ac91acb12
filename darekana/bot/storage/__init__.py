"""Where recognitions, faces, corrections and characters are kept: SQLAlchemy 2 over SQLite (default) or
any database SQLAlchemy speaks (PostgreSQL when several processes share it), schema by Alembic. The
:class:`Store` reads and writes :mod:`darekana.bot.records`; its tables stay in here, and so does every
import of this package: the core's, never a platform adapter's."""

from .database import current_revision, downgrade, head_revision, open_database, upgrade
from .store import Store

__all__ = ["Store", "open_database", "upgrade", "downgrade", "current_revision", "head_revision"]
