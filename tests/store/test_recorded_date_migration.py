"""Migration 0003 adds the recording date and an index of clips by ordinal; going down and up again keeps
every video and clip (SQLite must not copy the videos table: with foreign keys on, its clips would go)."""

from sqlalchemy import inspect, text

from vsearch.store.db import downgrade, make_engine, upgrade

_VIDEO = (
    "INSERT INTO videos (path, size, mtime_ns, content_hash, status, rotation, num_clips, updated_at) "
    "VALUES ('/v/a.mp4', 1, 2, 'h', 'indexed', 0, 1, CURRENT_TIMESTAMP)"
)
_CLIP = (
    "INSERT INTO clips (video_id, ordinal, start_time, end_time, frame_indices, frame_times, model, embedding) "
    "VALUES (:video, 0, 0.0, 4.0, '[0]', '[0.0]', 'm', :embedding)"
)


def _columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("videos")}


def _rows(engine):
    with engine.connect() as connection:
        return (connection.execute(text("SELECT path FROM videos")).all(),
                connection.execute(text("SELECT ordinal, start_time FROM clips")).all())


def test_the_date_comes_and_goes_and_videos_and_clips_stay(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text(_VIDEO))
        video = connection.execute(text("SELECT id FROM videos")).scalar_one()
        connection.execute(text(_CLIP), {"video": video, "embedding": b"\0" * 8})
    assert {"recorded_at", "recorded_from"} <= _columns(engine)
    kept = _rows(engine)
    assert kept == ([("/v/a.mp4",)], [(0, 0.0)])
    downgrade(engine, "0002")
    assert "recorded_at" not in _columns(engine) and _rows(engine) == kept
    downgrade(engine, "0001")
    assert "timing" not in _columns(engine) and _rows(engine) == kept
    upgrade(engine)
    assert _rows(engine) == kept
    with engine.connect() as connection:
        assert connection.execute(text("SELECT recorded_at FROM videos")).scalar_one() is None
    engine.dispose()
