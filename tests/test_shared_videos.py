"""The real videos in ../shared/videos (made by others), when that folder exists."""

from pathlib import Path

import pytest

from tests.conftest import SHARED_VIDEOS
from vsearch.ingest import ingest
from vsearch.search import search
from vsearch.status import iter_export

pytestmark = pytest.mark.skipif(not SHARED_VIDEOS.is_dir(), reason="../shared/videos is not present")


# Durations as the folder's README states them (FFmpeg's figures); default.mpv states none: 100 frames at 25 fps.
DURATIONS = {
    "Megamind.avi": 11.3, "Megamind_bugy.avi": 9.0, "VID_20191220_170832.mp4": 1.6, "default.mpv": 4.0,
    "display-dual-monitors.webm": 37.1, "message-board.ogv": 21.7, "movie-hello.avi": 8.4, "movie-hello.mp4": 8.3,
    "movie-hello.mpeg": 8.3, "tree.avi": 29.6, "vtest.avi": 79.5, "xine-ui_logo.mpg": 1.0, "bigbuckbunny.mp4": 5.3,
    "bikes.mp4": 10.0, "carphone_distorted.mp4": 4.0, "carphone_pristine.mp4": 4.0,
}


def test_every_shared_video_is_indexed_over_its_full_duration(library):
    summary = ingest(library, [SHARED_VIDEOS])
    videos = sorted(p for p in SHARED_VIDEOS.iterdir() if p.suffix != ".md")
    assert summary.failed == []
    assert sorted(summary.indexed) == sorted(str(p) for p in videos)
    clips = {}
    for record in iter_export(library, embeddings=False):
        clips.setdefault(record["path"], []).append(record)
    for path in videos:
        records = sorted(clips[str(path)], key=lambda r: r["start"])
        assert records[0]["start"] == 0.0
        if path.name in DURATIONS:
            assert records[-1]["end"] == pytest.approx(DURATIONS[path.name], abs=0.15), path.name
        for before, after in zip(records, records[1:]):
            assert after["start"] <= before["end"] + 1e-6
    assert len(search(library, "people walking", k=10).results) == 10


def test_duplicates_in_the_shared_videos_are_exactly_the_three_known_groups(library):
    from vsearch.duplicates.report import library_duplicates

    ingest(library, [SHARED_VIDEOS])
    found = library_duplicates(library)
    groups = sorted(sorted(Path(v["path"]).name for v in group["videos"]) for group in found["copies"])
    assert groups == [["Megamind.avi", "Megamind_bugy.avi"], ["carphone_distorted.mp4", "carphone_pristine.mp4"],
                      ["movie-hello.avi", "movie-hello.mp4", "movie-hello.mpeg"]]
    assert found["videos_without_prints"] == []
