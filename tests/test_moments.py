"""Grouping clips into moments and videos, on hand-made scores (the search tests check it on a real library)."""

import pytest

from vsearch.moments import MomentGrouper, ScoredClip, group_videos, score_spread


def _video(video_id, scores, clip=4.0, stride=4.0, first_id=None):
    first_id = video_id * 100 if first_id is None else first_id
    return {(video_id, o): ScoredClip(first_id + o, video_id, o, o * stride, o * stride + clip, s)
            for o, s in enumerate(scores)}


class _Lookup(dict):
    def __init__(self, *videos):
        super().__init__()
        for video in videos:
            self.update(video)
        self.asked = set()

    def __call__(self, video_id, ordinal):
        self.asked.add((video_id, ordinal))
        return self.get((video_id, ordinal))


def test_spread_is_the_standard_deviation():
    assert score_spread([1.0, 3.0]) == pytest.approx(1.0)
    assert score_spread([5.0]) == 0.0


def test_a_run_of_close_clips_is_one_moment():
    lookup = _Lookup(_video(1, [1.0, 9.0, 9.5, 10.0, 9.2, 2.0]))
    moments = MomentGrouper(lookup, close=1.0).group([lookup[(1, 3)]])
    assert len(moments) == 1
    m = moments[0]
    assert (m.start, m.end, m.score, m.clip_id, m.peak) == (4.0, 20.0, 10.0, 103, 14.0)
    assert m.clip_ids == [101, 102, 103, 104]


def test_a_candidate_climbs_to_the_best_clip_around_it():
    """The candidate was not the run's best: its neighbour, never a candidate, scores higher."""
    lookup = _Lookup(_video(1, [0.0, 5.0, 8.0, 12.0, 0.0]))
    [moment] = MomentGrouper(lookup, close=4.5).group([lookup[(1, 1)]])
    assert moment.clip_id == 103 and moment.score == 12.0
    assert moment.clip_ids == [102, 103]  # 5.0 is more than 4.5 below 12.0


def test_edges_do_not_depend_on_the_candidates():
    lookup = _Lookup(_video(1, [0.0, 7.0, 9.0, 10.0, 8.0, 1.0]))
    seeds = [[lookup[(1, 3)]], [lookup[(1, 1)]], [lookup[(1, 4)], lookup[(1, 2)]]]
    spans = {tuple(m.clip_ids) for seed in seeds for m in MomentGrouper(_Lookup(lookup), close=3.0).group(seed)}
    assert spans == {(101, 102, 103, 104)}


def test_moments_of_one_video_never_overlap():
    # overlapping clips (stride 1 s, 4 s long): two peaks three clips apart
    lookup = _Lookup(_video(1, [9.0, 2.0, 2.0, 2.0, 9.5, 9.4, 2.0, 2.0], clip=4.0, stride=1.0))
    moments = MomentGrouper(lookup, close=1.0).group([lookup[(1, o)] for o in range(8)])
    spans = sorted((m.start, m.end) for m in moments)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end
    assert moments[0].clip_ids == [104, 105]  # the best first


def test_a_candidate_inside_a_moment_is_not_another_moment():
    lookup = _Lookup(_video(1, [10.0, 9.8, 9.9]))
    moments = MomentGrouper(lookup, close=0.5).group(list(lookup.values()))
    assert [m.clip_ids for m in moments] == [[100, 101, 102]]


def test_later_blocks_keep_clear_of_earlier_moments():
    lookup = _Lookup(_video(1, [10.0, 9.9, 1.0, 8.0, 7.9]))
    grouper = MomentGrouper(lookup, close=0.5)
    first = grouper.group([lookup[(1, 0)]])
    second = grouper.group([lookup[(1, 1)], lookup[(1, 4)]])
    assert [m.clip_ids for m in first] == [[100, 101]]
    assert [m.clip_ids for m in second] == [[103, 104]]


def test_videos_in_the_order_of_their_best_moment():
    lookup = _Lookup(_video(1, [5.0, 1.0, 6.0]), _video(2, [7.0]))
    moments = MomentGrouper(lookup, close=0.1).group([lookup[(1, 0)], lookup[(1, 2)], lookup[(2, 0)]])
    videos = group_videos(moments, per_video=1)
    assert [(v.video_id, v.score, v.total_moments, len(v.moments)) for v in videos] == [(2, 7.0, 1, 1), (1, 6.0, 2, 1)]
