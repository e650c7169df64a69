"""The ingest runner: wires discovery, decode workers, batched embedding and the store together."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.duplicates.backfill import fill_missing_prints
from vsearch.duplicates.finder import refresh
from vsearch.faults import is_disconnect
from vsearch.ingest.changes import FileState, find_changes, sweep
from vsearch.ingest.facts import fill_missing_facts, recorded_date
from vsearch.ingest.summary import IngestSummary
from vsearch.ingest.workers import DecodeBudget, DecodePool
from vsearch.media.blank import is_blank
from vsearch.media.clips import ClipChunk, ClipJob, VideoDone, VideoFailed, VideoReset, VideoStarted
from vsearch.media.fingerprint import PRINT_DIM, thin
from vsearch.media.sample import ClipPlan
from vsearch.media.thumbnails import thumbnail_path, write_thumbnail
from vsearch.model.preprocess import normalize
from vsearch.store import repo
from vsearch.store.models import Clip, Video

if TYPE_CHECKING:
    from vsearch.index.clip_index import ClipIndex
    from vsearch.library import Library

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A video whose clips are on their way through the model."""

    state: FileState
    started: VideoStarted | None = None
    done: bool = False
    plans: dict[int, ClipPlan] = field(default_factory=dict)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    features: dict[int, np.ndarray] = field(default_factory=dict)
    thumbnails: dict[int, bytes] = field(default_factory=dict)
    blank: dict[int, bool] = field(default_factory=dict)
    prints: dict[float, np.ndarray | None] = field(default_factory=dict)  # by frame time; None: a flat frame

    @property
    def complete(self) -> bool:
        return self.done and self.started is not None and len(self.vectors) == self.started.num_clips


def ingest(library: Library, paths: Iterable[Path], *, reembed: bool = False, progress=None, wait: bool = True,
           on_wait=None) -> IngestSummary:
    """Index every video under `paths`; returns what was done. Ctrl-C (or SIGTERM) keeps what was written.

    `progress`, if given, has start(total_files), update(summary) after each file, and close().
    `reembed` first forgets every clip, so a library can move to another model.
    One process writes a library at a time (vsearch.store.writer): with another ingest running, this one
    waits for it (`on_wait(holder)` is told once), or raises LibraryBusyError when `wait` is false.
    """
    with library.writing("ingest", wait=wait, on_wait=on_wait):
        return _ingest(library, [Path(p).expanduser().absolute() for p in paths], reembed, progress)


def _ingest(library: Library, paths: list[Path], reembed: bool, progress) -> IngestSummary:
    settings = library.settings
    summary = IngestSummary()
    began = time.perf_counter()
    if reembed:
        library.forget_everything()
    library.check_model()
    model_id = settings.model_id
    changes = find_changes(library.store, paths, model_id)
    _mend_features(library, changes)
    fill_missing_facts(library.store, changes.unchanged)  # videos indexed before the library recorded them
    fill_missing_prints(library.store, settings.duplicate_threshold, changes.unchanged)  # ... or printed them
    summary.unchanged = len(changes.unchanged)
    for path, size, mtime, reason in changes.unreadable:
        _write_failure(library, FileState(path, size, mtime, ""), reason, summary)
    if changes.to_embed:
        library.model  # load before the progress bar starts: a load error is then one clean line
    if progress:
        progress.start(len(changes.to_embed))
    try:
        if changes.to_embed:
            _embed_files(library, changes.to_embed, summary, progress)
        if not summary.interrupted:
            with library.store.begin() as session:
                summary.removed, clip_ids = sweep(session, paths, changes.seen)
            library.drop_derived(clip_ids)
            _refresh_duplicates(library, summary)
    finally:
        summary.seconds = time.perf_counter() - began
        if progress:
            progress.close()
        _finish(library, summary)
    return summary


def _refresh_duplicates(library: Library, summary: IngestSummary) -> None:
    """The copies and shared footage of the videos this run indexed or lost (the others' stay as stored)."""
    paths = summary.indexed + [path for path, _ in summary.failed]
    if not paths:
        return
    started = time.perf_counter()
    with library.store.session() as session:
        ids = repo.video_ids_of(session, paths)
    refresh(library.store, ids, library.settings.duplicate_threshold)
    summary.timings["duplicates"] += time.perf_counter() - started


