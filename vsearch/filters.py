"""Filters: which videos a search may answer from (folders, recording dates, durations), resolved to the clip
ids the retrieve stage searches among. Every filter is a property of a video, so a moment's neighbours pass
whenever its clips do."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from datetime import date, datetime, time, timezone

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vsearch.store.models import Clip, Video

_GLOB = set("*?[")


class FilterError(ValueError):
    """A filter value that cannot be understood; the message says what is expected."""


@dataclass(frozen=True)
class SearchFilter:
    folders: tuple[str, ...] = ()  # path prefixes (folders or files) or globs; a video under any of them passes
    after: datetime | None = None  # recorded at or after (UTC)
    before: datetime | None = None  # recorded before (UTC)
    min_duration: float | None = None  # seconds
    max_duration: float | None = None

    @classmethod
    def parse(cls, folders=(), after: str | None = None, before: str | None = None,
              min_duration: float | None = None, max_duration: float | None = None) -> SearchFilter:
        """From the words a user types: folders as given (made absolute unless globs), dates as ISO 8601
        (`2024-06-01`, `2024-06-01T18:00`, with or without a zone; no zone is UTC)."""
        if min_duration is not None and max_duration is not None and min_duration > max_duration:
            raise FilterError(f"the minimum duration ({min_duration:g} s) is above the maximum ({max_duration:g} s)")
        start, end = parse_date(after, "after"), parse_date(before, "before")
        if start is not None and end is not None and start >= end:
            raise FilterError(f"nothing is recorded after {after} and before {before}")
        return cls(tuple(_folder(f) for f in folders if f and f.strip()), start, end, min_duration, max_duration)

    @property
    def active(self) -> bool:
        return bool(self.folders) or any(v is not None for v in (self.after, self.before, self.min_duration,
                                                                   self.max_duration))

    def matches(self, path: str, recorded_at: datetime | None, duration: float | None) -> bool:
        if self.folders and not any(_under(path, folder) for folder in self.folders):
            return False
        if self.after is not None or self.before is not None:
            if recorded_at is None:
                return False
            recorded_at = recorded_at if recorded_at.tzinfo else recorded_at.replace(tzinfo=timezone.utc)
            if (self.after is not None and recorded_at < self.after) or (
                    self.before is not None and recorded_at >= self.before):
                return False
        if self.min_duration is not None or self.max_duration is not None:
            if duration is None:
                return False
            if (self.min_duration is not None and duration < self.min_duration) or (
                    self.max_duration is not None and duration > self.max_duration):
                return False
        return True

    def as_json(self) -> dict:
        return {"in": list(self.folders), "after": self.after.isoformat() if self.after else None,
                "before": self.before.isoformat() if self.before else None,
                "min_duration": self.min_duration, "max_duration": self.max_duration}


def parse_date(text: str | None, name: str) -> datetime | None:
    if text is None or not str(text).strip():
        return None
    text = str(text).strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text), time())
        except ValueError:
            raise FilterError(f"--{name} {text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _folder(text: str) -> str:
    text = os.path.expanduser(text.strip())
    if _GLOB & set(text):
        return text if os.path.isabs(text) or text.startswith("*") else os.path.join(os.getcwd(), text)
    return os.path.abspath(text).rstrip("/") or "/"


def _under(path: str, folder: str) -> bool:
    if _GLOB & set(folder):
        return fnmatch.fnmatchcase(path, folder) or fnmatch.fnmatchcase(path, folder.rstrip("/") + "/*")
    return path == folder or path.startswith(folder if folder.endswith("/") else folder + "/")


def allowed_clips(session: Session, search_filter: SearchFilter) -> np.ndarray:
    """The ids (int64, ascending) of the clips of indexed videos that pass the filter."""
    rows = session.execute(
        select(Video.id, Video.path, Video.recorded_at, Video.duration).where(Video.status == "indexed")
    ).all()
    videos = [video_id for video_id, path, recorded_at, duration in rows
              if search_filter.matches(path, recorded_at, duration)]
    ids: list[int] = []
    for start in range(0, len(videos), 500):
        chunk = videos[start : start + 500]
        ids += session.scalars(select(Clip.id).where(Clip.video_id.in_(chunk))).all()
    return np.sort(np.asarray(ids, dtype=np.int64))
