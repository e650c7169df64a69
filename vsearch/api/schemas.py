"""API response shapes (separate from the ORM models)."""

from __future__ import annotations

from pydantic import BaseModel


class Result(BaseModel):
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


class SearchPage(BaseModel):
    query: str
    model: str
    took_ms: float
    ranking: str
    candidates: int
    notice: str | None = None
    results: list[Result]
    offset: int
    next_offset: int | None


class Health(BaseModel):
    status: str
    videos: int
    clips: int
