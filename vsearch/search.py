"""Search: query → retrieve (FAISS candidates) → rerank (X-CLIP's own score) → group → results.

Stage 1 ranks by the cosine of the clip and text embeddings, which is only an approximation of
X-CLIP: the model's score adds a video-conditioned prompt to the text first. Stage 2 computes that
exact score (`logits_per_video`) for the top k × overfetch candidates from their stored prompt
features, and ranks by it. Results come in one of three units: clips as ranked, moments (runs of
neighbouring clips that score alike, see `vsearch.moments`) or videos (each with its best moments).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vsearch.cutoff import Cutoff
from vsearch.duplicates.fold import Folder
from vsearch.errors import EmptyLibraryError
from vsearch.examples import VIDEO_COSINE, Example
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
SORTS = ("relevance", "date")  # best match first (the default), or newest recorded first
DATE_SORTED = 200  # a date sort orders the query's best this many results that pass the cut-off


def search(library: Library, text: str, k: int = 10, rerank: bool = True, overfetch: int | None = None,
           offset: int = 0, group: str = "clip", tolerance: float | None = None,
           filters: SearchFilter | None = None, min_relevance: float = 0.0, sort: str = "relevance",
           example: Example | None = None, include_blank: bool = False, fold: bool | None = None) -> SearchResponse:
    """Results `offset`..`offset + k` for `text`, best first, in `group`'s unit (GROUPS). `tolerance`: how
    far below a moment's best clip its members may score, in units of the query's score spread. `filters`:
    only videos that pass them, applied inside the retrieve stage (a rare set still fills the page).
    `min_relevance`: only results at least this relevant (vsearch.cutoff); `sort`: "date" puts the newest
    recorded first, among the best DATE_SORTED that pass the cut-off. `example`: search by it instead of
    `text` (vsearch.examples: ranked by video-embedding cosine, without relevance or cut-off). Blank clips
    (vsearch.media.blank) sink below the others of their block unless `include_blank`; an example query
    never returns them. `fold`: results from copies of a video already listed (vsearch.duplicates) join its
    `also_in` instead of taking places of their own (None: the library's `fold_copies` setting)."""
    if group not in GROUPS:
        raise ValueError(f"unknown result unit {group!r}: use one of {', '.join(GROUPS)}")
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    if not 0 <= min_relevance <= 1:
        raise ValueError(f"min_relevance must lie in [0, 1], not {min_relevance}")
    library.check_model()
    fold = library.settings.fold_copies if fold is None else fold
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
    bank = library.relevance_bank() if example is None else None
    started = time.perf_counter()
    if example is None:
        text_projection = model.text_projections([text])[0]
    else:
        text_projection, rerank, min_relevance, text = example.vector, False, 0.0, example.description
    # whole blocks of k x overfetch: every page inside a block reranks the same candidates, and later blocks
    # come after it, so pages never repeat or skip a result
    block = k * (overfetch or library.settings.overfetch) if rerank or group != "clip" else None
    wanted = offset + k if sort == "relevance" else DATE_SORTED
    with library.store.session() as session:
        allowed = allowed_clips(session, filters) if filters is not None and filters.active else None
        blank = "drop" if example is not None else "keep" if include_blank else "sink"
        query = QueryScorer(library, model, text_projection, rerank, allowed, example and example.clip_id, blank)
        if example is not None:
            query.ranking = VIDEO_COSINE
        cutoff = Cutoff(session, bank, query, text, min_relevance, Folder(session, group == "video") if fold else None)
        if group == "clip":
            units, candidates = _clips(session, query, cutoff, wanted, block)
        else:
            units, candidates = _grouped(session, query, cutoff, wanted, block, group,
                                         library.settings.moment_tolerance if tolerance is None else tolerance)
        videos = {v.id: v for v in repo.videos_by_id(session, sorted({u.video_id for u in units}))}
        if sort == "date":  # the best DATE_SORTED, newest first (pages beyond them are empty)
            units = sorted(units[:DATE_SORTED], key=lambda u: _newest_first(videos[u.video_id]))
        more = len(units) > offset + k
        results = _with_copies(session, _results(session, units[offset : offset + k], offset, cutoff, videos), cutoff)
        below = []
        if not cutoff.kept and offset == 0 and cutoff.rejected:  # nothing passed: the best it found
            rejected = cutoff.rejected[:k] if group != "video" else group_videos(cutoff.rejected, MOMENTS_PER_VIDEO)[:k]
            videos.update({v.id: v for v in repo.videos_by_id(session, sorted({u.video_id for u in rejected}))})
            below = _results(session, rejected, 0, cutoff, videos)
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(text, model_id or library.settings.model_id, took, query.ranking, candidates, query.notice,
                          results, group, more, min_relevance, sort, below)


def _clips(session, query: QueryScorer, cutoff: Cutoff, wanted: int, block: int | None):
    """Clips in rank order, block by block (each block's exact ranking after the previous block's), until more
    than `wanted` pass the cut-off or the candidates (or the query's matches) run out."""
    step = block or wanted + 1
    fetched, exhausted = 0, False
    while not exhausted and len(cutoff.kept) <= wanted and not cutoff.done:
        fetched += step
        found = query.candidates(session, fetched)
        exhausted = len(found) < fetched
        for unit in query.scored(session, found[fetched - step :]):
            cutoff.offer(unit)
            if len(cutoff.pending) >= wanted + 1 - len(cutoff.kept):
                cutoff.flush()
                if len(cutoff.kept) > wanted or cutoff.done:
                    break
        cutoff.flush()
    cutoff.rejected = cutoff.rejected[:wanted]  # only the best of them are ever shown
    rows = repo.clips_with_videos(session, [i for _, i in cutoff.kept + cutoff.rejected])
    cutoff.kept, cutoff.rejected = ([_Clip(s, i, rows[i][1].id, rows[i][0].start_time, rows[i][0].end_time)
                                     for s, i in pairs if i in rows] for pairs in (cutoff.kept, cutoff.rejected))
    return cutoff.kept, fetched if not exhausted else len(found)


def _grouped(session, query: QueryScorer, cutoff: Cutoff, wanted: int, block: int, group: str, tolerance: float):
    """Moments (or videos) from the candidates, best seed first, block by block, until the page is full (and
    one more unit says whether a next page has any) or the index runs out. Each block's moments come after the
    previous block's, and within a block in seed order: every page reads the same list."""
    grouper, fetched, exhausted = None, 0, False
    neighbourhood = Neighbourhood(session, query.neighbour_score)
    block = max(block, SPREAD_CANDIDATES)
    later = []  # seeds of the fetched blocks not walked from yet, in order
    while not exhausted and _units(cutoff.kept, group) <= wanted and not cutoff.done:
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
        seeds = sorted(neighbourhood.candidates(scored), key=lambda c: (query.sinks(c.clip_id), -c.score, c.clip_id))
        neighbourhood.prefetch(seeds[: max(0, wanted + 1 - len(cutoff.kept))])
        for number, seed in enumerate(seeds):
            moment = grouper.add(seed)
            if moment is not None:
                cutoff.offer(moment)
                if len(cutoff.pending) >= max(1, wanted + 1 - _units(cutoff.kept, group)):
                    cutoff.flush()
                    if _units(cutoff.kept, group) > wanted or cutoff.done:
                        later = seeds[number + 1 :]
                        break
        cutoff.flush()
    moments = cutoff.kept
    if group == "video" and grouper is not None:  # each video on the page gets every moment its seeds make
        shown = {m.video_id for m in moments}
        rest = [seed for seed in later if seed.video_id in shown]
        neighbourhood.prefetch(rest)
        moments = moments + cutoff.passing([m for m in map(grouper.add, rest) if m is not None])
    units = group_videos(moments, MOMENTS_PER_VIDEO) if group == "video" else moments
    return units, fetched if not exhausted else len(found)


@dataclass(frozen=True)
class _Clip:
    """A clip as the clip unit lists it."""

    score: float
    clip_id: int
    video_id: int
    start: float
    end: float


def _units(moments, group: str) -> int:
    return len({m.video_id for m in moments}) if group == "video" else len(moments)


def _newest_first(video):
    recorded = video.recorded_at
    return (recorded is None, -(recorded.timestamp() if recorded is not None else 0.0), video.id)


def _results(session, page: list, offset: int, cutoff: Cutoff, videos: dict) -> list:
    """The page's units as results, each with its relevance."""
    clips = [m for u in page for m in (u.moments if hasattr(u, "moments") else [u])]
    cutoff.compute(clips)
    if page and isinstance(page[0], _Clip):
        return [SearchResult(offset + n + 1, u.score, u.clip_id, u.video_id, videos[u.video_id].path, u.start,
                             u.end, VideoFacts.of(videos[u.video_id]), cutoff.of(u)) for n, u in enumerate(page)]
    if page and hasattr(page[0], "moments"):
        return [VideoResult(offset + n + 1, u.score, u.video_id, videos[u.video_id].path,
                            [_moment(number + 1, m, videos[u.video_id], cutoff) for number, m in enumerate(u.moments)],
                            u.total_moments, VideoFacts.of(videos[u.video_id]), cutoff.of(u.moments[0]))
                for n, u in enumerate(page)]
    return [_moment(offset + n + 1, m, videos[m.video_id], cutoff) for n, m in enumerate(page)]


def _with_copies(session, results: list, cutoff: Cutoff) -> list:
    """The results with the copies folded into them (vsearch.duplicates.fold), paths included."""
    folder = cutoff.folder
    if folder is None or not folder.also_in:
        return results
    ids = sorted({entry["video_id"] for entries in folder.also_in.values() for entry in entries})
    paths = {v.id: v.path for v in repo.videos_by_id(session, ids)}

    def fold(result):
        if isinstance(result, VideoResult):
            moments = [fold(m) for m in result.moments]
            return replace(result, moments=moments, also_in=[e for m in moments for e in m.also_in])
        return replace(result, also_in=folder.copies_of(result.clip_id, paths))

    return [fold(r) for r in results]


def _moment(rank: int, moment, video, cutoff: Cutoff) -> MomentResult:
    return MomentResult(rank, moment.score, moment.clip_id, moment.video_id, video.path, moment.start, moment.end,
                        moment.peak, moment.clip_ids, VideoFacts.of(video), cutoff.of(moment))
