"""Search: query → retrieve (FAISS candidates) → rerank (X-CLIP's own score) → group → results.

Stage 1 ranks by the cosine of the clip and text embeddings, which is only an approximation of
X-CLIP: the model's score adds a video-conditioned prompt to the text first. Stage 2 computes that
exact score (`logits_per_video`) for the top k × overfetch candidates from their stored prompt
features, and ranks by it. Results come in one of three units: clips as ranked, moments (runs of
neighbouring clips that score alike, see `vsearch.moments`) or videos (each with its best moments).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from vsearch.errors import EmptyLibraryError
from vsearch.filters import SearchFilter, allowed_clips
from vsearch.moments import MomentGrouper, group_videos, score_spread
from vsearch.rerank import Neighbourhood
from vsearch.results import GROUPS, MomentResult, SearchResponse, SearchResult, VideoFacts, VideoResult
from vsearch.retrieve import QueryScorer
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library

MOMENTS_PER_VIDEO = 3  # moments listed with each video in the video unit
# a query's score spread (which says how close a moment's clips score) is measured over this many of its best
# stage-1 candidates, whatever k and overfetch are, so a moment's edges do not change with them
SPREAD_CANDIDATES = 200


def search(library: Library, text: str, k: int = 10, rerank: bool = True, overfetch: int | None = None,
           offset: int = 0, group: str = "clip", tolerance: float | None = None,
           filters: SearchFilter | None = None) -> SearchResponse:
    """Results `offset`..`offset + k` for `text`, best first, in `group`'s unit (GROUPS). `tolerance`: how
    far below a moment's best clip its members may score, in units of the query's score spread. `filters`:
    only videos that pass them, applied inside the retrieve stage (a rare set still fills the page)."""
    if group not in GROUPS:
        raise ValueError(f"unknown result unit {group!r}: use one of {', '.join(GROUPS)}")
    library.check_model()
    model_id, dim = library.built_with
    if dim is None:
        raise EmptyLibraryError(
            f"The library in {library.settings.data_dir} is empty: add videos with `vsearch ingest PATH` first."
        )
    index = library.index()
    if len(index) == 0:
        raise EmptyLibraryError(
            f"The library in {library.settings.data_dir} has no clips: add videos with `vsearch ingest PATH`."
        )
    model = library.model  # loaded once per library; not part of the query's time
    started = time.perf_counter()
    text_projection = model.text_projections([text])[0]
    # whole blocks of k x overfetch: every page inside a block reranks the same candidates, so pages never
    # repeat or skip a result
    block = k * (overfetch or library.settings.overfetch) if rerank or group != "clip" else None
    with library.store.session() as session:
        allowed = allowed_clips(session, filters) if filters is not None and filters.active else None
        query = QueryScorer(library, model, text_projection, rerank, allowed)
        if group == "clip":
            results, candidates, more = _clips(session, query, offset, k, block)
        else:
            results, candidates, more = _grouped(session, query, offset, k, block, group,
                                                 library.settings.moment_tolerance if tolerance is None else tolerance)
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(text, model_id or library.settings.model_id, took, query.ranking, candidates, query.notice,
                          results, group, more)


def _clips(session, query: QueryScorer, offset: int, k: int, block: int | None):
    wanted = offset + k
    fetch = block * -(-wanted // block) if block else wanted
    found = query.scored(session, query.candidates(session, fetch))
    rows = repo.clips_with_videos(session, [i for _, i in found[offset:wanted]])
    results = [
        SearchResult(offset + n + 1, score, clip_id, rows[clip_id][1].id, rows[clip_id][1].path,
                     rows[clip_id][0].start_time, rows[clip_id][0].end_time, VideoFacts.of(rows[clip_id][1]))
        for n, (score, clip_id) in enumerate(found[offset:wanted])
    ]
    return results, len(found), len(found) > wanted


def _grouped(session, query: QueryScorer, offset: int, k: int, block: int, group: str, tolerance: float):
    """Moments (or videos) from the candidates, best seed first, block by block, until the page is full (and
    one more unit says whether a next page has any) or the index runs out. Each block's moments come after the
    previous block's, and within a block in seed order: every page reads the same list."""
    wanted = offset + k
    moments, grouper, fetched, exhausted = [], None, 0, False
    neighbourhood = Neighbourhood(session, query.neighbour_score)
    block = max(block, SPREAD_CANDIDATES)
    later = []  # seeds of the fetched blocks not walked from yet, in order
    while not exhausted and _units(moments, group) <= wanted:
        fetched += block
        found = query.candidates(session, fetched)
        exhausted = len(found) < fetched
        scored = query.scored(session, found[fetched - block :])
        if not scored:
            break
        if grouper is None:
            sample = {i for _, i in found[:SPREAD_CANDIDATES]}
            spread = score_spread(s for s, i in scored if i in sample)
            grouper = MomentGrouper(neighbourhood, tolerance * spread)
        seeds = sorted(neighbourhood.candidates(scored), key=lambda c: (-c.score, c.clip_id))
        neighbourhood.prefetch(seeds[: max(0, wanted + 1 - len(moments))])
        for number, seed in enumerate(seeds):
            moment = grouper.add(seed)
            if moment is not None:
                moments.append(moment)
                if _units(moments, group) > wanted:
                    later = seeds[number + 1 :]
                    break
    if group == "video" and grouper is not None:  # each video on the page gets every moment its seeds make
        shown = {m.video_id for m in moments}
        rest = [seed for seed in later if seed.video_id in shown]
        neighbourhood.prefetch(rest)
        moments += [m for m in map(grouper.add, rest) if m is not None]
    units = group_videos(moments, MOMENTS_PER_VIDEO) if group == "video" else moments
    page = units[offset:wanted]
    video_ids = {u.video_id for u in page}
    videos = {v.id: v for v in repo.videos_by_id(session, sorted(video_ids))}
    if group == "video":
        results = [VideoResult(offset + n + 1, u.score, u.video_id, videos[u.video_id].path,
                               [_moment(number + 1, m, videos[u.video_id]) for number, m in enumerate(u.moments)],
                               u.total_moments, VideoFacts.of(videos[u.video_id])) for n, u in enumerate(page)]
    else:
        results = [_moment(offset + n + 1, m, videos[m.video_id]) for n, m in enumerate(page)]
    return results, fetched if not exhausted else len(found), len(units) > wanted


def _units(moments, group: str) -> int:
    return len({m.video_id for m in moments}) if group == "video" else len(moments)


def _moment(rank: int, moment, video) -> MomentResult:
    return MomentResult(rank, moment.score, moment.clip_id, moment.video_id, video.path, moment.start, moment.end,
                        moment.peak, moment.clip_ids, VideoFacts.of(video))
