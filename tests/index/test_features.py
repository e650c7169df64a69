import numpy as np

from vsearch.index.features import FeatureStore


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


def test_deleted_records_give_their_space_back(tmp_path):
    store = FeatureStore(tmp_path / "f.f16", 49, 512)  # base-patch32: 50 KB a clip
    values = np.ones((64, 49, 512), np.float32)
    store.write(np.arange(64), values)
    full = store.bytes_on_disk()
    store.discard(range(32))
    assert store.bytes_on_disk() <= full * 0.6 or full == 0
