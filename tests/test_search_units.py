"""Moments and videos as result units, on a real library: checked against the clip unit's exact scores."""

import numpy as np
import pytest

from tests.conftest import DATABASES, ingested_once
from tests.videos import GOOD
from vsearch.search import search
from vsearch.status import library_status
from vsearch.store import repo

QUERIES = ["eating spaghetti", "a white ball", "people dancing"]


@pytest.fixture(scope="module", params=DATABASES)
def overlapping(request, tmp_path_factory, checkpoint, xclip, video_files):
    """One-second clips every half second: neighbours overlap, so moments must not."""
    with ingested_once(request.param, tmp_path_factory.mktemp("units"), checkpoint, xclip,
                       [video_files[name] for name in GOOD], clip_seconds=1.0, stride_seconds=0.5) as once:
        yield once.library


def _everything(library, query):
    """Every clip's exact score (the clip unit with every clip a candidate) and the library's clips by video."""
    clips = library_status(library)["clips"]
    exact = {r.clip_id: r.score for r in search(library, query, k=clips, overfetch=1, group="clip").results}
    with library.store.session() as session:
        spans = repo.clip_spans(session, list(exact))
    return exact, spans, clips


@pytest.mark.parametrize("query", QUERIES)
def test_moments_against_the_clip_unit(overlapping, query):
    """A moment's score is its best clip's exact score; its clips are one run of neighbours within the close
    margin of that score; it cannot grow further; moments of one video never overlap."""
    exact, spans, clips = _everything(overlapping, query)
    tolerance = overlapping.settings.moment_tolerance
    close = tolerance * float(np.std(list(exact.values())))  # fewer clips than SPREAD_CANDIDATES: all count
    response = search(overlapping, query, k=clips, overfetch=1, group="moment")
    moments = response.results
    assert response.ranking == "xclip" and moments
    assert [m.score for m in moments] == sorted((m.score for m in moments), reverse=True)
    by_position = {(v, o): clip_id for clip_id, (v, o, _, _) in spans.items()}
    covered = set()
    for m in moments:
        assert m.score == pytest.approx(max(exact[c] for c in m.clip_ids), rel=1e-5)
        assert exact[m.clip_id] == pytest.approx(m.score, rel=1e-5)
        ordinals = [spans[c][1] for c in m.clip_ids]
        assert ordinals == list(range(ordinals[0], ordinals[0] + len(ordinals)))
        assert all(spans[c][0] == m.video_id for c in m.clip_ids)
        assert all(exact[c] >= m.score - close - 1e-4 for c in m.clip_ids)
        assert (m.start, m.end) == (spans[m.clip_ids[0]][2], spans[m.clip_ids[-1]][3])
        assert m.peak == pytest.approx((spans[m.clip_id][2] + spans[m.clip_id][3]) / 2)
        covered |= set(m.clip_ids)
        others = [(o.start, o.end) for o in moments if o.video_id == m.video_id and o is not m]
        assert not any(m.start < end and start < m.end for start, end in others)
        for outside in (ordinals[0] - 1, ordinals[-1] + 1):  # maximal: the next clip out is not close, or taken
            neighbour = by_position.get((m.video_id, outside))
            if neighbour is not None and exact[neighbour] >= m.score - close + 1e-4:
                _, _, start, end = spans[neighbour]
                assert any(start < e and s < end for s, e in others)
    assert len(covered) == sum(len(m.clip_ids) for m in moments)  # no clip in two moments


def test_moment_edges_do_not_depend_on_the_candidates(overlapping, monkeypatch):
    """A search with few stage-1 candidates gives its best moment the clips a search with all of them gives
    a moment with the same best clip: the walk scores the neighbours itself."""
    import vsearch.search

    monkeypatch.setattr(vsearch.search, "SPREAD_CANDIDATES", 4)  # the same spread for both searches
    clips = library_status(overlapping)["clips"]
    same = 0
    for query in QUERIES + ["a red car", "blue sky and water", "a dog running", "snow"]:
        full = search(overlapping, query, k=clips, overfetch=1, group="moment").results
        few = search(overlapping, query, k=1, overfetch=4, group="moment").results[0]
        if few.clip_id == full[0].clip_id:
            assert few.clip_ids == full[0].clip_ids and (few.start, few.end) == (full[0].start, full[0].end)
            same += 1
    assert same >= 1


@pytest.mark.parametrize("group", ["moment", "video"])
def test_pages_never_repeat(overlapping, group):
    for query in QUERIES:
        pages = [search(overlapping, query, k=2, overfetch=2, offset=offset, group=group) for offset in (0, 2, 4, 6)]
        results = [r for page in pages for r in page.results]
        assert [r.rank for r in results] == list(range(1, len(results) + 1))
        if group == "video":
            assert len({r.video_id for r in results}) == len(results)
            assert all(r.moments and r.total_moments >= len(r.moments) for r in results)
        else:
            assert len({c for r in results for c in r.clip_ids}) == sum(len(r.clip_ids) for r in results)
            for a in results:
                for b in results:
                    if a is not b and a.video_id == b.video_id:
                        assert a.end <= b.start or b.end <= a.start
        # a page asked for alone is the same as when it is one of the series
        again = search(overlapping, query, k=2, overfetch=2, offset=2, group=group).results
        assert [r.rank for r in again] == [r.rank for r in pages[1].results]
        assert [r.video_id for r in again] == [r.video_id for r in pages[1].results]


def test_a_video_lists_its_best_moments(overlapping):
    videos = search(overlapping, "a white ball", k=len(GOOD), group="video").results
    assert [v.score for v in videos] == sorted((v.score for v in videos), reverse=True)
    for video in videos:
        assert video.score == video.moments[0].score
        assert [m.rank for m in video.moments] == list(range(1, len(video.moments) + 1))
        assert video.video.duration and video.video.width
