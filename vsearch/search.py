"""Search: query → retrieve (FAISS candidates) → rerank (X-CLIP's own score) → results.

Stage 1 ranks by the cosine of the clip and text embeddings, which is only an approximation of
X-CLIP: the model's score adds a video-conditioned prompt to the text first. Stage 2 computes that
exact score (`logits_per_video`) for the top k × overfetch candidates from their stored prompt
features, and ranks by it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import EmptyLibraryError
from vsearch.model.xclip import normalize_rows
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library

EXACT = "xclip"  # scores are X-CLIP's logits_per_video
COSINE = "embedding-cosine"  # stage 1 only: cosine of clip and text embeddings
RERANK_CHUNK = 512  # candidates scored per call: about 100 MB of float32 features at most


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
    ranking: str  # EXACT or COSINE: which ranking produced the scores
    candidates: int = 0
    notice: str | None = None
    results: list[SearchResult] = field(default_factory=list)

    def as_json(self) -> dict:
        data = {
            "query": self.query,
            "model": self.model,
            "took_ms": round(self.took_ms, 3),
            "ranking": self.ranking,
            "candidates": self.candidates,
            "results": [asdict(r) for r in self.results],
        }
        if self.notice:
            data["notice"] = self.notice
        return data


def search(library: Library, text: str, k: int = 10, rerank: bool = True, overfetch: int | None = None,
           offset: int = 0) -> SearchResponse:
    """Clips `offset`..`offset + k` for `text`, best first."""
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
    wanted = offset + k
    fetch = wanted
    if rerank:  # whole blocks of k x overfetch: every page inside a block reranks the same candidates,
        block = k * (overfetch or library.settings.overfetch)  # so pages never repeat or skip a clip
        fetch = block * -(-wanted // block)
    scores, ids = index.search(normalize_rows(text_projection)[None], fetch)
    found = [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]
    with library.store.session() as session:
        vectors = repo.clip_vectors(session, [i for _, i in found])
        found = [(s, i) for s, i in found if i in vectors]  # a clip deleted since the index was loaded
        ranking, notice = COSINE, None
        if rerank and found:
            exact, notice = _rerank(library, model, text_projection, found, vectors)
            if exact is not None:
                found, ranking = exact, EXACT
        rows = repo.clips_with_videos(session, [i for _, i in found[offset:wanted]])
    results = [
        SearchResult(offset + n + 1, score, clip_id, rows[clip_id][1].id, rows[clip_id][1].path,
                     rows[clip_id][0].start_time, rows[clip_id][0].end_time)
        for n, (score, clip_id) in enumerate(found[offset:wanted])
    ]
    took = (time.perf_counter() - started) * 1000
    return SearchResponse(text, model_id or library.settings.model_id, took, ranking, len(found), notice, results)


def _rerank(library: Library, model, text_projection, found, vectors):
    """((score, id) by X-CLIP's score, None) — or (None, why not) when the features are not there."""
    store = library.features()
    if store is None:
        if not library.settings.prompt_features:
            return None, "prompt features are turned off: ranked by embedding cosine (stage 1) only"
        return None, ("no prompt features stored: ranked by embedding cosine (stage 1) only; `vsearch ingest` "
                      "of the library's folders stores them again")
    ids = [i for _, i in found]
    logits = []
    for start in range(0, len(ids), RERANK_CHUNK):  # bounded memory however many candidates
        chunk = ids[start : start + RERANK_CHUNK]
        features, present = store.read(chunk)
        if not present.all():
            return None, (f"{int((~present).sum())} candidate(s) lack prompt features (ingested without them, or "
                          "the feature file was cut short): ranked by embedding cosine (stage 1) only; `vsearch "
                          "ingest` of their folders stores them again (with --reembed if they were left out)")
        videos = np.stack([vectors[i] for i in chunk])
        logits.append(model.scorer(text_projection, videos, features))
    logits = np.concatenate(logits)
    order = np.argsort(-logits, kind="stable")
    return [(float(logits[j]), ids[j]) for j in order], None
