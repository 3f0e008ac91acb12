"""Characters a correction brought are the proposer's until a moderator accepts one of its corrections.

``characters.proposed_by`` is ``<platform>:<user id>`` of the person whose correction first named the
character; NULL for the bundle's characters and for accepted ones. Only its proposer's typed names match a
proposed character, so one stranger's words cannot change how anyone else's are read.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("characters") as batch:
        batch.add_column(sa.Column("proposed_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("characters") as batch:
        batch.drop_column("proposed_by")
