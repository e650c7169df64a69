"""The ingest runner: wires discovery, decode workers, batched embedding and the store together."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.duplicates.backfill import fill_missing_prints
from vsearch.duplicates.finder import refresh
from vsearch.errors import first_line
from vsearch.ingest.assemble import Assembler
from vsearch.ingest.changes import FileState, find_changes, sweep
from vsearch.ingest.distributors import distributor_for
from vsearch.ingest.facts import fill_missing_facts
from vsearch.ingest.summary import IngestSummary
from vsearch.ingest.write import with_database, write_failure, write_video
from vsearch.media.clips import ClipJob, VideoFailed
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library

log = logging.getLogger(__name__)


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
        write_failure(library, FileState(path, size, mtime, ""), reason, summary)
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
            log.warning("while stopping: %s", first_line(exc))


def _record_run(library: Library, summary: IngestSummary) -> None:
    """Keep the last run's counts, for `vsearch status`."""
    record = summary.as_json()
    record = {key: len(value) if isinstance(value, list) else value for key, value in record.items()}
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with library.store.begin() as session:
        repo.set_meta(session, repo.LAST_INGEST_KEY, json.dumps(record))


def _embed_files(library: Library, files: list[FileState], summary: IngestSummary, progress) -> None:
    """Decode, embed and assemble with the settings' distributor; write each video as it completes."""
    settings = library.settings
    model = library.model
    if library.built_with[0] is None:
        library.record_model(settings.model_id, model.embed_dim)
    index = library.index(model.embed_dim)
    job = ClipJob(model.spec, model.num_frames, settings.clip_seconds, settings.stride_seconds,
                  decode_edge=model.spec.prescale_edge() if settings.decoder_prescale else None)
    states = dict(enumerate(files))
    timings = summary.timings
    started = time.perf_counter()
    with distributor_for(settings, model, job) as distributor:
        timings["start"] += time.perf_counter() - started
        assembler = Assembler(states, distributor.embedder(timings), settings.batch_size, timings)
        messages = distributor.decode(list((task, state.path) for task, state in states.items()))
        try:
            for outcome in assembler.run(messages):
                started = time.perf_counter()
                if isinstance(outcome, VideoFailed):
                    with_database(library, write_failure, library, states[outcome.task], outcome.reason, summary)
                else:
                    with_database(library, write_video, library, index, states[outcome.task], outcome)
                    summary.indexed.append(str(states[outcome.task].path))
                    summary.clips += len(outcome.vectors)
                timings["write"] += time.perf_counter() - started
                if progress:
                    progress.update(summary)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            messages.close()
