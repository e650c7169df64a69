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

import numpy as np

from vsearch.errors import EmptyLibraryError
from vsearch.model.xclip import normalize_rows
from vsearch.moments import MomentGrouper, group_videos, score_spread
from vsearch.rerank import MissingFeatures, Neighbourhood, cosine_scores, exact_scores
from vsearch.results import GROUPS, MomentResult, SearchResponse, SearchResult, VideoFacts, VideoResult
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library

EXACT = "xclip"  # scores are X-CLIP's logits_per_video
COSINE = "embedding-cosine"  # stage 1 only: cosine of clip and text embeddings
MOMENTS_PER_VIDEO = 3  # moments listed with each video in the video unit
# a query's score spread (which says how close a moment's clips score) is measured over this many of its best
# stage-1 candidates, whatever k and overfetch are, so a moment's edges do not change with them
SPREAD_CANDIDATES = 200


def search(library: Library, text: str, k: int = 10, rerank: bool = True, overfetch: int | None = None,
           offset: int = 0, group: str = "clip", tolerance: float | None = None) -> SearchResponse:
    """Results `offset`..`offset + k` for `text`, best first, in `group`'s unit (GROUPS). `tolerance`: how
    far below a moment's best clip its members may score, in units of the query's score spread."""
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
    query = QueryScorer(library, model, model.text_projections([text])[0], rerank)
    # whole blocks of k x overfetch: every page inside a block reranks the same candidates, so pages never
    # repeat or skip a result
    block = k * (overfetch or library.settings.overfetch) if rerank or group != "clip" else None
    with library.store.session() as session:
        if group == "clip":
            results, candidates, more = _clips(session, query, offset, k, block)
        else:
            results, candidates, more = _grouped(session, query, offset, k, block, group,
                                                 library.settings.moment_tolerance if tolerance is None else tolerance)
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(text, model_id or library.settings.model_id, took, query.ranking, candidates, query.notice,
                          results, group, more)


class QueryScorer:
    """One query's text, its stage-1 candidates, and how its clips are scored (exactly while it can)."""

    def __init__(self, library: Library, model, text_projection: np.ndarray, rerank: bool):
        self.library, self.model, self.text_projection = library, model, text_projection
        self.ranking, self.notice = COSINE, None
        if rerank:
            self.ranking, self.notice = _exact_or_why(library)

    def candidates(self, session, fetch: int) -> list[tuple[float, int]]:
        """The first `fetch` of stage 1 (cosine, clip id), of clips that still exist."""
        scores, ids = self.library.index().search(normalize_rows(self.text_projection)[None], fetch)
        return [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def score(self, ids: list[int], vectors: dict[int, np.ndarray]) -> np.ndarray:
        """The clips' scores: exact, or stage 1's cosine once exact scoring is off or has failed."""
        if self.ranking == EXACT:
            try:
                return exact_scores(self.library, self.model, self.text_projection, ids, vectors)
            except MissingFeatures as missing:
                self.ranking, self.notice = COSINE, _lacking(missing.args[0])
        return cosine_scores(self.text_projection, ids, vectors)

    def neighbour_score(self, ids: list[int], vectors: dict[int, np.ndarray]) -> np.ndarray:
        """Like `score`, but a neighbour without features only stops a moment from growing into it."""
        if self.ranking == EXACT:
            try:
                return exact_scores(self.library, self.model, self.text_projection, ids, vectors)
            except MissingFeatures:
                return np.full(len(ids), -np.inf, np.float32)
        return cosine_scores(self.text_projection, ids, vectors)

    def scored(self, session, found: list[tuple[float, int]]) -> list[tuple[float, int]]:
        """`found` rescored and ranked, best first."""
        vectors = repo.clip_vectors(session, [i for _, i in found])
        found = [(s, i) for s, i in found if i in vectors]  # a clip deleted since the index was loaded
        if self.ranking != EXACT or not found:
            return found
        ids = [i for _, i in found]
        scores = self.score(ids, vectors)
        if self.ranking != EXACT:  # features were missing: stage 1's order stands
            return found
        order = np.argsort(-scores, kind="stable")
        return [(float(scores[j]), ids[j]) for j in order]


def _exact_or_why(library: Library) -> tuple[str, str | None]:
    if library.features() is not None:
        return EXACT, None
    if not library.settings.prompt_features:
        return COSINE, "prompt features are turned off: ranked by embedding cosine (stage 1) only"
    return COSINE, ("no prompt features stored: ranked by embedding cosine (stage 1) only; `vsearch ingest` "
                    "of the library's folders stores them again")


def _lacking(count: int) -> str:
    return (f"{count} candidate(s) lack prompt features (ingested without them, or the feature file was cut "
            "short): ranked by embedding cosine (stage 1) only; `vsearch ingest` of their folders stores them "
            "again (with --reembed if they were left out)")


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
    """Moments (or videos) block by block of candidates until the page is full or the index runs out: each
    block's moments come after the previous block's, so every page reads the same list."""
    wanted = offset + k
    moments, grouper, fetched, exhausted = [], None, 0, False
    neighbourhood = Neighbourhood(session, query.neighbour_score)
    block = max(block, SPREAD_CANDIDATES)
    while not exhausted and _units(moments, group) < wanted + 1:
        fetched += block
        found = query.candidates(session, fetched)
        exhausted = len(found) < fetched
        scored = query.scored(session, found[fetched - block :])
        if grouper is None:
            sample = {i for _, i in found[:SPREAD_CANDIDATES]}
            spread = score_spread(s for s, i in scored if i in sample)
            grouper = MomentGrouper(neighbourhood, tolerance * spread)
        moments += grouper.group(neighbourhood.candidates(scored))
        if not scored:
            break
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
