"""Typed queries over the store. Functions take a Session; callers own the transaction."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.orm import Session

from vsearch.store.models import Clip, LibraryMeta, Video, VideoPrints

MODEL_KEY = "model"
DIM_KEY = "embedding_dim"
LAST_INGEST_KEY = "last_ingest"


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(LibraryMeta, key)
    return row.value if row else None


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(LibraryMeta, key)
    if row is None:
        session.add(LibraryMeta(key=key, value=value))
    else:
        row.value = value


def delete_meta(session: Session, key: str) -> None:
    session.execute(delete(LibraryMeta).where(LibraryMeta.key == key))


def video_by_path(session: Session, path: str) -> Video | None:
    return session.scalar(select(Video).where(Video.path == path))


def indexed_videos_with_hash(session: Session, content_hash: str) -> list[Video]:
    return list(
        session.scalars(select(Video).where(Video.content_hash == content_hash, Video.status == "indexed"))
    )


def videos_under(session: Session, folder: str) -> list[Video]:
    prefix = folder.rstrip("/") + "/"
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.scalars(select(Video).where(Video.path.like(escaped + "%", escape="\\"))))


def video_ids_of(session: Session, paths: Sequence[str]) -> list[int]:
    ids = []
    for start in range(0, len(paths), 500):
        ids += session.scalars(select(Video.id).where(Video.path.in_(list(paths[start : start + 500])))).all()
    return ids


def all_videos(session: Session) -> list[Video]:
    return list(session.scalars(select(Video).order_by(Video.path)))


def videos_lacking_facts(session: Session) -> list[Video]:
    """Indexed videos with no recording date: indexed before the schema had one."""
    return list(session.scalars(select(Video).where(Video.status == "indexed", Video.recorded_at.is_(None))))


def videos_with_clips_from(session: Session, first_id: int) -> list[Video]:
    """Indexed videos that have a clip whose id is `first_id` or more."""
    owners = select(Clip.video_id).where(Clip.id >= first_id).distinct()
    return list(session.scalars(select(Video).where(Video.id.in_(owners), Video.status == "indexed")))


def clip_ids_of(session: Session, video_id: int) -> list[int]:
    return list(session.scalars(select(Clip.id).where(Clip.video_id == video_id)))


def delete_clips_of(session: Session, video_id: int) -> list[int]:
    """Delete a video's clips; returns their ids (to take out of the index)."""
    ids = clip_ids_of(session, video_id)
    if ids:
        session.execute(delete(Clip).where(Clip.video_id == video_id))
    return ids


def delete_video(session: Session, video: Video) -> list[int]:
    ids = delete_clips_of(session, video.id)
    session.execute(delete(Video).where(Video.id == video.id))
    return ids


@dataclass(frozen=True)
class Fingerprint:
    """What the FAISS index must match: the set of clip ids, summarised cheaply."""

    count: int
    max_id: int
    id_sum: int

    def as_list(self) -> list[int]:
        return [self.count, self.max_id, self.id_sum]


def fingerprint(session: Session) -> Fingerprint:
    count, max_id, id_sum = session.execute(
        select(func.count(Clip.id), func.coalesce(func.max(Clip.id), 0), func.coalesce(func.sum(Clip.id), 0))
    ).one()
    return Fingerprint(int(count), int(max_id), int(id_sum))


def iter_embeddings(
    session: Session, chunk: int = 10_000, after: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors) of every clip with an id above `after`, in id order, `chunk` at a time."""
    last = after
    while True:
        rows = session.execute(
            select(Clip.id, Clip.embedding).where(Clip.id > last).order_by(Clip.id).limit(chunk)
        ).all()
        if not rows:
            return
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        yield ids, vectors
        last = int(ids[-1])


def clip_vectors(session: Session, ids: Sequence[int]) -> dict[int, np.ndarray]:
    """The stored embeddings of the clips among `ids` that still exist (no ORM objects: cheap for many)."""
    if not ids:
        return {}
    rows = session.execute(select(Clip.id, Clip.embedding).where(Clip.id.in_([int(i) for i in ids]))).all()
    return {int(clip_id): np.frombuffer(embedding, dtype=np.float32) for clip_id, embedding in rows}


def blank_clips(session: Session, ids: Sequence[int]) -> set[int]:
    """The blank clips among `ids`."""
    if not ids:
        return set()
    rows = session.execute(select(Clip.id).where(Clip.id.in_([int(i) for i in ids]), Clip.blank.is_(True))).all()
    return {int(row[0]) for row in rows}


def clips_with_videos(session: Session, ids: Sequence[int]) -> dict[int, tuple[Clip, Video]]:
    if not ids:
        return {}
    rows = session.execute(select(Clip, Video).join(Video).where(Clip.id.in_([int(i) for i in ids]))).all()
    return {clip.id: (clip, video) for clip, video in rows}


def clip_spans(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int, float, float]]:
    """(video id, ordinal, start, end) of the clips among `ids` that exist."""
    if not ids:
        return {}
    rows = session.execute(
        select(Clip.id, Clip.video_id, Clip.ordinal, Clip.start_time, Clip.end_time)
        .where(Clip.id.in_([int(i) for i in ids]))
    ).all()
    return {int(row[0]): (int(row[1]), int(row[2]), float(row[3]), float(row[4])) for row in rows}


def clips_in_range(session: Session, video_id: int, first: int, last: int) -> list[tuple]:
    """(id, ordinal, start, end, embedding) of a video's clips with ordinals first..last."""
    rows = session.execute(
        select(Clip.id, Clip.ordinal, Clip.start_time, Clip.end_time, Clip.embedding)
        .where(Clip.video_id == video_id, Clip.ordinal >= first, Clip.ordinal <= last)
        .order_by(Clip.ordinal)
    ).all()
    return [(int(r[0]), int(r[1]), float(r[2]), float(r[3]), r[4]) for r in rows]


