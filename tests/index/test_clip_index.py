"""The FAISS wrapper alone: exact and approximate search over clip ids, with no database or file."""

import numpy as np
import pytest

from vsearch.index import tuning
from vsearch.index.clip_index import ClipIndex, IndexSpec
from vsearch.index.policy import spec_for
from vsearch.index.tuning import exact_neighbours, plan_nlist


def unit_rows(rows, dim=8, seed=0):
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_add_search_remove():
    index = ClipIndex(8)
    vectors = unit_rows(20)
    index.add(np.arange(100, 120), vectors)
    scores, ids = index.search(vectors[3:4], 5)
    assert ids[0, 0] == 103 and abs(scores[0, 0] - 1) < 1e-5
    index.remove([103])
    _, ids = index.search(vectors[3:4], 5)
    assert 103 not in ids[0] and len(index) == 19 and index.max_id == 119


def test_search_on_fewer_vectors_than_k():
    index = ClipIndex(8)
    index.add(np.array([1, 2]), unit_rows(2))
    scores, ids = index.search(unit_rows(1, seed=1), 10)
    assert ids.shape == (1, 2)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_an_approximate_index_filters_removed_ids(kind):
    vectors = unit_rows(400)
    index = ClipIndex.approximate(8, spec_for(400, 300, kind), np.arange(400) + 1, vectors)
    assert index.spec.kind == kind and index.spec.recall_at_10 >= 0.95
    _, ids = index.search(vectors[7:8], 1)
    assert ids[0, 0] == 8
    index.remove([8])  # approximate indexes do not drop vectors: filtered out instead
    _, again = index.search(vectors[7:8], 5)
    assert 8 not in again[0] and again.shape == (1, 5) and len(index) == 399 and index.removed == {8}


def test_from_chunks_builds_over_every_chunk_and_calls_for_text_only_when_tuning():
    vectors = unit_rows(400)
    chunks = [(np.arange(0, 250), vectors[:250]), (np.arange(250, 400), vectors[250:])]
    calls = []

    def text_queries():
        calls.append(1)
        return unit_rows(20, seed=3)

    flat = ClipIndex.from_chunks(8, IndexSpec("flat"), iter(chunks), text_queries)
    assert len(flat) == 400 and not calls  # exact search needs no tuning (nor a model)
    ivf = ClipIndex.from_chunks(8, spec_for(400, 300), iter(chunks), text_queries)
    assert calls == [1] and ivf.spec.kind == "ivf" and len(ivf) == 400
    empty = ClipIndex.from_chunks(8, spec_for(400, 300), iter([]), text_queries)
    assert empty.spec.kind == "flat" and empty.spec.planned == "ivf" and len(empty) == 0


def test_ivf_keeps_its_recall_for_out_of_distribution_queries():
    """Queries unlike any stored vector (as text queries are to clips) are still answered with the target recall."""
    rng = np.random.default_rng(5)
    centres = rng.standard_normal((40, 32)).astype(np.float32)
    vectors = centres[rng.integers(0, 40, 4000)] + 0.8 * rng.standard_normal((4000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    text = unit_rows(30, dim=32, seed=9)
    index = ClipIndex.approximate(32, spec_for(4000, 1000), np.arange(4000) + 10, vectors, text)
    assert index.spec.kind == "ivf" and index.spec.nlist == plan_nlist(4000) and index.spec.recall_at_10 >= 0.95
    truth = exact_neighbours(vectors, text) + 10
    found = index.search(text, 10)[1]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]) >= tuning.RECALL_TARGET


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_an_index_that_misses_the_recall_target_falls_back_to_exact_search(monkeypatch, kind):
    monkeypatch.setattr(tuning, "RECALL_TARGET", 1.01)  # unreachable: as on vectors the index handles badly
    vectors = unit_rows(400)
    index = ClipIndex.approximate(8, spec_for(400, 300, kind), np.arange(400), vectors)
    assert index.spec.kind == "flat" and index.spec.planned == kind and index.spec.chosen_kind == kind
    assert index.spec.recall_at_10 is not None and len(index) == 400
    assert index.search(vectors[7:8], 1)[1][0, 0] == 7
