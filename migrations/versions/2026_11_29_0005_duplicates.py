"""Frame fingerprints of each video and the footage videos share (copies, shared stretches).
Videos indexed before get their fingerprints from `vsearch db upgrade` or the next ingest of their folders.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_prints",
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("sampled", sa.Integer(), nullable=False),
        sa.Column("times", sa.LargeBinary(), nullable=False),
        sa.Column("prints", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "duplicate_spans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_a", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("video_b", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("a_start", sa.Float(), nullable=False),
        sa.Column("a_end", sa.Float(), nullable=False),
        sa.Column("b_start", sa.Float(), nullable=False),
        sa.Column("b_end", sa.Float(), nullable=False),
        sa.Column("time_offset", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("coverage", sa.Float(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
    )
    op.create_index("ix_duplicate_spans_video_a", "duplicate_spans", ["video_a"])
    op.create_index("ix_duplicate_spans_video_b", "duplicate_spans", ["video_b"])


def downgrade() -> None:
    op.drop_table("duplicate_spans")
    op.drop_table("video_prints")
