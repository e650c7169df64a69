"""Search: text → X-CLIP text embedding → FAISS candidates → clips with their videos."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from vsearch.errors import EmptyLibraryError
from vsearch.store import repo


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float
    clip_id: int
    video_id: int
    path: str
    start: float
    end: float


@dataclass
class SearchResponse:
    query: str
    model: str
    took_ms: float
    ranking: str  # which ranking produced the scores
    results: list[SearchResult] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "query": self.query,
            "model": self.model,
            "took_ms": round(self.took_ms, 3),
            "ranking": self.ranking,
            "results": [asdict(r) for r in self.results],
        }


def search(library, text: str, k: int = 10) -> SearchResponse:
    """The `k` clips closest to `text`, best first, scored by cosine of X-CLIP embeddings."""
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
    query = model.embed_text([text])
    scores, ids = index.search(query, k)
    found = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]
    with library.sessions() as session:
        rows = repo.clips_with_videos(session, [i for _, i in found])
    results = []
    for score, clip_id in found:
        if clip_id not in rows:  # deleted since the index was loaded
            continue
        clip, video = rows[clip_id]
        results.append(
            SearchResult(len(results) + 1, score, clip.id, video.id, video.path, clip.start_time, clip.end_time)
        )
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(text, model_id or library.settings.model_id, took, "embedding-cosine", results)
