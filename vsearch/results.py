"""The shapes of search results: clips, moments and videos, each with its video's facts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GROUPS = ("moment", "clip", "video")  # result units; the first is the default


@dataclass(frozen=True)
class VideoFacts:
    duration: float | None
    width: int | None
    height: int | None  # upright, as a player shows it
    fps: float | None
    codec: str | None
    container: str | None
    recorded_at: str | None  # ISO 8601, UTC: the container's creation_time, else the file's mtime
    recorded_from: str | None  # "container" or "file"
    modified_at: str  # the file's mtime, ISO 8601, UTC

    @classmethod
    def of(cls, video) -> "VideoFacts":
        from datetime import datetime, timezone

        recorded = video.recorded_at
        if recorded is not None and recorded.tzinfo is None:  # SQLite hands back naive UTC
            recorded = recorded.replace(tzinfo=timezone.utc)
        modified = datetime.fromtimestamp(video.mtime_ns / 1e9, timezone.utc)
        return cls(video.duration, video.width, video.height, video.fps, video.codec, video.container,
                   recorded.isoformat() if recorded else None, video.recorded_from, modified.isoformat())


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float
    clip_id: int
    video_id: int
    path: str
    start: float
    end: float
    video: VideoFacts | None = None
    relevance: float | None = None  # in [0, 1], the same scale for every query (vsearch.relevance)
    # copies of this footage in other files, folded into this result: {video_id, clip_id, path, start, end}
    also_in: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class MomentResult:
    rank: int
    score: float  # the best clip's exact score
    clip_id: int  # the best clip
    video_id: int
    path: str
    start: float
    end: float
    peak: float  # the best clip's midpoint
    clip_ids: list[int]
    video: VideoFacts | None = None
    relevance: float | None = None  # in [0, 1], the same scale for every query (vsearch.relevance)
    # copies of this footage in other files, folded into this result: {video_id, clip_id, path, start, end}
    also_in: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class VideoResult:
    rank: int
    score: float  # its best moment's
    video_id: int
    path: str
    moments: list[MomentResult]  # its best few, best first
    total_moments: int  # how many of its moments the search found
    video: VideoFacts | None = None
    relevance: float | None = None  # in [0, 1], the same scale for every query (vsearch.relevance)
    # copies of this footage in other files, folded into this result: {video_id, clip_id, path, start, end}
    also_in: list[dict] = field(default_factory=list)


@dataclass
class SearchResponse:
    query: str
    model: str
    took_ms: float
    ranking: str  # EXACT or COSINE: which ranking produced the scores
    candidates: int = 0
    notice: str | None = None
    results: list = field(default_factory=list)
    group: str = "clip"
    more: bool = False  # whether a next page may hold results
    min_relevance: float = 0.0  # the cut-off the results passed
    sort: str = "relevance"
    below_cutoff: list = field(default_factory=list)  # nothing passed: the best found, below the cut-off

    @property
    def no_good_match(self) -> bool:
        """Nothing passed the cut-off, though the search found results below it."""
        return not self.results and bool(self.below_cutoff)

    def as_json(self) -> dict:
        data = {
            "query": self.query,
            "model": self.model,
            "took_ms": round(self.took_ms, 3),
            "ranking": self.ranking,
            "group": self.group,
            "candidates": self.candidates,
            "results": [asdict(r) for r in self.results],
            "min_relevance": self.min_relevance,
            "sort": self.sort,
        }
        if self.no_good_match:
            data["no_good_match"] = True
            data["below_cutoff"] = [asdict(r) for r in self.below_cutoff]
        if self.notice:
            data["notice"] = self.notice
        return data
