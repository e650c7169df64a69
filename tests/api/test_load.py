"""bench/load.py at small scale: `vsearch serve` searched by concurrent clients while `vsearch ingest` adds
videos beside it answers every request, within a bound, with flat memory, and stops cleanly."""

import sys

import pytest

from bench.load import cpu_environment, run_load
from vsearch.ingest import ingest
from vsearch.media.synthetic import encode

CLIENTS = 8
SECONDS = 8.0
NEW_VIDEOS = 4
CLIPS_PER_VIDEO = 3  # 9-second videos in 4-second windows
BOUND_MS = 10_000  # generous: 8 clients share one inference lock on a 2-core CI machine beside an ingest
RSS_GROWTH = 1.5  # the server's resident memory at the end against after warm-up

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the server's memory in /proc")


def test_searches_under_load_beside_an_ingest(library, video_files, tmp_path):
    ingest(library, [video_files["h264"]])
    incoming = tmp_path / "incoming"
    for number in range(NEW_VIDEOS):
        encode(incoming / f"new{number}.mp4", seconds=9.0, hue=30 + number)
    settings = library.settings
    env = cpu_environment(settings, VSEARCH_WORKERS="1", VSEARCH_BATCH_SIZE="2")

    report = run_load(env, [incoming], tmp_path, clients=CLIENTS, seconds=SECONDS, ingest_timeout=120)

    assert report["requests"] >= CLIENTS
    assert report["errors"] == {}, report
    assert report["latency_ms"]["max"] < BOUND_MS, report["latency_ms"]
    memory = report["server_rss_mb"]
    assert memory["end"] <= RSS_GROWTH * memory["after_warm_up"], memory
    assert report["ingest"]["exit_status"] == 0, report["ingest"]
    library_size = report["library"]
    assert library_size["after"]["clips_searchable"] == library_size["before"]["clips_searchable"] + (
        NEW_VIDEOS * CLIPS_PER_VIDEO
    )
    assert library_size["after"]["clips_in_database"] == library_size["after"]["clips_searchable"]
    assert report["server_stop"]["exit_status"] == 0, report["server_stop"]
