"""The bot's own posts (answers) and pollers' cursors, for X.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(64), index=True),
        sa.Column("recognition_id", sa.Integer, sa.ForeignKey("recognitions.id", ondelete="SET NULL")),
        sa.Column("created_at", TIME, nullable=False),
        sa.UniqueConstraint("platform", "request_id", name="uq_answers_request"),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    op.drop_table("answers")
