"""Finding the footage videos share across a library, and keeping it current.

Every video's printed frames go into one inner-product index (vsearch.media.fingerprint); each frame's
nearest look-alikes in other videos (cosine ≥ the threshold) are matches, grouped by pair of videos and chained
into runs (vsearch.duplicates.match). Ingest calls `refresh` with the videos it indexed or lost: only
their frames are searched against the rest, and only their rows of `duplicate_spans` change. Queries
read the table; nothing is recomputed per query.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
from sqlalchemy import delete, or_, select

from vsearch.duplicates.match import FRAME_THRESHOLD, SharedSpan, VideoPrints, compare
from vsearch.media.fingerprint import PRINT_DIM, as_float
from vsearch.store import repo
from vsearch.store.models import DuplicateSpan

log = logging.getLogger(__name__)

PER_FRAME = 32  # look-alikes kept per frame and other video (a still shot looks like every frame of another)
NEIGHBOURS = 256  # look-alikes looked up per frame, in all other videos: memory stays bounded in a library of
# still shots (a frame of a still camera looks like every frame of every other recording of it)
QUERY_ROWS = 4096  # frames searched at once
THRESHOLD_KEY = "duplicate_threshold"


def load_prints(store) -> list[VideoPrints]:
    """Every indexed video's printed frames."""
    with store.session() as session:
        rows = repo.all_prints(session)
        return [VideoPrints(r.video_id, np.frombuffer(r.times, np.float32),
                            np.frombuffer(r.prints, np.int8).reshape(-1, PRINT_DIM)) for r in rows]


def find_spans(prints: list[VideoPrints], among: Iterable[int] | None = None,
               threshold: float = FRAME_THRESHOLD) -> list[SharedSpan]:
    """The footage shared by pairs of videos of which at least one is in `among` (None: every pair)."""
    import faiss

    prints = [p for p in prints if len(p.times)]
    if len(prints) < 2:
        return []
    among = None if among is None else set(among)
    starts = np.concatenate([[0], np.cumsum([len(p.times) for p in prints])])
    owner = np.repeat(np.arange(len(prints)), np.diff(starts))
    matrix = as_float(np.concatenate([p.prints for p in prints]))
    index = faiss.IndexFlatIP(PRINT_DIM)
    index.add(matrix)
    pairs: dict[tuple[int, int], set[tuple[int, int, float]]] = defaultdict(set)
    for position, video in enumerate(prints):
        if among is not None and video.video_id not in among:
            continue
        low, high = int(starts[position]), int(starts[position + 1])
        others = faiss.SearchParameters(sel=faiss.IDSelectorNot(faiss.IDSelectorRange(low, high)))
        neighbours = min(NEIGHBOURS, len(matrix) - (high - low))
        for first in range(low, high, QUERY_ROWS):
            rows = matrix[first : min(first + QUERY_ROWS, high)]
            sims, found = index.search(rows, neighbours, params=others)
            near = (found >= 0) & (sims >= threshold)
            frames = np.repeat(np.arange(len(rows)) + first - low, neighbours).reshape(found.shape)[near]
            found, sims = found[near], sims[near]
            _collect(pairs, position, frames, owner[found], found - starts[owner[found]], sims)
    spans = []
    for (x, y), matches in pairs.items():
        ix, iy, sims = (np.array(column) for column in zip(*matches))
        spans += compare(prints[x], prints[y], ix.astype(np.int64), iy.astype(np.int64), sims.astype(np.float32))
    return spans


def _collect(pairs, position: int, frames: np.ndarray, other: np.ndarray, other_frames: np.ndarray,
             sims: np.ndarray) -> None:
    """Add matches of video `position`'s frames, at most PER_FRAME per frame and other video (the best)."""
    order = np.lexsort((-sims, frames, other))
    frames, other, other_frames, sims = frames[order], other[order], other_frames[order], sims[order]
    group_start = np.r_[True, (frames[1:] != frames[:-1]) | (other[1:] != other[:-1])]
    first_of_group = np.maximum.accumulate(np.where(group_start, np.arange(len(frames)), 0))
    keep = np.arange(len(frames)) - first_of_group < PER_FRAME
    for f, o, of, s in zip(frames[keep].tolist(), other[keep].tolist(), other_frames[keep].tolist(),
                           sims[keep].tolist()):
        if position < o:
            pairs[(position, o)].add((f, of, round(s, 5)))
        else:
            pairs[(o, position)].add((of, f, round(s, 5)))


def refresh(store, video_ids: Iterable[int] | None, threshold: float = FRAME_THRESHOLD) -> int:
    """Recompute the shared footage of `video_ids` (None: of the whole library) and store it; returns the
    number of spans stored."""
    ids = None if video_ids is None else sorted(set(video_ids))
    if ids is not None and not ids:
        return 0
    with store.session() as session:
        stored_at = repo.get_meta(session, THRESHOLD_KEY)
    if stored_at is not None and float(stored_at) != float(threshold):
        ids = None  # the others were found at another threshold: find them all again
    spans = find_spans(load_prints(store), ids, threshold)
    with store.begin() as session:
        if ids is None:
            session.execute(delete(DuplicateSpan))
        else:
            session.execute(delete(DuplicateSpan).where(
                or_(DuplicateSpan.video_a.in_(ids), DuplicateSpan.video_b.in_(ids))))
        session.add_all(DuplicateSpan(
            video_a=s.video_a, video_b=s.video_b, kind=s.kind, a_start=s.a_start, a_end=s.a_end,
            b_start=s.b_start, b_end=s.b_end, time_offset=s.offset, frames=s.frames, coverage=s.coverage,
            similarity=s.similarity) for s in spans)
        repo.set_meta(session, THRESHOLD_KEY, repr(float(threshold)))
    return len(spans)


def stored_spans(store) -> list[SharedSpan]:
    with store.session() as session:
        rows = session.scalars(select(DuplicateSpan).order_by(DuplicateSpan.id)).all()
        return [SharedSpan(r.video_a, r.video_b, r.kind, r.a_start, r.a_end, r.b_start, r.b_end, r.time_offset,
                           r.frames, r.coverage, r.similarity) for r in rows]
