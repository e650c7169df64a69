"""API response shapes (separate from the ORM models)."""

from __future__ import annotations

from pydantic import BaseModel


class VideoFacts(BaseModel):
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    codec: str | None
    container: str | None
    recorded_at: str | None  # ISO 8601 UTC: the container's creation_time, else the file's mtime
    recorded_from: str | None  # "container" or "file"
    modified_at: str


class Copy(BaseModel):
    """The same footage in another file (a copy, see GET /duplicates), folded into this result."""

    video_id: int
    clip_id: int  # the copy's own result there (its best clip)
    path: str
    start: float
    end: float


class Result(BaseModel):
    """A clip (group=clip)."""

    rank: int
    score: float
    clip_id: int
    video_id: int
    path: str
    start: float
    end: float
    thumbnail_url: str
    video_url: str
    preview_url: str  # a browser-playable transcode of the clip alone (starts at 0)
    playable: bool  # whether browsers play the original file (else use preview_url)
    video: VideoFacts | None = None
    relevance: float | None = None  # 0 to 1, the same scale for every query
    also_in: list[Copy] = []  # copies folded into this result (fold=true)


class MomentResult(Result):
    """A moment (group=moment): a run of neighbouring clips; clip_id and score are its best clip's."""

    peak: float  # the best clip's midpoint
    clip_ids: list[int]  # every clip of the run, in time order


class VideoResult(BaseModel):
    """group=video: one video, best first, with its best moments."""

    rank: int
    score: float
    video_id: int
    path: str
    video_url: str
    thumbnail_url: str  # its best moment's
    playable: bool
    moments: list[MomentResult]
    total_moments: int
    video: VideoFacts | None = None
    relevance: float | None = None  # its best moment's
    also_in: list[Copy] = []  # copies folded into its moments


class SearchPage(BaseModel):
    query: str
    model: str
    took_ms: float
    ranking: str
    group: str = "moment"
    candidates: int
    notice: str | None = None
    results: list[MomentResult] | list[Result] | list[VideoResult]
    offset: int
    next_offset: int | None
    min_relevance: float = 0.0  # the cut-off the results passed
    sort: str = "relevance"
    no_good_match: bool = False  # nothing passed the cut-off; below_cutoff holds the best found
    below_cutoff: list[MomentResult] | list[Result] | list[VideoResult] = []


class TimelineClip(BaseModel):
    clip_id: int
    start: float
    end: float
    score: float
    relevance: float


class TimelinePage(BaseModel):
    query: str
    video_id: int
    path: str
    ranking: str
    video: VideoFacts
    notice: str | None = None
    clips: list[TimelineClip]  # every clip of the video, in time order


class Health(BaseModel):
    status: str
    videos: int
    clips: int


class DuplicateVideo(BaseModel):
    id: int
    path: str
    duration: float | None


class CopyMatch(BaseModel):
    """Footage of `a` over a_span is footage of `b` over b_span (time in b ≈ time in a + offset)."""

    a: str
    b: str
    a_span: list[float]
    b_span: list[float]
    offset: float
    frames: int  # frames matched, in order
    coverage: float  # the larger share of either video's footage (by time) the match spans
    similarity: float  # mean fingerprint cosine of the matched frames


class CopyGroup(BaseModel):
    """Videos that are copies of one another (another container, codec, resolution, quality, or trimmed)."""

    videos: list[DuplicateVideo]
    matches: list[CopyMatch]


class SharedClip(BaseModel):
    clip_id: int
    video_id: int
    path: str
    start: float
    end: float


class SharedClips(BaseModel):
    """Near-identical clips of different videos that are not copies of each other (an opening, a shot)."""

    clips: list[SharedClip]


class DuplicatesPage(BaseModel):
    threshold: float
    copies: list[CopyGroup]
    shared_clips: list[SharedClips]
    videos_without_prints: list[str]  # indexed before fingerprints were kept: `vsearch db upgrade` adds them
