"""Faces record their distance to the answer's class centre instead of a cosine similarity.

Bundle format 3 judges faces by a distance (``darekana.recognizer.centres``). For the bundles that answered the rows
already stored (formats 1 and 2), that distance is the Euclidean distance between unit vectors, so the old
similarity converts exactly: ``distance = sqrt(2 - 2 * similarity)``. Downgrading converts back the same way.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import math

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.alter_column("similarity", new_column_name="distance", existing_type=sa.Float, existing_nullable=False)
    _convert(lambda similarity: math.sqrt(max(0.0, 2 - 2 * similarity)))


def downgrade() -> None:
    _convert(lambda distance: 1 - distance * distance / 2)
    with op.batch_alter_table("faces") as batch:
        batch.alter_column("distance", new_column_name="similarity", existing_type=sa.Float, existing_nullable=False)


def _convert(function) -> None:  # noqa: ANN001
    """In Python, not SQL: SQLite builds without math functions have no sqrt."""
    faces = sa.table("faces", sa.column("id", sa.Integer), sa.column("distance", sa.Float))
    bind = op.get_bind()
    rows = bind.execute(sa.select(faces.c.id, faces.c.distance)).all()
    if rows:
        bind.execute(
            faces.update().where(faces.c.id == sa.bindparam("face_id")).values(distance=sa.bindparam("value")),
            [{"face_id": row.id, "value": function(row.distance)} for row in rows],
        )
