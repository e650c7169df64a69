import numpy as np

from vsearch.store import repo
from vsearch.store.db import open_store
from vsearch.store.models import Clip, Video


def _video(path, **extra):
    values = dict(path=path, size=1, mtime_ns=1, content_hash="h", status="indexed", rotation=0, num_clips=0)
    values.update(extra)
    return Video(**values)


def _clip(video_id, ordinal):
    return Clip(
        video_id=video_id,
        ordinal=ordinal,
        start_time=ordinal * 4.0,
        end_time=ordinal * 4.0 + 4,
        frame_indices=[0, 1],
        frame_times=[0.0, 0.5],
        model="m",
        embedding=np.full(4, ordinal, np.float32).tobytes(),
    )


def test_clips_round_trip_and_ids_are_never_reused(db_url):
    store = open_store(db_url)
    with store.begin() as session:
        video = _video("/v/a.mp4")
        session.add(video)
        session.flush()
        session.add_all([_clip(video.id, 0), _clip(video.id, 1)])
    with store.begin() as session:
        video = repo.video_by_path(session, "/v/a.mp4")
        first = repo.delete_clips_of(session, video.id)
        session.add(_clip(video.id, 0))
    with store.session() as session:
        ids = [int(i) for chunk, _ in repo.iter_embeddings(session) for i in chunk]
        assert len(ids) == 1 and ids[0] > max(first)
        assert repo.fingerprint(session).as_list() == [1, ids[0], ids[0]]
    store.close()


def test_videos_under_escapes_like_wildcards(db_url):
    store = open_store(db_url)
    with store.begin() as session:
        session.add_all([_video("/lib/a_b/x.mp4", content_hash="1"), _video("/lib/aXb/y.mp4", content_hash="2")])
    with store.session() as session:
        assert [v.path for v in repo.videos_under(session, "/lib/a_b")] == ["/lib/a_b/x.mp4"]
        assert len(repo.videos_under(session, "/lib")) == 2
    store.close()
