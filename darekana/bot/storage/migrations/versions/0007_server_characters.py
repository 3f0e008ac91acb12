"""Server characters: characters of one server only, enrolled by its moderators, and their face crops.

* ``server_characters``: the server (platform, guild id), the character's label and display name, who
  enrolled it and when; one per label and server;
* ``server_character_crops``: their PNG crops, kept as long as the character (the retention sweep reads
  ``faces`` only): a bundle with another network embeds them again.

Two new tables, dropped again on downgrade; nothing else changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_characters",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("guild_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("enrolled_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("platform", "guild_id", "label", name="uq_server_character"),
    )
    op.create_index("ix_server_characters_guild_id", "server_characters", ["guild_id"])
    op.create_table(
        "server_character_crops",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "character_id",
            sa.Integer,
            sa.ForeignKey("server_characters.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("crop_png", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_server_character_crops_character_id", "server_character_crops", ["character_id"])


def downgrade() -> None:
    op.drop_table("server_character_crops")
    op.drop_table("server_characters")
