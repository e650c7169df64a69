"""A video's timeline for a query: every clip of the video with its exact score, for the strip under each
result that shows where in the video the query matches."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vsearch.cutoff import Cutoff
from vsearch.results import VideoFacts
from vsearch.retrieve import QueryScorer
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library


@dataclass(frozen=True)
class TimelineClip:
    clip_id: int
    start: float
    end: float
    score: float
    relevance: float  # 0 to 1, as results have it (vsearch.relevance)


@dataclass
class Timeline:
    query: str
    video_id: int
    path: str
    ranking: str
    video: VideoFacts
    notice: str | None = None
    clips: list[TimelineClip] = field(default_factory=list)  # in time order

    def as_json(self) -> dict:
        data = asdict(self)
        if not self.notice:
            data.pop("notice")
        return data


def timeline(library: Library, video_id: int, text: str, rerank: bool = True) -> Timeline | None:
    """Every clip of the video scored for `text` (exactly, as search ranks them); None when the video is not
    an indexed one."""
    library.check_model()
    model = library.model
    bank = library.relevance_bank()
    query = QueryScorer(library, model, model.text_projections([text])[0], rerank)
    with library.store.session() as session:
        video = repo.indexed_video(session, video_id)
        if video is None:
            return None
        rows = repo.clips_in_range(session, video_id, 0, 2**31 - 1)
        facts, path = VideoFacts.of(video), video.path
        vectors = {row[0]: np.frombuffer(row[4], dtype=np.float32) for row in rows}
        scores = query.score([row[0] for row in rows], vectors)
        relevance = Cutoff(session, bank, query, text, 0.0)
        relevance.compute([(float(score), row[0]) for row, score in zip(rows, scores)])
    clips = [TimelineClip(row[0], row[2], row[3], float(score), relevance.values[row[0]])
             for row, score in zip(rows, scores)]
    return Timeline(text, video_id, path, query.ranking, facts, query.notice, clips)
