"""Blank clips (frames with almost no content: black, white, a single-colour card), flagged at ingest.
Existing clips stay unflagged (false) until their videos are embedded again (`ingest --reembed`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clips", sa.Column("blank", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, not a batch copy (see 0003)
    op.drop_column("clips", "blank")
