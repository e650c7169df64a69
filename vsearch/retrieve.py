"""Retrieve: a query's stage-1 candidates (FAISS, or a scan of a filter's rare set) and how its clips are
scored: X-CLIP's exact score while the prompt features are there, else the embedding cosine."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsearch.model.xclip import normalize_rows
from vsearch.rerank import MissingFeatures, cosine_scores, exact_scores
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library

EXACT = "xclip"  # scores are X-CLIP's logits_per_video
COSINE = "embedding-cosine"  # stage 1 only: cosine of clip and text embeddings
# A filter that lets through at most this many clips is searched by reading their vectors from the database
# when the index is approximate: its usual search breadth would see too few of them.
SCAN_CLIPS = 20_000
SCAN_CHUNK = 2_000


class QueryScorer:
    """One query's text, its stage-1 candidates, and how its clips are scored (exactly while it can)."""

    def __init__(self, library: Library, model, text_projection: np.ndarray, rerank: bool,
                 allowed: np.ndarray | None = None, exclude: int | None = None, blank: str = "sink"):
        self.library, self.model, self.text_projection = library, model, text_projection
        self.allowed = allowed  # None: every clip; else the ids a filter lets through
        self.exclude = exclude  # a clip never scored as a result (an example query's own clip)
        # blank clips (vsearch.media.blank): "sink" below the others of their block, "drop" them, or "keep"
        self.blank_policy = blank
        self.blank: set[int] = set()  # the blank clips seen among the candidates
        self.ranking, self.notice = COSINE, None
        if rerank:
            self.ranking, self.notice = _exact_or_why(library)
        self._scanned: list[tuple[float, int]] | None = None

    def candidates(self, session, fetch: int) -> list[tuple[float, int]]:
        """The first `fetch` of stage 1 (cosine, clip id), best first, among the allowed clips."""
        index = self.library.index()
        query = normalize_rows(self.text_projection)[None]
        if self.allowed is None:
            scores, ids = index.search(query, fetch)
        elif self._scanned is not None or (index.spec.kind != "flat" and len(self.allowed) <= SCAN_CLIPS):
            return self._scan(session)[:fetch]
        else:
            scores, ids = index.search(query, fetch, allowed=self.allowed)
            if int((ids[0] >= 0).sum()) < min(fetch, len(self.allowed)):  # an approximate index's usual breadth
                # saw too few of the set
                return self._scan(session)[:fetch]
        return [(float(s), int(i)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def _scan(self, session) -> list[tuple[float, int]]:
        """Every allowed clip by cosine, from the database's vectors: exact, whatever the index (a rare set is
        cheaper read than searched for in an approximate index that keeps few of them in its usual breadth)."""
        if self._scanned is None:
            ids = self.allowed.tolist()
            found: list[int] = []
            parts = [np.zeros(0, np.float32)]
            for start in range(0, len(ids), SCAN_CHUNK):
                vectors = repo.clip_vectors(session, ids[start : start + SCAN_CHUNK])
                chunk = [i for i in ids[start : start + SCAN_CHUNK] if i in vectors]
                found += chunk
                parts.append(cosine_scores(self.text_projection, chunk, vectors))
            scores = np.concatenate(parts)
            order = np.argsort(-scores, kind="stable")
            self._scanned = [(float(scores[j]), found[j]) for j in order]
        return self._scanned

    def score(self, ids: list[int], vectors: dict[int, np.ndarray], *, neighbours: bool = False) -> np.ndarray:
        """The clips' scores: exact, or stage 1's cosine once exact scoring is off or has failed. With
        `neighbours`, clips without prompt features score -inf instead (such a neighbour only stops a moment
        from growing into it; the query's ranking stays exact)."""
        scores = None
        if self.ranking == EXACT:
            try:
                scores = exact_scores(self.library, self.model, self.text_projection, ids, vectors)
            except MissingFeatures as missing:
                if neighbours:
                    return np.full(len(ids), -np.inf, np.float32)
                self.ranking, self.notice = COSINE, _lacking(missing.args[0])
        if scores is None:
            scores = cosine_scores(self.text_projection, ids, vectors)
        if self.exclude is not None and self.exclude in ids:
            scores[ids.index(self.exclude)] = -np.inf
        return scores

    def neighbour_score(self, ids: list[int], vectors: dict[int, np.ndarray]) -> np.ndarray:
        """Scores of a moment's would-be neighbours; a blank one scores -inf where blank clips are dropped (an
        example query's moment does not grow into the black stretch beside it)."""
        scores = self.score(ids, vectors, neighbours=True)
        if self.blank_policy == "drop" and ids:
            with self.library.store.session() as session:
                blank = repo.blank_clips(session, ids)
            scores[[n for n, i in enumerate(ids) if i in blank]] = -np.inf
        return scores

    def scored(self, session, found: list[tuple[float, int]]) -> list[tuple[float, int]]:
        """`found` rescored and ranked, best first."""
        vectors = repo.clip_vectors(session, [i for _, i in found])
        # a clip deleted since the index was loaded; the excluded clip
        found = [(s, i) for s, i in found if i in vectors and i != self.exclude]
        if self.blank_policy != "keep":
            blank = repo.blank_clips(session, [i for _, i in found])
            self.blank |= blank
            if self.blank_policy == "drop":
                found = [(s, i) for s, i in found if i not in blank]
        if self.ranking == EXACT and found:
            ids = [i for _, i in found]
            scores = self.score(ids, vectors)
            if self.ranking == EXACT:  # else features were missing: stage 1's order stands
                order = np.argsort(-scores, kind="stable")
                found = [(float(scores[j]), ids[j]) for j in order]
        if self.blank_policy == "sink":  # stable: each part keeps its order
            found = [f for f in found if f[1] not in self.blank] + [f for f in found if f[1] in self.blank]
        return found

    def sinks(self, clip_id: int) -> bool:
        """Whether the clip goes after the others of its block (a blank clip, unless blank clips are kept)."""
        return self.blank_policy == "sink" and clip_id in self.blank


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
