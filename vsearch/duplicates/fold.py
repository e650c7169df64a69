"""Folding copies in results: a result from a copy of a video already shown (the same footage, by the
stored copy spans of vsearch.duplicates) joins that result's `also_in` instead of taking a place of its own.
In the video unit any result of a copy joins the copy's first shown result: one row for all the copies.

Results are folded as the search makes them, in rank order, so a result only ever folds into one ranked
above it and pages never repeat or skip (a page's results may still gain `also_in` entries from copies
ranked on later pages).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from vsearch.store import repo
from vsearch.store.models import DuplicateSpan

SAME_FOOTAGE = 0.5  # two spans show the same footage when they overlap by this share of the shorter one


@dataclass(frozen=True)
class _Link:
    """Time in `other` = time in this video + offset, within `span` (this video's matched span)."""

    other: int
    offset: float
    span: tuple[float, float]


@dataclass(frozen=True)
class _Shown:
    key: int  # the result's best clip
    start: float
    end: float


class Folder:
    """Decides, result by result in rank order, which fold into an earlier one from a copy."""

    def __init__(self, session, whole_videos: bool = False):
        """`whole_videos`: a result folds into the first shown result of any copy of its video, whatever its
        span (the video unit: the copies of one video are one row)."""
        self.session, self.whole_videos = session, whole_videos
        self.links: dict[int, list[_Link]] = defaultdict(list)
        for span in session.scalars(select(DuplicateSpan).where(DuplicateSpan.kind == "copy")):
            self.links[span.video_a].append(_Link(span.video_b, span.time_offset, (span.a_start, span.a_end)))
            self.links[span.video_b].append(_Link(span.video_a, -span.time_offset, (span.b_start, span.b_end)))
        self.shown: dict[int, list[_Shown]] = defaultdict(list)
        self.also_in: dict[int, list[dict]] = defaultdict(list)  # shown result's key -> the copies folded into it

    @property
    def active(self) -> bool:
        return bool(self.links)

    def folds(self, units: list) -> list[bool]:
        """For each unit (in rank order), whether it folds into an earlier shown one; the others are shown."""
        if not self.active:
            return [False] * len(units)
        places = self._places(units)
        out = []
        for unit in units:
            if _key(unit) not in places:  # deleted since it was ranked: shown as it is
                out.append(False)
                continue
            key, video, start, end = places[_key(unit)]
            into = self._copy_shown(video, start, end)
            if into is None:
                self.shown[video].append(_Shown(key, start, end))
            else:
                self.also_in[into].append({"video_id": video, "clip_id": key, "start": start, "end": end})
            out.append(into is not None)
        return out

    def _copy_shown(self, video: int, start: float, end: float) -> int | None:
        for link in self.links.get(video, ()):
            if self.whole_videos and self.shown.get(link.other):
                return self.shown[link.other][0].key
            if _overlap(start, end, *link.span) <= 0:
                continue
            low, high = start + link.offset, end + link.offset
            for shown in self.shown.get(link.other, ()):
                if _overlap(low, high, shown.start, shown.end) >= SAME_FOOTAGE * min(high - low, shown.end - shown.start):
                    return shown.key
        return None

    def _places(self, units: list) -> dict[int, tuple[int, int, float, float]]:
        """(key, video, start, end) of each unit; clips ranked as (score, id) pairs are looked up."""
        places = {_key(u): (u.clip_id, u.video_id, u.start, u.end) for u in units if not isinstance(u, tuple)}
        bare = [u[1] for u in units if isinstance(u, tuple)]
        if bare:
            for clip_id, (clip, video) in repo.clips_with_videos(self.session, bare).items():
                places[clip_id] = (clip_id, video.id, clip.start_time, clip.end_time)
        return places

    def copies_of(self, key: int, paths: dict[int, str]) -> list[dict]:
        """The copies folded into result `key`, with their paths."""
        return [{**entry, "path": paths[entry["video_id"]]} for entry in self.also_in.get(key, [])
                if entry["video_id"] in paths]


def _key(unit) -> int:
    return unit[1] if isinstance(unit, tuple) else unit.clip_id


def _overlap(start: float, end: float, low: float, high: float) -> float:
    return min(end, high) - max(start, low)
