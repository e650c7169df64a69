"""Initial schema: library facts, videos, clips with their embeddings.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False, unique=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("model", sa.Text()),
        sa.Column("duration", sa.Float()),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("fps", sa.Float()),
        sa.Column("codec", sa.String(64)),
        sa.Column("container", sa.String(64)),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("decoder", sa.String(32)),
        sa.Column("num_clips", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_videos_content_hash", "videos", ["content_hash"])
    op.create_index("ix_videos_status", "videos", ["status"])
    op.create_table(
        "clips",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("end_time", sa.Float(), nullable=False),
        sa.Column("frame_indices", sa.JSON(), nullable=False),
        sa.Column("frame_times", sa.JSON(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_clips_video_id", "clips", ["video_id"])


def downgrade() -> None:
    op.drop_index("ix_clips_video_id", table_name="clips")
    op.drop_table("clips")
    op.drop_index("ix_videos_status", table_name="videos")
    op.drop_index("ix_videos_content_hash", table_name="videos")
    op.drop_table("videos")
    op.drop_table("library_meta")