def clips_at(session: Session, positions: Sequence[tuple[int, int]], chunk: int = 500) -> list[tuple]:
    """(id, video id, ordinal, start, end, embedding) of the clips at (video id, ordinal) `positions`."""
    rows = []
    for first in range(0, len(positions), chunk):
        wanted = [(int(v), int(o)) for v, o in positions[first : first + chunk]]
        rows += session.execute(
            select(Clip.id, Clip.video_id, Clip.ordinal, Clip.start_time, Clip.end_time, Clip.embedding)
            .where(tuple_(Clip.video_id, Clip.ordinal).in_(wanted))
        ).all()
    return [(int(r[0]), int(r[1]), int(r[2]), float(r[3]), float(r[4]), r[5]) for r in rows]


def iter_clips(session: Session, chunk: int = 1000) -> Iterator[tuple[Clip, Video]]:
    """Every clip with its video, ordered by video path then clip ordinal, streamed."""
    for video in session.scalars(select(Video).where(Video.status == "indexed").order_by(Video.path)).all():
        for clip in session.scalars(select(Clip).where(Clip.video_id == video.id).order_by(Clip.ordinal)):
            yield clip, video


@dataclass(frozen=True)
class LibraryCounts:
    indexed: int
    failed: int
    clips: int


def counts(session: Session) -> LibraryCounts:
    by_status = dict(session.execute(select(Video.status, func.count()).group_by(Video.status)).all())
    clips = session.scalar(select(func.count(Clip.id))) or 0
    return LibraryCounts(int(by_status.get("indexed", 0)), int(by_status.get("failed", 0)), int(clips))


def failed_videos(session: Session) -> list[Video]:
    return list(session.scalars(select(Video).where(Video.status == "failed").order_by(Video.path)))


def indexed_video(session: Session, video_id: int) -> Video | None:
    """The video, when it is indexed (a failed file has no clips to show)."""
    video = session.get(Video, video_id)
    return video if video is not None and video.status == "indexed" else None


def videos_by_id(session: Session, ids: Sequence[int]) -> list[Video]:
    if not ids:
        return []
    return list(session.scalars(select(Video).where(Video.id.in_([int(i) for i in ids]))))


def clip_with_video(session: Session, clip_id: int) -> tuple[Clip, Video] | None:
    row = session.execute(select(Clip, Video).join(Video).where(Clip.id == clip_id)).first()
    return (row[0], row[1]) if row is not None else None


def video_formats(session: Session, video_ids: Sequence[int]) -> dict[int, tuple[str | None, str | None]]:
    """(container, codec) of each video among `video_ids`."""
    if not video_ids:
        return {}
    rows = session.execute(
        select(Video.id, Video.container, Video.codec).where(Video.id.in_([int(i) for i in video_ids]))
    ).all()
    return {int(video_id): (container, codec) for video_id, container, codec in rows}


def set_prints(session: Session, video_id: int, times: np.ndarray, prints: np.ndarray, sampled: int) -> None:
    """Keep a video's frame fingerprints (vsearch.media.fingerprint), replacing any it had."""
    row = session.get(VideoPrints, video_id) or VideoPrints(video_id=video_id)
    row.sampled = int(sampled)
    row.times = np.asarray(times, dtype=np.float32).tobytes()
    row.prints = np.asarray(prints, dtype=np.int8).tobytes()
    session.add(row)


def all_prints(session: Session) -> list[VideoPrints]:
    """Every indexed video's fingerprints."""
    query = select(VideoPrints).join(Video, Video.id == VideoPrints.video_id).where(Video.status == "indexed")
    return list(session.scalars(query.order_by(VideoPrints.video_id)))


def videos_lacking_prints(session: Session) -> list[Video]:
    """Indexed videos with no frame fingerprints: indexed before the library kept them."""
    query = select(Video).outerjoin(VideoPrints, VideoPrints.video_id == Video.id).where(
        Video.status == "indexed", VideoPrints.video_id.is_(None))
    return list(session.scalars(query.order_by(Video.path)))
