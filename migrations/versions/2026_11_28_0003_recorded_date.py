"""An index of each video's clips by ordinal (moments grow along it), and when each video was recorded (the container's creation_time, else the file's mtime), for date filters and
sort. Existing rows stay NULL here: the next ingest, or `vsearch db upgrade`, probes their files and fills them
in without embedding anything again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("recorded_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("recorded_from", sa.String(16)))
        batch.create_index("ix_videos_recorded_at", ["recorded_at"])
    # moments grow clip by clip along a video: its clips by ordinal
    op.create_index("ix_clips_video_ordinal", "clips", ["video_id", "ordinal"])


def downgrade() -> None:
    op.drop_index("ix_clips_video_ordinal", "clips")
    op.drop_index("ix_videos_recorded_at", "videos")
    # ALTER TABLE ... DROP COLUMN, not a batch copy: SQLite would drop the old videos table, and with foreign
    # keys on, every clip with it
    op.drop_column("videos", "recorded_from")
    op.drop_column("videos", "recorded_at")
