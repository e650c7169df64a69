"""Filters inside the search: folders, recording dates, durations; checked against a brute-force scan of the
library's clips, with the exact index and with an approximate one, where a rare set must still fill the page."""

import os
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from tests.conftest import DATABASES, ingested_once
from tests.videos import GOOD
from vsearch.filters import FilterError, SearchFilter
from vsearch.search import search
from vsearch.status import iter_export, library_status
from vsearch.store import repo

UTC = timezone.utc


def test_parse_and_match():
    f = SearchFilter.parse(["/media/a", "*/2024/*"], "2024-06-01", "2024-07-01T12:00+02:00", 5, 60)
    assert f.folders == ("/media/a", "*/2024/*") and f.active
    assert f.after == datetime(2024, 6, 1, tzinfo=UTC) and f.before == datetime(2024, 7, 1, 10, tzinfo=UTC)
    june = datetime(2024, 6, 15, tzinfo=UTC)
    assert f.matches("/media/a/x.mp4", june, 10)
    assert f.matches("/other/2024/x.mp4", june, 10)
    assert not f.matches("/media/ab/x.mp4", june, 10)  # a prefix is a folder, not a string prefix
    assert not f.matches("/media/a/x.mp4", datetime(2024, 7, 1, 11, tzinfo=UTC), 10)
    assert not f.matches("/media/a/x.mp4", None, 10)  # no date: not in a date range
    assert not f.matches("/media/a/x.mp4", june, 61) and not f.matches("/media/a/x.mp4", june, 4)
    assert not SearchFilter.parse().active
    assert SearchFilter.parse(["relative/dir"]).folders == (os.path.join(os.getcwd(), "relative/dir"),)


@pytest.mark.parametrize("args, message", [
    ((["x"], "June"), "is not a date"),
    (((), "2024-07-01", "2024-06-01"), "nothing is recorded"),
    (((), None, None, 10, 5), "above the maximum"),
])
def test_bad_filters_say_what_is_expected(args, message):
    with pytest.raises(FilterError, match=message):
        SearchFilter.parse(*args)


@pytest.fixture(scope="module", params=["flat", "ivf"])
def filtered(request, tmp_path_factory, checkpoint, xclip, video_files):
    """The test videos with their mtimes set a day apart (their recording dates), exact or approximate index."""
    folder = tmp_path_factory.mktemp("dated")
    paths = []
    for day, name in enumerate(GOOD):
        source = video_files[name]
        target = folder / ("sub" if day % 2 else "top") / source.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(source.read_bytes())
        stamp = datetime(2024, 6, 1 + day, 12, tzinfo=UTC).timestamp()
        os.utime(target, (stamp, stamp))
        paths.append(target)
    threshold = 10_000 if request.param == "flat" else 2
    with ingested_once(DATABASES[-1], folder / "lib", checkpoint, xclip, paths, clip_seconds=1.0,
                       stride_seconds=1.0, index_threshold=threshold) as once:
        yield once.library, folder


def _brute_force(library, search_filter):
    """The clips of the videos that pass, found by reading every clip and its video."""
    with library.store.session() as session:
        videos = {v.path: v for v in repo.all_videos(session)}
    return {r["clip_id"] for r in iter_export(library, embeddings=False)
            if search_filter.matches(r["path"], videos[r["path"]].recorded_at, videos[r["path"]].duration)}


def _cases(folder):
    return [
        SearchFilter.parse([str(folder / "sub")]),
        SearchFilter.parse([str(folder / "top"), str(folder / "sub" / "vp9.webm")]),
        SearchFilter.parse(["*/sub/*.webm"]),
        SearchFilter.parse(after="2024-06-03", before="2024-06-05"),
        SearchFilter.parse(min_duration=5.5),
        SearchFilter.parse(max_duration=3.5, after="2024-06-02"),
        SearchFilter.parse([str(folder / "top")], after="2030-01-01"),  # nothing passes
    ]


def test_filters_return_exactly_the_matching_clips(filtered):
    library, folder = filtered
    from vsearch.timeline import timeline

    clips = library_status(library)["clips"]
    with library.store.session() as session:
        video_ids = [v.id for v in repo.all_videos(session)]
    exact = {c.clip_id: c.score for v in video_ids for c in timeline(library, v, "a white square").clips}
    assert len(exact) == clips
    for search_filter in _cases(folder):
        wanted = _brute_force(library, search_filter)
        results = search(library, "a white square", k=clips, overfetch=1, group="clip", filters=search_filter).results
        assert {r.clip_id for r in results} == wanted, search_filter
        assert [r.score for r in results] == pytest.approx([exact[r.clip_id] for r in results], rel=1e-5)
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        moments = search(library, "a white square", k=clips, group="moment", filters=search_filter).results
        assert {c for m in moments for c in m.clip_ids} <= wanted
        videos = search(library, "a white square", k=clips, group="video", filters=search_filter).results
        assert {c for v in videos for m in v.moments for c in m.clip_ids} <= wanted
        assert bool(videos) == bool(wanted)  # nothing passes: an empty page, not an error


def test_a_rare_set_still_fills_the_page(filtered, monkeypatch):
    """One short video among many: k results from it, with few candidates, through every retrieve path."""
    import vsearch.retrieve

    library, folder = filtered
    only = SearchFilter.parse([str(folder / "top" / "h264.mp4")])
    wanted = _brute_force(library, only)
    assert 3 <= len(wanted) < library_status(library)["clips"] / 4
    for scan_limit in (0, 10**6):  # the index's own search among the set, and a scan of it
        monkeypatch.setattr(vsearch.retrieve, "SCAN_CLIPS", scan_limit)
        results = search(library, "a dog", k=3, overfetch=1, group="clip", filters=only).results
        assert len(results) == 3 and {r.clip_id for r in results} <= wanted


def test_filters_on_the_command_line_and_over_http(filtered):
    from vsearch.api import create_app
    from vsearch.cli import cli

    library, folder = filtered
    settings = library.settings
    env = {"VSEARCH_DATA_DIR": str(settings.data_dir), "VSEARCH_DB_URL": settings.database_url,
           "VSEARCH_MODEL": settings.model, "VSEARCH_INDEX_THRESHOLD": str(settings.index_threshold)}
    run = CliRunner().invoke(cli, ["query", "a", "--json", "--group", "clip", "-k", "100", "--in",
                                   str(folder / "sub"), "--before", "2024-06-05"], env=env, catch_exceptions=False)
    assert run.exit_code == 0, run.output
    import json

    paths = {r["path"] for r in json.loads(run.stdout)["results"]}
    assert paths and all(p.startswith(str(folder / "sub")) for p in paths)
    bad = CliRunner().invoke(cli, ["query", "a", "--after", "last summer"], env=env)
    assert bad.exit_code == 2 and "is not a date" in bad.output
    with TestClient(create_app(settings, library=library)) as client:
        page = client.get("/search", params={"q": "a", "k": 100, "group": "clip", "in": str(folder / "sub"),
                                             "before": "2024-06-05"}).json()
        assert {r["path"] for r in page["results"]} == paths
        assert client.get("/search", params={"q": "a", "after": "June"}).status_code == 422
