"""Keeping the saved index in step with the vectors it is built from (an in-memory source here;
tests/test_library.py runs the same against the real database)."""

import numpy as np
import pytest

from tests.index.test_clip_index import unit_rows
from vsearch.index import files, sync, tuning


class Vectors:
    """A store of clip vectors in memory: what sync reads from the database, without one."""

    def __init__(self, count, dim=8):
        self.ids = np.arange(1, count + 1)
        self.vectors = unit_rows(count, dim)
        self.reads = 0

    def fingerprint(self):
        return (len(self.ids), int(self.ids.max(initial=0)), int(self.ids.sum()))

    def chunks(self):
        self.reads += 1
        yield self.ids, self.vectors

    def delete(self, ids):
        keep = ~np.isin(self.ids, ids)
        self.ids, self.vectors = self.ids[keep], self.vectors[keep]


def target(tmp_path, threshold=1000, approximate="ivf", model="m"):
    return sync.IndexTarget(tmp_path / "index.faiss", model, 8, threshold, approximate)


def test_a_missing_index_is_built_and_saved_then_read_back(tmp_path):
    source = Vectors(12)
    index = sync.open_index(target(tmp_path), source)
    assert len(index) == 12 and source.reads == 1 and files.read_record(tmp_path / "index.faiss").size == 12
    again = sync.open_index(target(tmp_path), source)
    assert len(again) == 12 and source.reads == 1  # read from the file, not rebuilt


def test_a_stale_unreadable_or_other_model_index_is_rebuilt(tmp_path):
    source = Vectors(12)
    sync.open_index(target(tmp_path), source)
    source.delete([1])
    assert len(sync.open_index(target(tmp_path), source)) == 11 and source.reads == 2
    (tmp_path / "index.faiss").write_bytes(b"garbage")
    assert len(sync.open_index(target(tmp_path), source)) == 11 and source.reads == 3
    assert sync.open_index(target(tmp_path, model="n"), source) is not None and source.reads == 4


def test_past_the_threshold_an_approximate_index_tuned_with_the_text_queries(tmp_path):
    source, calls = Vectors(400), []

    def text_queries():
        calls.append(1)
        return unit_rows(20, seed=3)

    index = sync.open_index(target(tmp_path, threshold=300), source, text_queries)
    assert index.spec.kind == "ivf" and calls == [1] and index.spec.recall_at_10 >= tuning.RECALL_TARGET
    assert files.read_record(tmp_path / "index.faiss").spec == index.spec
    # a smaller library (or a higher threshold) goes back to exact search
    assert sync.open_index(target(tmp_path, threshold=10_000), source).spec.kind == "flat"


def test_a_deferred_tuning_leaves_the_rebuild_to_a_later_caller(tmp_path):
    def deferred():
        raise sync.TuningDeferred()

    source = Vectors(400)
    assert sync.open_index(target(tmp_path, threshold=300), source, deferred) is None
    assert files.read_record(tmp_path / "index.faiss") is None and source.reads == 0  # nothing read for nothing
    # exact search needs no tuning: never deferred
    assert sync.open_index(target(tmp_path), source, deferred).spec.kind == "flat"


def test_save_rebuilds_where_the_policy_asks(tmp_path):
    source = Vectors(400)
    index = sync.open_index(target(tmp_path, threshold=300, approximate="hnsw"), source)
    removed = [int(i) for i in source.ids[:60]]  # 15 %: past the share of deletions an index keeps
    index.remove(removed)
    source.delete(removed)

    def deferred():
        raise sync.TuningDeferred()

    kept = sync.save(target(tmp_path, threshold=300, approximate="hnsw"), index, source, deferred)
    assert kept is index and files.read_record(tmp_path / "index.faiss").removed == tuple(sorted(removed))
    rebuilt = sync.save(target(tmp_path, threshold=300, approximate="hnsw"), index, source)
    assert rebuilt is not index and not rebuilt.removed and len(rebuilt) == 340
    assert files.read_record(tmp_path / "index.faiss").removed == ()


def test_save_keeps_an_index_that_fits(tmp_path):
    source = Vectors(12)
    index = sync.open_index(target(tmp_path), source)
    new = unit_rows(1, seed=4)
    source.ids, source.vectors = np.append(source.ids, 13), np.vstack([source.vectors, new])
    index.add(np.array([13]), new)
    assert sync.save(target(tmp_path), index, source) is index and source.reads == 1
    assert files.read_record(tmp_path / "index.faiss").fingerprint == source.fingerprint()


def test_rebuild_raises_where_the_file_cannot_be_written(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the data dir should be")
    with pytest.raises(OSError):
        sync.rebuild(sync.IndexTarget(blocked / "index.faiss", "m", 8, 1000), Vectors(3))
    assert len(sync.open_index(sync.IndexTarget(blocked / "index.faiss", "m", 8, 1000), Vectors(3))) == 3