def _mend_features(library: Library, changes) -> None:
    """Unchanged videos whose prompt features were lost (a truncated or deleted feature file) are embedded
    again, so exact ranking covers the whole library once more."""
    lacking = {video.path: video for video in library.videos_lacking_features()}
    if not lacking:
        return
    unchanged, mend = [], []
    for path in changes.unchanged:
        video = lacking.get(str(path))
        if video is None:
            unchanged.append(path)
        else:
            mend.append(FileState(path, video.size, video.mtime_ns, video.content_hash))
    # first: their new clips come before any others, so a run stopped midway leaves no gap behind a longer file
    changes.to_embed[:0] = mend
    if len(unchanged) < len(changes.unchanged):
        log.warning("%d video(s) lost their prompt features (the feature file was cut short or deleted): "
                    "embedding them again", len(changes.unchanged) - len(unchanged))
    changes.unchanged = unchanged


def _finish(library: Library, summary: IngestSummary) -> None:
    """Save the index and the run's counts. When the run is ending on an error (a full disk, a database
    gone), these may fail too: that is logged, and the first error is the one reported. The database
    stays the truth; an index left behind is rebuilt from it by the next run."""
    failing = sys.exc_info()[1] is not None
    for step in (library.save_index, lambda: _record_run(library, summary)):
        try:
            step()
        except Exception as exc:  # noqa: BLE001
            if not failing:
                raise
            log.warning("while stopping: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)


def _record_run(library: Library, summary: IngestSummary) -> None:
    """Keep the last run's counts, for `vsearch status`."""
    record = summary.as_json()
    record = {key: len(value) if isinstance(value, list) else value for key, value in record.items()}
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with library.store.begin() as session:
        repo.set_meta(session, repo.LAST_INGEST_KEY, json.dumps(record))


def _embed_files(library: Library, files: list[FileState], summary: IngestSummary, progress) -> None:
    settings = library.settings
    model = library.model
    if library.built_with[0] is None:
        library.record_model(settings.model_id, model.embed_dim)
    index = library.index(model.embed_dim)
    job = ClipJob(model.spec, model.num_frames, settings.clip_seconds, settings.stride_seconds,
                  decode_edge=model.spec.prescale_edge() if settings.decoder_prescale else None)
    pending = {task: _Pending(state) for task, state in enumerate(files)}
    buffer: list[tuple[int, ClipPlan, np.ndarray]] = []
    timings = summary.timings

    def embed(count: int) -> None:
        batch, buffer[:] = buffer[:count], buffer[count:]
        started = time.perf_counter()
        pixels = normalize(np.stack([frames for _, _, frames in batch]), model.spec)
        timings["preprocess"] += time.perf_counter() - started
        started = time.perf_counter()
        embedded = model.embed_clips(pixels)
        timings["embed"] += time.perf_counter() - started
        for (task, plan, _), vector, features in zip(batch, embedded.vectors, embedded.prompt_features):
            if task in pending:
                pending[task].vectors[plan.ordinal] = vector
                pending[task].features[plan.ordinal] = features
        for task in {task for task, _, _ in batch}:
            finish(task)

    def finish(task: int) -> None:
        item = pending.get(task)
        if item is None or not item.complete:
            return
        del pending[task]
        started = time.perf_counter()
        _with_database(library, _write_video, library, index, item)
        timings["write"] += time.perf_counter() - started
        summary.indexed.append(str(item.state.path))
        summary.clips += len(item.vectors)
        if progress:
            progress.update(summary)

    budget = DecodeBudget(settings.decode_budget_seconds, settings.decode_budget_per_video_second)
    pool = DecodePool(job, settings.workers, nice=settings.decode_nice, budget=budget)
    messages = pool.run([(task, item.state.path) for task, item in pending.items()])
    try:
        for message in messages:
            if isinstance(message, ClipChunk):
                timings["decode"] += message.decode_s
                timings["preprocess"] += message.preprocess_s
                buffer.extend((message.task, plan, frames) for plan, frames in zip(message.plans, message.frames))
                pending[message.task].plans.update((p.ordinal, p) for p in message.plans)
                pending[message.task].thumbnails.update((p.ordinal, t) for p, t in zip(message.plans, message.thumbnails))
                pending[message.task].blank.update((p.ordinal, is_blank(f)) for p, f in zip(message.plans, message.frames))
                pending[message.task].prints.update(message.prints)
                while len(buffer) >= settings.batch_size:
                    embed(settings.batch_size)
            elif isinstance(message, VideoStarted):
                pending[message.task].started = message
            elif isinstance(message, VideoDone):
                pending[message.task].done = True
                finish(message.task)
            elif isinstance(message, VideoReset) and message.task in pending:
                pending[message.task].plans.clear()
                pending[message.task].vectors.clear()
                pending[message.task].features.clear()
                pending[message.task].thumbnails.clear()
                pending[message.task].blank.clear()
                pending[message.task].prints.clear()
                buffer[:] = [b for b in buffer if b[0] != message.task]
            elif isinstance(message, VideoFailed):
                state = pending.pop(message.task).state
                buffer[:] = [b for b in buffer if b[0] != message.task]
                _with_database(library, _write_failure, library, state, message.reason, summary)
                if progress:
                    progress.update(summary)
        while buffer:
            embed(settings.batch_size)
        for task in list(pending):  # a video whose messages did not all arrive (a worker died mid-message)
            _with_database(library, _write_failure, library, pending.pop(task).state,
                           "decoding ended before every clip arrived", summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        messages.close()


def _with_database(library: Library, write, *args) -> None:
    """Run `write`; when the database server went away, wait for it to come back (up to db_retry_seconds)
    and run it again. The decode workers pause meanwhile (their queue fills up); nothing is lost."""
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
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
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


def _apply_file(video: Video, state: FileState, model_id: str) -> None:
    video.size, video.mtime_ns, video.content_hash, video.model = state.size, state.mtime_ns, state.content_hash, model_id


def _write_video(library: Library, index: ClipIndex, item: _Pending) -> None:
    """One transaction per video: its old clips out, its new clips in; then the index follows."""
    started, state = item.started, item.state
    info = started.info
    model_id = library.settings.model_id
    ordinals = sorted(item.vectors)
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
                start_time=item.plans[o].start,
                end_time=item.plans[o].end,
                frame_indices=list(item.plans[o].frame_indices),
                frame_times=list(item.plans[o].frame_times),
                model=model_id,
                embedding=np.asarray(item.vectors[o], dtype=np.float32).tobytes(),
                blank=item.blank.get(o, False),
            )
            for o in ordinals
        ]
        session.add_all(clips)
        session.flush()
        new_ids = np.array([c.id for c in clips], dtype=np.int64)
        features = np.stack([item.features[o] for o in ordinals])
        store = library.features(features.shape[1], features.shape[2])
        if store is not None:  # written before the commit: a committed clip always has its features
            store.write(new_ids, features)
        for clip_id, ordinal in zip(new_ids.tolist(), ordinals):
            write_thumbnail(thumbnail_path(library.settings.data_dir, clip_id), item.thumbnails[ordinal])
        repo.set_prints(session, video.id, *_printed_frames(item.prints), sampled=len(item.prints))
    library.drop_derived(old_ids)
    index.add(new_ids, np.stack([item.vectors[o] for o in ordinals]))


def _printed_frames(prints: dict[float, np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    """The (times, prints) of a video's frames that have a print, in time order, still stretches thinned."""
    kept = sorted(((t, p) for t, p in prints.items() if p is not None), key=lambda item: item[0])
    times = np.array([t for t, _ in kept], dtype=np.float32)
    stacked = np.stack([p for _, p in kept]) if kept else np.zeros((0, PRINT_DIM), np.int8)
    return thin(times, stacked)


def _write_failure(library: Library, state: FileState, reason: str, summary: IngestSummary) -> None:
    with library.store.begin() as session:
        video = repo.video_by_path(session, str(state.path)) or Video(path=str(state.path))
        old_ids = repo.delete_clips_of(session, video.id) if video.id else []
        _apply_file(video, state, None)
        video.status, video.error, video.num_clips, video.rotation = "failed", reason, 0, video.rotation or 0
        session.add(video)
    library.drop_derived(old_ids)
    summary.failed.append((str(state.path), reason))
