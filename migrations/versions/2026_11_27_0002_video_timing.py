"""How a video's frames were timed: NULL when by their timestamps, else how and why otherwise
(e.g. "frame order at 25 fps (all timestamps equal)"), for `vsearch status`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("timing", sa.Text()))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN, not a batch copy: SQLite would drop the old videos table, and with foreign
    # keys on, every clip with it
    op.drop_column("videos", "timing")
