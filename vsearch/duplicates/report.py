"""What `vsearch duplicates` and GET /duplicates report: groups of copies (whole videos) and groups of
near-identical clips that different videos share, from the stored spans (vsearch.duplicates.finder)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from vsearch.duplicates.finder import THRESHOLD_KEY, find_spans, load_prints, stored_spans
from vsearch.duplicates.match import SharedSpan
from vsearch.store import repo
from vsearch.store.models import Clip, Video

CLIP_OVERLAP = 0.5  # a clip is in a span when this share of it is; its partner overlaps its mapped span as much


@dataclass
class _Sets:
    """Union-find over hashable items."""

    parent: dict

    def find(self, item):
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a, b) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list]:
        out = defaultdict(list)
        for item in list(self.parent):
            out[self.find(item)].append(item)
        return [sorted(members) for members in out.values() if len(members) > 1]


def library_duplicates(library, threshold: float | None = None) -> dict:
    """The library's copies and shared clips. At the threshold ingest keeps them current with (the setting),
    they are read as stored; at another one they are found again, in memory (nothing is stored)."""
    store = library.store
    threshold = library.settings.duplicate_threshold if threshold is None else float(threshold)
    with store.session() as session:
        stored_at = repo.get_meta(session, THRESHOLD_KEY)
        lacking = repo.videos_lacking_prints(session)
    if stored_at is not None and float(stored_at) == threshold:
        spans = stored_spans(store)
    else:
        spans = find_spans(load_prints(store), None, threshold)
    out = report(store, spans, threshold)
    out["videos_without_prints"] = [v.path for v in lacking]
    return out


def copy_groups(spans: list[SharedSpan]) -> list[set[int]]:
    """Sets of video ids that are copies of one another (joined through any chain of copies)."""
    sets = _Sets({})
    for span in spans:
        if span.kind == "copy":
            sets.join(span.video_a, span.video_b)
    return [set(group) for group in sets.groups()]


def report(store, spans: list[SharedSpan], threshold: float) -> dict:
    """{"threshold", "copies": [{videos, matches}], "shared_clips": [{clips}]} with paths and spans."""
    with store.session() as session:
        ids = {s.video_a for s in spans} | {s.video_b for s in spans}
        videos = {v.id: v for v in session.scalars(select(Video).where(Video.id.in_(ids)))} if ids else {}
        copies = copy_groups(spans)
        in_group = {video: number for number, group in enumerate(copies) for video in group}
        shared = [s for s in spans if s.kind == "shared" and not _same_group(in_group, s)]
        clips = _clips_of(session, {s.video_a for s in shared} | {s.video_b for s in shared})
    groups = []
    for group in sorted(copies, key=lambda g: min(videos[v].path for v in g)):
        members = sorted(group, key=lambda v: videos[v].path)
        matches = [_match(s, videos) for s in spans if s.kind == "copy" and s.video_a in group]
        groups.append({"videos": [_video(videos[v]) for v in members], "matches": matches})
    return {"threshold": threshold, "copies": groups, "shared_clips": _clip_groups(shared, clips, videos)}


def _same_group(in_group: dict, span: SharedSpan) -> bool:
    return span.video_a in in_group and in_group.get(span.video_a) == in_group.get(span.video_b)


def _video(video: Video) -> dict:
    return {"id": video.id, "path": video.path, "duration": video.duration}


def _match(span: SharedSpan, videos: dict) -> dict:
    return {"a": videos[span.video_a].path, "b": videos[span.video_b].path,
            "a_span": [round(span.a_start, 3), round(span.a_end, 3)],
            "b_span": [round(span.b_start, 3), round(span.b_end, 3)],
            "offset": span.offset, "frames": span.frames, "coverage": span.coverage, "similarity": span.similarity}


def _clips_of(session, video_ids: set[int]) -> dict[int, list[Clip]]:
    if not video_ids:
        return {}
    out = defaultdict(list)
    query = select(Clip).where(Clip.video_id.in_(video_ids), Clip.blank.is_(False)).order_by(Clip.ordinal)
    for clip in session.scalars(query):
        out[clip.video_id].append(clip)
    return out


def _overlap(start: float, end: float, low: float, high: float) -> float:
    return max(0.0, min(end, high) - max(start, low))


def _clip_groups(spans: list[SharedSpan], clips: dict[int, list[Clip]], videos: dict) -> list[dict]:
    """Clips of one video inside a shared span, each joined to the clip of the other video that shows the same
    footage (the one overlapping its span moved by the offset the most)."""
    sets, by_id = _Sets({}), {}
    for span in spans:
        for clip in clips.get(span.video_a, []):
            length = max(clip.end_time - clip.start_time, 1e-6)
            if _overlap(clip.start_time, clip.end_time, span.a_start, span.a_end) < CLIP_OVERLAP * length:
                continue
            start, end = clip.start_time + span.offset, clip.end_time + span.offset
            partner = max(clips.get(span.video_b, []), default=None,
                          key=lambda other: _overlap(start, end, other.start_time, other.end_time))
            if partner is None or _overlap(start, end, partner.start_time, partner.end_time) < CLIP_OVERLAP * length:
                continue
            by_id[clip.id], by_id[partner.id] = clip, partner
            sets.join(clip.id, partner.id)
    groups = [[by_id[i] for i in group] for group in sets.groups()]
    return [{"clips": [{"clip_id": c.id, "video_id": c.video_id, "path": videos[c.video_id].path,
                        "start": c.start_time, "end": c.end_time} for c in group]}
            for group in sorted(groups, key=lambda g: (videos[g[0].video_id].path, g[0].start_time))]
