"""The write stage: one transaction per video, in the process that holds the library.

Whichever distributor ran decoding and embedding, every video reaches the database through here: its old
clips out and its new ones in (with prompt features, thumbnails and frame prints), or its failure recorded.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import first_line
from vsearch.faults import is_disconnect
from vsearch.ingest.assemble import VideoParts
from vsearch.ingest.changes import FileState
from vsearch.ingest.facts import recorded_date
from vsearch.ingest.summary import IngestSummary
from vsearch.media.fingerprint import printed_frames
from vsearch.media.thumbnails import thumbnail_path, write_thumbnail
from vsearch.store import repo
from vsearch.store.models import Clip, Video

if TYPE_CHECKING:
    from vsearch.index.clip_index import ClipIndex
    from vsearch.library import Library

log = logging.getLogger(__name__)


def with_database(library: Library, write, *args) -> None:
    """Run `write`; when the database server went away, wait for it to come back (up to db_retry_seconds)
    and run it again. Decoding pauses meanwhile (its queue fills up); nothing is lost."""
    deadline, delay = None, 0.5
    while True:
        try:
            library.writer.check()  # after a database restart, this process must still hold the library
            write(*args)
        except Exception as exc:
            if not is_disconnect(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + library.settings.db_retry_seconds
                reason = first_line(getattr(exc, "orig", None) or exc)
                log.warning("the database stopped answering (%s); waiting up to %.0f s for it to come back",
                            reason, library.settings.db_retry_seconds)
            if now >= deadline:
                raise
            time.sleep(min(delay, deadline - now))
            delay = min(2 * delay, 5.0)
            continue
        if deadline is not None:
            log.warning("the database is back; going on")
        return


def _apply_file(video: Video, state: FileState, model_id: str | None) -> None:
    video.size, video.mtime_ns, video.content_hash, video.model = state.size, state.mtime_ns, state.content_hash, model_id


def write_video(library: Library, index: ClipIndex, state: FileState, parts: VideoParts) -> None:
    """One transaction per video: its old clips out, its new clips in; then the index follows."""
    started = parts.started
    info = started.info
    model_id = library.settings.model_id
    ordinals = sorted(parts.vectors)
    with library.store.begin() as session:
        video = repo.video_by_path(session, str(state.path)) or Video(path=str(state.path))
        old_ids = repo.delete_clips_of(session, video.id) if video.id else []
        _apply_file(video, state, model_id)
        video.status, video.error = "indexed", None
        video.duration, video.width, video.height, video.fps = started.duration, info.width, info.height, info.fps
        video.codec, video.container, video.rotation = info.codec, info.container, info.rotation
        video.decoder, video.num_clips, video.timing = started.decoder, len(ordinals), started.timing
        video.recorded_at, video.recorded_from = recorded_date(info, state.mtime_ns)
        session.add(video)
        session.flush()
        clips = [
            Clip(
                video_id=video.id,
                ordinal=o,
                start_time=parts.plans[o].start,
                end_time=parts.plans[o].end,
                frame_indices=list(parts.plans[o].frame_indices),
                frame_times=list(parts.plans[o].frame_times),
                model=model_id,
                embedding=np.asarray(parts.vectors[o], dtype=np.float32).tobytes(),
                blank=parts.blank.get(o, False),
            )
            for o in ordinals
        ]
        session.add_all(clips)
        session.flush()
        new_ids = np.array([c.id for c in clips], dtype=np.int64)
        features = np.stack([parts.features[o] for o in ordinals])
        store = library.features(features.shape[1], features.shape[2])
        if store is not None:  # written before the commit: a committed clip always has its features
            store.write(new_ids, features)
        for clip_id, ordinal in zip(new_ids.tolist(), ordinals):
            write_thumbnail(thumbnail_path(library.settings.data_dir, clip_id), parts.thumbnails[ordinal])
        repo.set_prints(session, video.id, *printed_frames(parts.prints), sampled=len(parts.prints))
    library.drop_derived(old_ids)
    index.add(new_ids, np.stack([parts.vectors[o] for o in ordinals]))


def write_failure(library: Library, state: FileState, reason: str, summary: IngestSummary) -> None:
    with library.store.begin() as session:
        video = repo.video_by_path(session, str(state.path)) or Video(path=str(state.path))
        old_ids = repo.delete_clips_of(session, video.id) if video.id else []
        _apply_file(video, state, None)
        video.status, video.error, video.num_clips, video.rotation = "failed", reason, 0, video.rotation or 0
        session.add(video)
    library.drop_derived(old_ids)
    summary.failed.append((str(state.path), reason))
