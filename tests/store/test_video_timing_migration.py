"""Migration 0002 adds how a video's frames were timed; the videos already indexed keep theirs (NULL: by their
timestamps), down and up again."""

from sqlalchemy import inspect, text

from vsearch.store.db import downgrade, make_engine, upgrade

_VIDEO = (
    "INSERT INTO videos (path, size, mtime_ns, content_hash, status, rotation, num_clips, updated_at) "
    "VALUES ('/v/a.mp4', 1, 2, 'h', 'indexed', 0, 3, CURRENT_TIMESTAMP)"
)


def _columns(engine) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns("videos")}


def test_the_timing_column_comes_and_goes_and_the_videos_stay(db_url):
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text(_VIDEO))
    upgrade(engine)
    assert "timing" in _columns(engine)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT path, num_clips, timing FROM videos")).all() == [("/v/a.mp4", 3, None)]
        connection.execute(text("UPDATE videos SET timing = 'frame order at 25 fps (all timestamps equal)'"))
    downgrade(engine, "0001")
    assert "timing" not in _columns(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT path, num_clips FROM videos")).all() == [("/v/a.mp4", 3)]
    engine.dispose()
