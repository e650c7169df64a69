"""Index tuning: recall is measured against brute force, and the breadth grows until it is reached."""

import numpy as np

from vsearch.index import tuning
from vsearch.index.clip_index import ClipIndex, IndexSpec
from vsearch.index.tuning import Probe, exact_neighbours, plan_nlist, recall


def _clustered(rows=3000, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((30, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, 30, rows)] + 0.6 * rng.standard_normal((rows, dim)).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_exact_neighbours_are_the_brute_force_top_k():
    vectors, queries = _clustered(200), _clustered(5, seed=1)
    expected = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    np.testing.assert_array_equal(exact_neighbours(vectors, queries, 10), expected)


def test_recall_counts_the_true_neighbours_found():
    vectors = _clustered(500)
    flat = ClipIndex(16)
    flat.add(np.arange(500), vectors)
    queries = _clustered(20, seed=2)
    truth = exact_neighbours(vectors, queries)
    assert recall(flat.index, queries, truth) == 1.0
    assert recall(flat.index, queries, np.full_like(truth, -5)) == 0.0


def test_probe_holds_each_query_set_to_the_target():
    """The recall reported is the lower of the clip-like and the text query sets."""
    vectors = _clustered()
    probe = Probe(vectors, text_queries=_clustered(40, seed=7))
    assert len(probe.queries) == 2 and probe.truth[1].shape == (40, 10)
    perfect = ClipIndex(16)
    perfect.add(np.arange(len(vectors)), vectors)
    assert probe.recall(perfect.index) == 1.0


def test_nprobe_doubles_until_the_target_and_no_further():
    vectors = _clustered()
    index = ClipIndex(16, IndexSpec("ivf", nlist=64))
    inner = index.index.index
    import faiss

    ivf = faiss.downcast_index(inner)
    ivf.train(vectors)
    index.add(np.arange(len(vectors)), vectors)
    probe = Probe(vectors)
    nprobe, reached = tuning.tune_nprobe(ivf, probe)
    assert reached >= tuning.RECALL_TARGET and nprobe in (1, 2, 4, 8, 16, 32)
    if nprobe > 1:  # half the breadth was not enough
        ivf.nprobe = nprobe // 2
        assert probe.recall(ivf) < tuning.RECALL_TARGET


def test_ef_search_stops_at_the_cap_when_the_target_is_out_of_reach(monkeypatch):
    monkeypatch.setattr(tuning, "RECALL_TARGET", 1.01)
    vectors = _clustered(600)
    index = ClipIndex(16, IndexSpec("hnsw", hnsw_m=8))
    index.add(np.arange(len(vectors)), vectors)
    import faiss

    ef, reached = tuning.tune_ef_search(faiss.downcast_index(index.index.index), Probe(vectors), 256)
    assert ef == tuning.MAX_EF_SEARCH and reached <= 1.0


def test_plan_nlist_grows_with_the_square_root_of_the_size():
    assert [plan_nlist(n) for n in (400, 50_000, 100_000, 1_000_000)] == [16, 1024, 1024, 4096]
    assert plan_nlist(200_000) == plan_nlist(100_000) * 2  # a power of two: changes when the library grows ~4x


def test_the_tuning_prompts_are_everyday_descriptions():
    assert len(tuning.TUNING_PROMPTS) == len(set(tuning.TUNING_PROMPTS)) >= 40
