"""Privacy: NSFW marks, delete tokens, crop retention, when corrections were used, servers the bot left.

* ``recognitions.nsfw``: asked in an age-restricted channel (existing rows: no);
* ``recognitions.delete_token_sha256``: the hash of the token an HTTP answer carried, which deletes it;
* ``faces.crop_deleted_at``: when the sweep blanked the crop (``crop_png`` becomes ``b""``); NULL while kept;
* ``corrections.used_at``: when an operator's export or an enrolment used it;
* ``guild_removals``: servers the bot left, purged after the grace period unless it is back;
* indexes for forgetting a person (recognitions and corrections by platform and user), purging a server and
  finding what is past retention.

Only columns are added (``ALTER TABLE ... ADD COLUMN`` on both databases) and dropped again on downgrade
(SQLite 3.35+ drops a column in place): no table is rebuilt, so no foreign-key cascade can fire on SQLite.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("recognitions", sa.Column("nsfw", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("recognitions", sa.Column("delete_token_sha256", sa.String(64), nullable=True))
    op.add_column("faces", sa.Column("crop_deleted_at", TIME, nullable=True))
    op.add_column("corrections", sa.Column("used_at", TIME, nullable=True))
    op.create_index("ix_recognitions_created_at", "recognitions", ["created_at"])
    op.create_index("ix_recognitions_user", "recognitions", ["platform", "user_id"])
    op.create_index("ix_recognitions_guild", "recognitions", ["platform", "guild_id"])
    op.create_index("ix_faces_crop_deleted_at", "faces", ["crop_deleted_at"])
    op.create_index("ix_corrections_user", "corrections", ["platform", "user_id"])
    op.create_table(
        "guild_removals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("guild_id", sa.String(64), nullable=False),
        sa.Column("removed_at", TIME, nullable=False),
        sa.UniqueConstraint("platform", "guild_id", name="uq_guild_removal"),
    )


def downgrade() -> None:
    op.drop_table("guild_removals")
    op.drop_index("ix_corrections_user", table_name="corrections")
    op.drop_index("ix_faces_crop_deleted_at", table_name="faces")
    op.drop_index("ix_recognitions_guild", table_name="recognitions")
    op.drop_index("ix_recognitions_user", table_name="recognitions")
    op.drop_index("ix_recognitions_created_at", table_name="recognitions")
    op.drop_column("corrections", "used_at")
    op.drop_column("faces", "crop_deleted_at")
    op.drop_column("recognitions", "delete_token_sha256")
    op.drop_column("recognitions", "nsfw")
