"""Video facts: the recording date from the container, else the file's mtime; libraries made before the
column get it on the next ingest or from `vsearch db upgrade`, without re-embedding."""

import os
from datetime import datetime, timezone

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from vsearch.cli import cli
from vsearch.ingest import ingest
from vsearch.media.probe import parse_creation_time, probe
from vsearch.search import search
from vsearch.store import repo
from vsearch.store.db import downgrade, make_engine

RECORDED = "2024-06-01T12:34:56.000000Z"


def _encode_dated(path, creation_time=RECORDED, seconds=3.0):
    import av

    with av.open(str(path), "w") as container:
        if creation_time:
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(int(seconds * 10)):
            frame = np.full((48, 64, 3), (index * 7) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("value, expected", [
    ("2024-06-01T12:34:56.000000Z", datetime(2024, 6, 1, 12, 34, 56, tzinfo=timezone.utc)),
    ("2024-06-01 12:34:56", datetime(2024, 6, 1, 12, 34, 56, tzinfo=timezone.utc)),
    ("2024-06-01T14:34:56+02:00", datetime(2024, 6, 1, 12, 34, 56, tzinfo=timezone.utc)),
    ("1904-01-01T00:00:00.000000Z", None),  # a QuickTime clock never set
    ("1970-01-01T00:00:00.000000Z", None),
    ("not a date", None), ("", None), (None, None),
])
def test_creation_time_parsing(value, expected):
    assert parse_creation_time(value) == expected


def test_probe_reads_the_containers_date(tmp_path):
    assert probe(_encode_dated(tmp_path / "dated.mp4")).created == datetime(2024, 6, 1, 12, 34, 56,
                                                                              tzinfo=timezone.utc)
    assert probe(_encode_dated(tmp_path / "plain.mp4", creation_time=None)).created is None


def test_ingest_records_the_date_and_results_carry_the_facts(library, tmp_path):
    dated = _encode_dated(tmp_path / "dated.mp4")
    plain = _encode_dated(tmp_path / "plain.mkv", creation_time=None)
    os.utime(plain, (1_600_000_000, 1_600_000_000))
    ingest(library, [dated, plain])
    facts = {r.path: r.video for r in search(library, "a", k=10, group="clip").results}
    assert facts[str(dated)].recorded_at == "2024-06-01T12:34:56+00:00"
    assert facts[str(dated)].recorded_from == "container"
    assert facts[str(plain)].recorded_at == "2020-09-13T12:26:40+00:00"
    assert facts[str(plain)].recorded_from == "file" and facts[str(plain)].container == "matroska,webm"
    assert (facts[str(dated)].width, facts[str(dated)].height) == (64, 48)
    assert facts[str(dated)].duration == pytest.approx(3.0) and facts[str(dated)].codec == "h264"


def _forget_dates(library):
    with library.store.begin() as session:
        session.execute(text("UPDATE videos SET recorded_at = NULL, recorded_from = NULL"))


def _dates(library):
    with library.store.session() as session:
        return {v.path: v.recorded_from for v in repo.all_videos(session)}


def test_older_libraries_get_their_dates_on_the_next_ingest_without_reembedding(library, tmp_path):
    dated = _encode_dated(tmp_path / "dated.mp4")
    ingest(library, [dated])
    _forget_dates(library)
    again = ingest(library, [dated])
    assert again.unchanged == 1 and not again.indexed
    assert _dates(library) == {str(dated): "container"}


def test_db_upgrade_migrates_and_fills_in_the_dates(settings, library, tmp_path):
    dated = _encode_dated(tmp_path / "dated.mp4")
    ingest(library, [dated])
    with library.store.session() as session:
        clips_before = repo.clip_ids_of(session, repo.video_by_path(session, str(dated)).id)
    library.close()
    engine = make_engine(settings.database_url)
    downgrade(engine, "0002")  # the schema before recording dates, with the video indexed
    engine.dispose()
    env = {"VSEARCH_DATA_DIR": str(settings.data_dir), "VSEARCH_DB_URL": settings.database_url,
           "VSEARCH_MODEL": settings.model}
    result = CliRunner().invoke(cli, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "recorded the dates of 1 video" in result.output
    from vsearch.library import Library

    reopened = Library(settings, model=library.model)
    try:
        assert _dates(reopened) == {str(dated): "container"}
        with reopened.store.session() as session:
            assert repo.clip_ids_of(session, repo.video_by_path(session, str(dated)).id) == clips_before
    finally:
        reopened.close()
