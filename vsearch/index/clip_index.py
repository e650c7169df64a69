"""The FAISS index of clip embeddings, keyed by clip id: search, add, remove, approximate build and tuning.

Small libraries get exact search (flat inner product). Past a size threshold (vsearch.index.policy)
an approximate index is built instead: an IVF index (k-means lists trained on the library's own
vectors, holding them as float16) by default, or an HNSW graph. Its search breadth (nprobe,
efSearch) is raised until recall@10 against exact search reaches the target (vsearch.index.tuning),
and that recall is recorded in its spec. Where the target cannot be reached, the library searches
exactly instead. This module knows nothing of the database or of files: vsearch.index.files saves
and reads an index, vsearch.index.sync keeps it in step with the store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from vsearch.index import tuning

log = logging.getLogger(__name__)

APPROXIMATE_KINDS = ("ivf", "hnsw")


@dataclass
class IndexSpec:
    kind: str = "flat"  # "flat" (exact), "ivf" or "hnsw"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 64
    nlist: int | None = None  # IVF: inverted lists (k-means centroids), from the library's size
    nprobe: int | None = None  # IVF: lists scanned per query, tuned
    recall_at_10: float | None = None  # measured against exact search when built
    # the kind the library's size asked for, where it differs: an approximate kind that could not
    # reach the recall target on these vectors, so the index fell back to exact search
    planned: str | None = None

    @property
    def chosen_kind(self) -> str:
        return self.planned or self.kind


class ClipIndex:
    """Inner-product search over L2-normalised clip vectors, ids = clip ids."""

    def __init__(self, dim: int, spec: IndexSpec | None = None, index=None, removed=()):
        self.dim = dim
        self.spec = spec or IndexSpec()
        self.index = index if index is not None else _new_index(dim, self.spec)
        # approximate indexes do not drop vectors (HNSW cannot; IVF's internal ids would no longer match
        # the id map): deleted ids are filtered out until the next rebuild
        self.removed: set[int] = set(int(i) for i in removed)
        self._gpu = None  # a copy on the GPU for exact search, where faiss-gpu is installed
        self._max_id: int | None = None  # highest id ever added (ids only grow), found once then kept
        self._apply_breadth()

    def _apply_breadth(self) -> None:
        if self.spec.kind == "hnsw":
            _inner(self.index).hnsw.efSearch = self.spec.ef_search
        elif self.spec.kind == "ivf" and self.spec.nprobe:
            _inner(self.index).nprobe = self.spec.nprobe

    def __len__(self) -> int:
        return int(self.index.ntotal) - len(self.removed)

    def ids(self) -> np.ndarray:
        """The clip ids in the index."""
        import faiss

        ids = faiss.vector_to_array(self.index.id_map)
        return ids[~np.isin(ids, list(self.removed))] if self.removed else ids

    @property
    def max_id(self) -> int:
        """The highest clip id added so far (0 for an empty index), without copying the id map each time."""
        if self._max_id is None:
            import faiss

            every = faiss.vector_to_array(self.index.id_map)
            self._max_id = int(every.max()) if len(every) else 0
        return self._max_id

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._gpu = None
        if len(ids):
            self._max_id = max(self.max_id, int(np.max(ids)))
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, np.int64))

    def remove(self, ids) -> None:
        ids = [int(i) for i in ids]
        if not ids:
            return
        if self.spec.kind == "flat":
            self._gpu = None
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
        else:
            self.removed.update(ids)

    def _searcher(self):
        """The index to search: a GPU copy of an exact index when faiss-gpu and a GPU are there."""
        import faiss

        if self.spec.kind != "flat" or not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
            return self.index
        if self._gpu is None:
            self._resources = getattr(self, "_resources", None) or faiss.StandardGpuResources()
            self._gpu = faiss.index_cpu_to_gpu(self._resources, 0, self.index)
        return self._gpu

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (len(queries), k'), k' = min(k, size); best first. `allowed`: search only
        among these ids (exact for the flat index; an approximate one scans its usual breadth, so it may
        return fewer than k of a rare set: see vsearch.search for the fallback)."""
        k = min(k, len(self))
        if k <= 0 or (allowed is not None and len(allowed) == 0):
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        fetch = min(k + len(self.removed), int(self.index.ntotal))
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        with _few_threads_for(len(queries)):
            if allowed is None:
                scores, ids = self._searcher().search(queries, fetch)
            else:
                scores, ids = self.index.search(queries, fetch, params=self._restricted(allowed))
        if not self.removed:
            return scores, ids
        keep = ~np.isin(ids, list(self.removed))
        rows = [(s[m][:k], i[m][:k]) for s, i, m in zip(scores, ids, keep)]
        width = min(len(r[0]) for r in rows)
        return np.stack([r[0][:width] for r in rows]), np.stack([r[1][:width] for r in rows])

    def _restricted(self, allowed: np.ndarray):
        """Search parameters that keep to `allowed`, at the index's tuned breadth (parameters passed to a search
        replace the index's own, so the breadth is set again here)."""
        import faiss

        self._selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))  # kept alive
        if self.spec.kind == "ivf":
            return faiss.SearchParametersIVF(sel=self._selector, nprobe=int(_inner(self.index).nprobe))
        if self.spec.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=self._selector, efSearch=int(_inner(self.index).hnsw.efSearch))
        return faiss.SearchParameters(sel=self._selector)

    @classmethod
    def from_chunks(cls, dim: int, spec: IndexSpec, chunks: Iterable[tuple[np.ndarray, np.ndarray]],
                    text_queries: Callable[[], np.ndarray | None] | None = None) -> "ClipIndex":
        """An index over every (ids, vectors) chunk; `text_queries()`, if given, returns encoded prompts
        to tune an approximate index with (called only when one is built)."""
        if spec.kind == "flat":
            index = cls(dim, spec)
            for ids, vectors in chunks:
                index.add(ids, vectors)
            return index
        chunks = list(chunks)
        if not chunks:
            return cls(dim, IndexSpec("flat", planned=spec.kind))
        ids, vectors = np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])
        del chunks
        return cls.approximate(dim, spec, ids, vectors, text_queries() if text_queries else None)

    @classmethod
    def approximate(cls, dim: int, spec: IndexSpec, ids: np.ndarray, vectors: np.ndarray,
                    text_queries: np.ndarray | None = None) -> "ClipIndex":
        """An approximate index over these vectors (IVF lists trained on them), tuned for the recall
        target; an exact index where the target cannot be reached."""
        vectors = np.ascontiguousarray(vectors, np.float32)
        if spec.kind == "ivf":
            spec.nlist = min(spec.nlist or tuning.plan_nlist(len(ids)), len(ids))
        index = cls(dim, spec)
        if spec.kind == "ivf":  # k-means on a sample: 40 vectors a list is enough for stable centroids
            sample = np.random.default_rng(0).choice(len(vectors), min(len(vectors), 40 * spec.nlist), replace=False)
            _inner(index.index).train(vectors[np.sort(sample)])
        index.add(ids, vectors)
        index.tune(vectors, text_queries)
        if spec.recall_at_10 < tuning.RECALL_TARGET:  # exact search is slower but never wrong
            log.warning("the %s index reached recall@10 %.3f < %.2f on this library; searching exactly",
                        spec.kind, spec.recall_at_10, tuning.RECALL_TARGET)
            del index
            # the parameters tried stay in the spec, so `vsearch status` can say what missed the target
            flat = cls(dim, replace(spec, kind="flat", planned=spec.kind))
            flat.add(ids, vectors)
            return flat
        return index

    def tune(self, vectors: np.ndarray, text_queries: np.ndarray | None = None) -> None:
        """Set the search breadth for the recall target on `vectors` (this index's, in insertion order)."""
        probe = tuning.Probe(vectors, text_queries)
        inner = _inner(self.index)  # searched by position, as the truth is
        if self.spec.kind == "hnsw":
            self.spec.ef_search, reached = tuning.tune_ef_search(inner, probe, self.spec.ef_search)
        else:
            self.spec.nprobe, reached = tuning.tune_nprobe(inner, probe)
        self.spec.recall_at_10 = round(reached, 4)
        self._apply_breadth()


