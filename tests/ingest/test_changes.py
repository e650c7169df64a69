"""What an ingest has to do, decided against a real store: new, unchanged, touched, moved, changed, gone."""

import os

import numpy as np
import pytest

from vsearch.ingest import changes
from vsearch.ingest.changes import content_hash, find_changes, prune, sweep
from vsearch.store import repo
from vsearch.store.db import open_store
from vsearch.store.models import Clip, Video


@pytest.fixture
def store(db_url):
    opened = open_store(db_url)
    yield opened
    opened.close()


def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _indexed(store, path, model="m", digest=None, clips=0) -> list[int]:
    """Record `path` as indexed, with `clips` clips; returns their ids."""
    stat = path.stat()
    with store.begin() as session:
        video = Video(path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns, status="indexed", model=model,
                      content_hash=digest or content_hash(path, stat.st_size), rotation=0, num_clips=clips)
        session.add(video)
        session.flush()
        rows = [Clip(video_id=video.id, ordinal=i, start_time=i, end_time=i + 1, frame_indices=[0], frame_times=[0.0],
                     model=model, embedding=np.zeros(4, np.float32).tobytes()) for i in range(clips)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_content_hash_reads_small_files_whole_and_samples_large_ones(tmp_path):
    small = _write(tmp_path / "a.mp4", b"x" * 1000)
    assert content_hash(small, 1000) != content_hash(_write(tmp_path / "b.mp4", b"x" * 999 + b"y"), 1000)
    block = 1 << 20
    data = bytearray(os.urandom(8 * block))
    big = _write(tmp_path / "big.mp4", bytes(data))
    digest = content_hash(big, len(data))
    data[2 * block] ^= 0xFF  # between the sampled blocks (start, middle, end): not read
    assert content_hash(_write(big, bytes(data)), len(data)) == digest
    data[len(data) - 10] ^= 0xFF  # in the last block
    assert content_hash(_write(big, bytes(data)), len(data)) != digest


def test_new_unchanged_touched_and_changed_files(store, tmp_path):
    new = _write(tmp_path / "lib" / "new.mp4", b"new video")
    same = _write(tmp_path / "lib" / "same.mp4", b"same video")
    touched = _write(tmp_path / "lib" / "touched.mp4", b"touched video")
    changed = _write(tmp_path / "lib" / "changed.mp4", b"changed video")
    other_model = _write(tmp_path / "lib" / "other.mp4", b"embedded by another model")
    for path in (same, touched, changed):
        _indexed(store, path)
    _indexed(store, other_model, model="n")
    os.utime(touched, ns=(1, 123_456_789))
    _write(changed, b"changed video, now longer")

    found = find_changes(store, [tmp_path / "lib"], "m")
    assert sorted(s.path.name for s in found.to_embed) == ["changed.mp4", "new.mp4", "other.mp4"]
    assert sorted(p.name for p in found.unchanged) == ["same.mp4", "touched.mp4"]
    assert found.seen == {str(p) for p in (new, same, touched, changed, other_model)} and not found.unreadable
    with store.session() as session:  # the touched file keeps its clips; its new mtime is recorded
        assert repo.video_by_path(session, str(touched)).mtime_ns == 123_456_789


def test_a_moved_file_takes_its_clips_along(store, tmp_path):
    old = _write(tmp_path / "old" / "v.mp4", b"a video that moves")
    _indexed(store, old)
    new = tmp_path / "new" / "v.mp4"
    new.parent.mkdir()
    old.rename(new)
    found = find_changes(store, [tmp_path / "new"], "m")
    assert found.unchanged == [new] and not found.to_embed
    with store.session() as session:
        assert repo.video_by_path(session, str(new)) is not None and repo.video_by_path(session, str(old)) is None


def test_a_copy_is_embedded_while_the_original_still_exists(store, tmp_path):
    original = _write(tmp_path / "a" / "v.mp4", b"a video and its copy")
    _indexed(store, original)
    copy = _write(tmp_path / "b" / "v.mp4", b"a video and its copy")
    assert [s.path for s in find_changes(store, [tmp_path / "b"], "m").to_embed] == [copy]


def test_a_file_that_cannot_be_read_is_reported_with_the_reason(store, tmp_path, monkeypatch):
    path = _write(tmp_path / "v.mp4", b"unreadable")

    def refuse(path, size):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(changes, "content_hash", refuse)
    found = find_changes(store, [tmp_path], "m")
    assert found.unreadable == [(path, 10, path.stat().st_mtime_ns, "cannot read file: Permission denied")]


def test_sweep_forgets_only_what_the_walk_did_not_find_under_its_roots(store, tmp_path):
    kept = _write(tmp_path / "lib" / "kept.mp4", b"kept")
    gone = _write(tmp_path / "lib" / "sub" / "gone.mp4", b"gone")
    elsewhere = _write(tmp_path / "other" / "gone_too.mp4", b"elsewhere")
    clips = {path: _indexed(store, path, clips=2) for path in (kept, gone, elsewhere)}
    with store.begin() as session:
        removed, clip_ids = sweep(session, [tmp_path / "lib"], {str(kept)})
    assert removed == [str(gone)] and sorted(clip_ids) == clips[gone]
    with store.begin() as session:  # a file named on the command line is no folder: nothing to sweep
        assert sweep(session, [kept], set()) == ([], [])
    with store.session() as session:
        assert sorted(v.path for v in repo.all_videos(session)) == sorted([str(kept), str(elsewhere)])


def test_prune_forgets_videos_whose_files_are_gone(store, tmp_path):
    kept = _write(tmp_path / "kept.mp4", b"kept")
    gone = _write(tmp_path / "gone.mp4", b"gone")
    _indexed(store, kept, clips=1)
    gone_clips = _indexed(store, gone, clips=3)
    gone.unlink()
    with store.begin() as session:
        assert prune(session) == ([str(gone)], gone_clips)
    with store.session() as session:
        assert [v.path for v in repo.all_videos(session)] == [str(kept)]
        assert len(list(repo.iter_embeddings(session))[0][0]) == 1
