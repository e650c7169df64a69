"""The saved index kept in step with the store: used while the policy allows, rebuilt from the stored
vectors when it does not.

The database is the source of truth. The store is reached through a `VectorSource` (the clip ids'
fingerprint and the stored vectors, in id order), so this module holds no database session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vsearch.index import files, policy
from vsearch.index.clip_index import ClipIndex

log = logging.getLogger(__name__)


class VectorSource(Protocol):
    def fingerprint(self) -> tuple[int, ...]: ...

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...


class TuningDeferred(Exception):
    """Raised by a text-query provider that may not load the model now: the rebuild waits for a caller that may."""


TextQueries = Callable[[], "np.ndarray | None"]
# entered around saving a rebuilt index; yields whether this process may write the file now
SaveGuard = Callable[[], AbstractContextManager[bool]]


@dataclass(frozen=True)
class IndexTarget:
    """Where a library's index lives and what it is for."""

    path: Path
    model: str
    dim: int
    threshold: int
    approximate: str = "ivf"

    def state(self, fingerprint) -> policy.LibraryState:
        return policy.LibraryState(self.model, self.dim, tuple(fingerprint), self.threshold, self.approximate)


def open_index(target: IndexTarget, source: VectorSource, text_queries: TextQueries | None = None,
               save_guard: SaveGuard | None = None) -> ClipIndex | None:
    """The saved index when the policy allows it; otherwise one rebuilt from the store and saved (where
    `save_guard` allows: a reader leaves the file to the process writing the library).
    None when the rebuild needs the model to tune and `text_queries` deferred it."""
    state = target.state(source.fingerprint())
    record = files.read_record(target.path)
    reason = policy.rebuild_reason(record, state)
    if reason is None:
        try:
            return files.read_index(target.path, record)
        except files.UnreadableIndex as exc:
            log.warning("index file %s unreadable (%s); rebuilding from the database", target.path, exc)
    else:
        log.debug("rebuilding the index: %s", reason)
    try:
        index = _build(target, state, source, text_queries)
    except TuningDeferred:
        return None
    with (save_guard or (lambda: nullcontext(True)))() as allowed:
        if allowed:
            try:
                files.save_index(target.path, index, target.model, state.fingerprint)
            except OSError as exc:  # a read-only data dir, a full disk: queries are still answered
                log.warning("could not save the rebuilt index to %s: %s", target.path, exc)
    return index


def rebuild(target: IndexTarget, source: VectorSource, text_queries: TextQueries | None = None) -> ClipIndex:
    """A new index from the store, saved."""
    state = target.state(source.fingerprint())
    index = _build(target, state, source, text_queries)
    files.save_index(target.path, index, target.model, state.fingerprint)
    return index


def save(target: IndexTarget, index: ClipIndex, source: VectorSource,
         text_queries: TextQueries | None = None) -> ClipIndex:
    """Save `index`, which holds every stored clip; rebuilt first when the policy asks for it (the library
    crossed the size threshold, many deletions, IVF lists outgrown). Returns the index saved. A rebuild
    that `text_queries` defers leaves `index` saved as it is, still correct, and rebuilt on a later load."""
    state = target.state(source.fingerprint())
    reason = policy.rebuild_reason(files.record_of(index, target.model, state.fingerprint), state)
    if reason is not None:
        log.debug("rebuilding the index: %s", reason)
        try:
            index = _build(target, state, source, text_queries)
        except TuningDeferred:
            pass
    files.save_index(target.path, index, target.model, state.fingerprint)
    return index


def _build(target: IndexTarget, state: policy.LibraryState, source: VectorSource,
           text_queries: TextQueries | None) -> ClipIndex:
    spec = state.wanted()
    # the text queries first: a deferred tuning must not read every stored vector for nothing
    queries = text_queries() if text_queries is not None and spec.kind != "flat" else None
    return ClipIndex.from_chunks(target.dim, spec, source.chunks(), lambda: queries)