@contextlib.contextmanager
def _few_threads_for(queries: int):
    """One OpenMP thread for a single query: FAISS parallelises over queries anyway, and its OpenMP
    runtime is not torch's, so its idle threads would spin on the cores the rerank needs next
    (a rerank right after a 2-thread search measured 15.8 ms against 8.7 ms)."""
    import faiss

    if queries > 1:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _new_index(dim: int, spec: IndexSpec):
    import faiss

    if spec.kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = spec.ef_construction
        inner.hnsw.efSearch = spec.ef_search
    elif spec.kind == "ivf":
        if not spec.nlist:
            raise ValueError("an IVF index needs its number of lists (nlist)")
        # Vectors kept as float16 in the lists: half the memory and half the bytes a query scans
        # (1M clips: 1.0 GB and 1.95 ms a query against 2.0 GB and 4.2 ms in float32; held-out text
        # queries' recall@10 0.97 against 0.98). Stage 2 reranks from the database's float32 vectors.
        # The Python wrapper keeps the coarse quantizer alive as long as the index.
        inner = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, spec.nlist,
                                              faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    elif spec.kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    else:
        raise ValueError(f"unknown index kind {spec.kind!r}")
    return faiss.IndexIDMap2(inner)


def _inner(index):
    import faiss

    return faiss.downcast_index(index.index)
