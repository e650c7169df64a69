"""Group: exact-scored clips into moments (runs of neighbouring clips of one video) and moments into videos.

A moment is a maximal run of overlapping or adjacent clips of one video (consecutive ordinals) that all
score within `tolerance` x the query's score spread of the run's best clip. The spread is the standard
deviation of the exact scores of the query's best stage-1 candidates (`search.SPREAD_CANDIDATES` of them):
a raw X-CLIP logit's level and range shift from query to query, so "close" is measured in the query's own
units.

A moment's edges do not depend on which clips were stage-1 candidates: starting from a candidate, the walk
first climbs to the best clip around it, then grows left and right, and every clip it looks at is scored
exactly (`rerank.Neighbourhood` fetches and scores them on demand). Candidates seed moments best first, and
moments keep that order: a page needs only the walks of the moments it shows (and those before it), and the
list never changes order as more of it is made, so pages never repeat or skip a moment. Moments of one video never overlap: a candidate
inside an earlier moment's span belongs to that moment, and a moment stops growing at a clip that overlaps
another one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ScoredClip:
    clip_id: int
    video_id: int
    ordinal: int
    start: float
    end: float
    score: float  # X-CLIP's exact score for the query


@dataclass
class Moment:
    video_id: int
    start: float
    end: float
    peak: float  # the best clip's midpoint
    score: float  # the best clip's exact score
    clip_id: int  # the best clip
    clip_ids: list[int]  # every clip of the run, in time order


# (video id, ordinal) -> that clip scored exactly, or None past the video's ends
Lookup = Callable[[int, int], "ScoredClip | None"]


def score_spread(scores: Iterable[float]) -> float:
    """The query's score spread: the standard deviation of its candidates' exact scores (0 for fewer than 2)."""
    values = np.asarray(list(scores), dtype=np.float64)
    return float(values.std()) if values.size > 1 else 0.0


@dataclass
class MomentGrouper:
    """Builds the moments of one query block by block; remembers the spans already taken in each video, so
    the moments of a later block never overlap those of an earlier one."""

    lookup: Lookup
    close: float  # how far below a run's best clip a member may score: tolerance x spread
    taken: dict[int, list[tuple[float, float]]] = field(default_factory=dict)  # video id -> moment spans

    def add(self, seed: ScoredClip) -> Moment | None:
        """The moment around `seed`, or None when an earlier moment holds it. Seeds are given best first, so
        moments come in the order their first clip has in the clip ranking (best first, except where a walk
        climbed to a clip stage 1 had not fetched, which then scores above its seed)."""
        if self._overlaps_taken(seed):
            return None
        best = self._climb(seed)
        members = self._grow(best)
        moment = Moment(best.video_id, members[0].start, members[-1].end, round((best.start + best.end) / 2, 6),
                        best.score, best.clip_id, [m.clip_id for m in members])
        self.taken.setdefault(best.video_id, []).append((moment.start, moment.end))
        return moment

    def group(self, candidates: list[ScoredClip]) -> list[Moment]:
        """The moments seeded by all of `candidates`, in seed order (best seed first)."""
        moments = [self.add(seed) for seed in sorted(candidates, key=lambda c: (-c.score, c.clip_id))]
        return [m for m in moments if m is not None]

    def _overlaps_taken(self, clip: ScoredClip) -> bool:
        return any(clip.start < end and start < clip.end for start, end in self.taken.get(clip.video_id, ()))

    def _free_neighbour(self, clip: ScoredClip, step: int) -> ScoredClip | None:
        neighbour = self.lookup(clip.video_id, clip.ordinal + step)
        if neighbour is None or self._overlaps_taken(neighbour):
            return None
        return neighbour

    def _climb(self, clip: ScoredClip) -> ScoredClip:
        """The best clip reached from `clip` by stepping to a better neighbour while there is one."""
        while True:
            better = [n for n in (self._free_neighbour(clip, -1), self._free_neighbour(clip, 1))
                      if n is not None and n.score > clip.score]
            if not better:
                return clip
            clip = max(better, key=lambda n: n.score)

    def _grow(self, best: ScoredClip) -> list[ScoredClip]:
        """The run around `best` of clips scoring within `close` of it, in time order."""
        floor = best.score - self.close
        members = [best]
        for step in (-1, 1):
            edge = best
            while (neighbour := self._free_neighbour(edge, step)) is not None and neighbour.score >= floor:
                members.append(neighbour)
                edge = neighbour
        return sorted(members, key=lambda m: m.ordinal)


@dataclass
class VideoGroup:
    video_id: int
    score: float  # its best moment's
    moments: list[Moment]  # its best few, best first
    total_moments: int  # how many of its moments were found


def group_videos(moments: list[Moment], per_video: int = 3) -> list[VideoGroup]:
    """One row per video, in the order of its best moment, with its best `per_video` moments."""
    groups: dict[int, VideoGroup] = {}
    for moment in moments:
        group = groups.get(moment.video_id)
        if group is None:
            group = groups[moment.video_id] = VideoGroup(moment.video_id, moment.score, [], 0)
        group.total_moments += 1
        if len(group.moments) < per_video:
            group.moments.append(moment)
    return list(groups.values())
