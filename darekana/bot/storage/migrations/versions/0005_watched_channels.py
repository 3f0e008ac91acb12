"""Channels in watch mode: the bot answers "who is she?" there without a mention (``/darekana watch on``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watched_channels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("guild_id", sa.String(64), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("enabled_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("platform", "channel_id", name="uq_watched_channel"),
    )
    op.create_index("ix_watched_channels_guild_id", "watched_channels", ["guild_id"])


def downgrade() -> None:
    op.drop_index("ix_watched_channels_guild_id", table_name="watched_channels")
    op.drop_table("watched_channels")
