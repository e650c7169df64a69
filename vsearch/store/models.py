"""ORM models. The schema is created and changed only by the alembic migrations in migrations/."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class LibraryMeta(Base):
    """Facts about the library as a whole: which model built it, the embedding size."""

    __tablename__ = "library_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    # sha256 of the size and sampled blocks of the content (see ingest.content_hash)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # "indexed" or "failed"
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    codec: Mapped[str | None] = mapped_column(String(64))
    container: Mapped[str | None] = mapped_column(String(64))
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    decoder: Mapped[str | None] = mapped_column(String(32))
    # None: frames timed by their timestamps; else how and why otherwise, e.g. "frame order at 25 fps (all
    # timestamps equal)" (vsearch.media.decode.frame_timing)
    timing: Mapped[str | None] = mapped_column(Text)
    num_clips: Mapped[int] = mapped_column(Integer, default=0)
    # when it was recorded: the container's creation_time when it states one, else the file's mtime;
    # recorded_from says which ("container" or "file")
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    recorded_from: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    clips: Mapped[list["Clip"]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True, order_by="Clip.ordinal"
    )


class Clip(Base):
    __tablename__ = "clips"
    # never reuse a deleted id: ids are the FAISS index's ids
    __table_args__ = (Index("ix_clips_video_ordinal", "video_id", "ordinal"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[float] = mapped_column(Float)
    end_time: Mapped[float] = mapped_column(Float)
    frame_indices: Mapped[list[int]] = mapped_column(JSON)
    frame_times: Mapped[list[float]] = mapped_column(JSON)
    model: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
    blank: Mapped[bool] = mapped_column(Boolean, default=False)  # frames with almost no content (media.blank)

    video: Mapped[Video] = relationship(back_populates="clips")

    def vector(self) -> np.ndarray:
        return np.frombuffer(self.embedding, dtype=np.float32)


class VideoPrints(Base):
    """The fingerprints of a video's sampled frames (vsearch.media.fingerprint), for finding its copies."""

    __tablename__ = "video_prints"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    sampled: Mapped[int] = mapped_column(Integer)  # frames sampled, flat ones included
    times: Mapped[bytes] = mapped_column(LargeBinary)  # float32 seconds of the frames with a print
    prints: Mapped[bytes] = mapped_column(LargeBinary)  # int8, (len(times), PRINT_DIM)


class DuplicateSpan(Base):
    """Footage two videos share: a run of frames of `video_a` matched, in order, in `video_b` (a < b).
    `kind` "copy": one video is (most of) the other; "shared": a stretch only (an opening, a shot)."""

    __tablename__ = "duplicate_spans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_a: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    video_b: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    a_start: Mapped[float] = mapped_column(Float)
    a_end: Mapped[float] = mapped_column(Float)
    b_start: Mapped[float] = mapped_column(Float)
    b_end: Mapped[float] = mapped_column(Float)
    time_offset: Mapped[float] = mapped_column(Float)  # median time in b less time in a of the matched frames
    frames: Mapped[int] = mapped_column(Integer)  # matched frames
    coverage: Mapped[float] = mapped_column(Float)  # the larger share of either video's printed footage the run spans
    similarity: Mapped[float] = mapped_column(Float)  # mean print cosine of the matched frames
