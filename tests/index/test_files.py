"""A saved index: the FAISS file and its sidecar round-trip; damage is reported, not crashed on."""

import json

import numpy as np
import pytest

from tests.index.test_clip_index import unit_rows
from vsearch.index.clip_index import ClipIndex
from vsearch.index.files import IndexRecord, UnreadableIndex, read_index, read_record, save_index, sidecar_path
from vsearch.index.policy import spec_for


def test_an_index_round_trips_with_its_record(tmp_path):
    vectors = unit_rows(400)
    index = ClipIndex.approximate(8, spec_for(400, 300, "hnsw"), np.arange(400), vectors)
    index.remove([3])
    path = tmp_path / "index.faiss"
    save_index(path, index, "m", (400, 399, 79800))
    record = read_record(path)
    assert record == IndexRecord("m", 8, index.spec, (400, 399, 79800), 399, (3,))
    assert json.loads(sidecar_path(path).read_text())["kind"] == "hnsw"
    loaded = read_index(path, record)
    assert loaded.spec == index.spec and loaded.removed == {3} and len(loaded) == 399
    assert loaded.search(vectors[7:8], 1)[1][0, 0] == 7
    assert not list(tmp_path.glob("*.tmp"))


def test_no_record_without_the_file_or_a_readable_sidecar(tmp_path):
    path = tmp_path / "index.faiss"
    assert read_record(path) is None
    index = ClipIndex(8)
    save_index(path, index, "m", (0, 0, 0))
    assert read_record(path) is not None
    sidecar_path(path).write_text("{not json")
    assert read_record(path) is None
    sidecar_path(path).write_text(json.dumps({"model": "m", "dim": 8, "kind": "flat", "params": {"bogus": 1},
                                              "fingerprint": [0, 0, 0]}))
    assert read_record(path) is None
    save_index(path, index, "m", (0, 0, 0))
    path.unlink()
    assert read_record(path) is None


def test_a_damaged_file_is_unreadable(tmp_path):
    path = tmp_path / "index.faiss"
    save_index(path, ClipIndex(8), "m", (0, 0, 0))
    record = read_record(path)
    path.write_bytes(b"garbage")
    with pytest.raises(UnreadableIndex):
        read_index(path, record)


def test_a_file_and_a_sidecar_of_two_saves_are_unreadable_together(tmp_path):
    """Two processes saving one after the other can leave one's file beside the other's sidecar."""
    path, other = tmp_path / "index.faiss", tmp_path / "other" / "index.faiss"
    small, large = ClipIndex(8), ClipIndex(8)
    small.add(np.arange(3), unit_rows(3))
    large.add(np.arange(5), unit_rows(5))
    save_index(path, small, "m", (3, 2, 3))
    save_index(other, large, "m", (5, 4, 10))
    path.write_bytes(other.read_bytes())
    with pytest.raises(UnreadableIndex, match="sidecar says 3"):
        read_index(path, read_record(path))
