"""Rerank: X-CLIP's exact score (logits_per_video, video-conditioned prompt included) for any clips of the
library, from their stored embeddings and prompt features; and the scored neighbourhood of clips that
moments grow into."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vsearch.moments import ScoredClip
from vsearch.store import repo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vsearch.library import Library

RERANK_CHUNK = 512  # candidates scored per call: about 100 MB of float32 features at most
NEIGHBOUR_WINDOW = 4  # clips fetched on each side of a clip a moment reaches for, in one query


class MissingFeatures(Exception):
    """Some clips have no stored prompt features: the exact score cannot be computed for them."""


def exact_scores(library: Library, model, text_projection: np.ndarray, ids: list[int],
                 vectors: dict[int, np.ndarray]) -> np.ndarray:
    """X-CLIP's score of each clip of `ids` (with its embedding in `vectors`) for the query, in order."""
    store = library.features()
    if store is None:
        raise MissingFeatures(len(ids))
    logits = []
    for start in range(0, len(ids), RERANK_CHUNK):  # bounded memory however many candidates
        chunk = ids[start : start + RERANK_CHUNK]
        features, present = store.read(chunk)
        if not present.all():
            raise MissingFeatures(int((~present).sum()))
        logits.append(model.scorer(text_projection, np.stack([vectors[i] for i in chunk]), features))
    return np.concatenate(logits) if logits else np.zeros(0, np.float32)


def cosine_scores(text_projection: np.ndarray, ids: list[int], vectors: dict[int, np.ndarray]) -> np.ndarray:
    """Stage 1's score: the cosine of each clip's embedding and the text's."""
    if not ids:
        return np.zeros(0, np.float32)
    text = np.asarray(text_projection, np.float32)
    text = text / max(float(np.linalg.norm(text)), 1e-12)
    return np.stack([vectors[i] for i in ids]) @ text


class Neighbourhood:
    """Clips by (video, ordinal), scored the way the query's results are, fetched on demand: moments grow
    into clips that were not stage-1 candidates."""

    def __init__(self, session: Session, score):
        self.session = session
        self.score = score  # (ids, vectors) -> scores
        self.clips: dict[tuple[int, int], ScoredClip] = {}
        self.fetched: dict[int, list[tuple[int, int]]] = {}  # video id -> ordinal ranges looked up

    def add(self, clips: list[ScoredClip]) -> None:
        for clip in clips:
            self.clips[(clip.video_id, clip.ordinal)] = clip

    def candidates(self, scored: list[tuple[float, int]]) -> list[ScoredClip]:
        """The candidates (score, clip id) as ScoredClips, remembered."""
        spans = repo.clip_spans(self.session, [i for _, i in scored])
        clips = [ScoredClip(i, *spans[i], score) for score, i in scored if i in spans]
        self.add(clips)
        return clips

    def prefetch(self, seeds: list[ScoredClip]) -> None:
        """The clips around `seeds` (NEIGHBOUR_WINDOW on each side), fetched and scored in one go: the walks
        from the first seeds of a page then find their neighbours already scored."""
        wanted = {(c.video_id, o) for c in seeds
                  for o in range(max(0, c.ordinal - NEIGHBOUR_WINDOW), c.ordinal + NEIGHBOUR_WINDOW + 1)}
        wanted = sorted(key for key in wanted if key not in self.clips and not self._looked_up(*key))
        if wanted:
            self._fetch(repo.clips_at(self.session, wanted))
            for video_id, ordinal in wanted:
                self.fetched.setdefault(video_id, []).append((ordinal, ordinal))

    def _fetch(self, rows: list[tuple]) -> None:
        """Score and remember clips given as (id, video id, ordinal, start, end, embedding)."""
        fresh = [row for row in rows if (row[1], row[2]) not in self.clips]
        if fresh:
            vectors = {row[0]: np.frombuffer(row[5], dtype=np.float32) for row in fresh}
            scores = self.score([row[0] for row in fresh], vectors)
            self.add([ScoredClip(row[0], row[1], row[2], row[3], row[4], float(s)) for row, s in zip(fresh, scores)])

    def __call__(self, video_id: int, ordinal: int) -> ScoredClip | None:
        if ordinal < 0:
            return None
        found = self.clips.get((video_id, ordinal))
        if found is not None or self._looked_up(video_id, ordinal):
            return found
        low, high = max(0, ordinal - NEIGHBOUR_WINDOW), ordinal + NEIGHBOUR_WINDOW
        rows = repo.clips_in_range(self.session, video_id, low, high)
        self.fetched.setdefault(video_id, []).append((low, high))
        self._fetch([(row[0], video_id, *row[1:]) for row in rows])
        return self.clips.get((video_id, ordinal))

    def _looked_up(self, video_id: int, ordinal: int) -> bool:
        return any(low <= ordinal <= high for low, high in self.fetched.get(video_id, ()))
