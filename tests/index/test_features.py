import numpy as np
import pytest

from vsearch.index import features
from vsearch.index.features import FeatureStore, _punch_hole


def test_write_read_discard(tmp_path):
    store = FeatureStore(tmp_path / "f.f16", 4, 3)
    values = np.random.default_rng(0).standard_normal((3, 4, 3)).astype(np.float32)
    store.write(np.array([2, 5, 9]), values)
    read, present = store.read([9, 2, 7, 100])
    assert present.tolist() == [True, True, False, False]
    np.testing.assert_allclose(read[0], values[2], rtol=1e-3, atol=1e-3)
    store.discard([2])
    assert store.read([2, 5])[1].tolist() == [False, True]
    reopened = FeatureStore.open(tmp_path / "f.f16")
    assert (reopened.tokens, reopened.dim) == (4, 3) and reopened.read([5])[1].all()
    assert store.bytes_on_disk() > 0
    store.clear()
    assert FeatureStore.open(tmp_path / "f.f16") is None


def _hole_punching_works(folder) -> bool:
    probe = folder / "probe"
    probe.write_bytes(b"\1" * (1 << 20))
    with open(probe, "r+b") as handle:
        return _punch_hole(handle.fileno(), 0, 1 << 20)


def test_deleted_records_give_their_space_back(tmp_path):
    if not _hole_punching_works(tmp_path):
        pytest.skip("this file system cannot punch holes (deleted records are zeroed instead)")
    store = FeatureStore(tmp_path / "f.f16", 49, 512)  # base-patch32: 50 KB a clip
    values = np.ones((64, 49, 512), np.float32)
    store.write(np.arange(64), values)
    full = store.bytes_on_disk()
    assert full >= 64 * 49 * 512 * 2
    store.discard(range(32))
    assert store.bytes_on_disk() <= full * 0.6
    assert not store.read(range(32))[1].any() and store.read(range(32, 64))[1].all()


def test_without_hole_punching_deleted_records_are_zeroed(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "_punch_hole", lambda fd, offset, length: False)
    store = FeatureStore(tmp_path / "f.f16", 4, 3)
    store.write(np.arange(4), np.ones((4, 4, 3), np.float32))
    store.discard([1, 2])
    assert store.read(range(4))[1].tolist() == [True, False, False, True]
    with open(tmp_path / "f.f16", "rb") as handle:
        assert set(handle.read()[24:72]) == {0}
