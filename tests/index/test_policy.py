"""The index policy on its own: records and library states, no database, no FAISS file."""

import pytest

from vsearch.index.clip_index import IndexSpec
from vsearch.index.files import IndexRecord
from vsearch.index.policy import LibraryState, rebuild_reason, spec_for
from vsearch.index.tuning import plan_nlist

FINGERPRINT = (1000, 1200, 654321)


def state(count=1000, threshold=50_000, approximate="ivf", model="m", dim=512, fingerprint=None):
    return LibraryState(model, dim, fingerprint or (count, 1200, 654321), threshold, approximate)


def record(spec=None, model="m", dim=512, fingerprint=FINGERPRINT, size=1000, removed=()):
    return IndexRecord(model, dim, spec or IndexSpec("flat"), fingerprint, size, tuple(removed))


def code(reason):
    return None if reason is None else reason.code


def test_a_matching_index_is_used():
    assert rebuild_reason(record(), state()) is None


def test_no_saved_index_is_missing():
    assert code(rebuild_reason(None, state())) == "missing"


def test_another_model_or_embedding_size_means_a_rebuild():
    assert code(rebuild_reason(record(model="other"), state())) == "model"
    assert "other" in str(rebuild_reason(record(model="other"), state()))
    assert code(rebuild_reason(record(dim=768), state())) == "dim"


def test_a_changed_store_is_stale():
    assert code(rebuild_reason(record(), state(fingerprint=(1000, 1201, 654322)))) == "stale"


def test_the_library_size_chooses_the_kind():
    assert spec_for(49_999, 50_000).kind == "flat"
    assert spec_for(50_000, 50_000) == IndexSpec("ivf", nlist=plan_nlist(50_000))
    assert spec_for(50_000, 50_000, "hnsw").kind == "hnsw"
    with pytest.raises(ValueError):
        spec_for(50_000, 50_000, "lsh")
    big = (60_000, 60_000, 1)
    assert code(rebuild_reason(record(fingerprint=big), state(fingerprint=big))) == "kind"
    ivf = IndexSpec("ivf", nlist=plan_nlist(60_000), nprobe=8)
    assert rebuild_reason(record(ivf, fingerprint=big), state(fingerprint=big)) is None
    assert code(rebuild_reason(record(ivf, fingerprint=big), state(fingerprint=big, approximate="hnsw"))) == "kind"


def test_an_exact_fallback_counts_as_the_kind_it_was_planned_as():
    """An approximate index that missed its recall target searches exactly and is not rebuilt each time."""
    big = (60_000, 60_000, 1)
    fallback = IndexSpec("flat", planned="ivf", nlist=plan_nlist(60_000), recall_at_10=0.5)
    assert rebuild_reason(record(fallback, fingerprint=big), state(fingerprint=big)) is None


def test_too_many_deleted_clips_mean_a_rebuild():
    spec = IndexSpec("hnsw", recall_at_10=0.99)
    big = (60_000, 60_000, 1)
    few = record(spec, fingerprint=big, size=60_000, removed=range(6000))
    many = record(spec, fingerprint=big, size=60_000, removed=range(7000))
    assert rebuild_reason(few, state(fingerprint=big, approximate="hnsw")) is None
    assert code(rebuild_reason(many, state(fingerprint=big, approximate="hnsw"))) == "removed"


def test_a_tiny_ivf_index_has_no_more_lists_than_vectors_and_is_not_outgrown():
    """Below 16 clips (a threshold that low) the lists are capped at the library's size, built and planned alike."""
    tiny = (10, 10, 55)
    spec = spec_for(10, 5)
    assert spec.nlist == 10
    assert rebuild_reason(record(IndexSpec("ivf", nlist=10, nprobe=2), fingerprint=tiny, size=10),
                          state(fingerprint=tiny, threshold=5)) is None


def test_an_ivf_index_is_outgrown_when_the_library_asks_for_more_lists():
    built_for = IndexSpec("ivf", nlist=plan_nlist(60_000), nprobe=8)
    grown = (300_000, 300_000, 1)
    assert plan_nlist(300_000) > built_for.nlist
    assert code(rebuild_reason(record(built_for, fingerprint=grown, size=300_000), state(fingerprint=grown))) == "outgrown"
    slightly = (80_000, 80_000, 1)
    assert rebuild_reason(record(built_for, fingerprint=slightly, size=80_000), state(fingerprint=slightly)) is None
