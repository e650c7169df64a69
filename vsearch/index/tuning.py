"""Tuning an approximate index: raise its search breadth until recall@10 against exact search
reaches RECALL_TARGET on the library's own vectors, and record the recall reached.

Two sets of queries, and the target must hold for each: stored clip vectors with noise added (a
query is never exactly a stored clip) and, when given, text prompts encoded by the library's model.
Text embeddings lie apart from the clips' (the modality gap), and such out-of-distribution queries
are the hard case: at 100k synthetic clips an HNSW graph needs efSearch 1024 for them against 128
for clip-like queries (bench/query.py). The recall recorded is the lower of the two.
"""

from __future__ import annotations

import numpy as np

from vsearch.relevance import EVERYDAY_PROMPTS

RECALL_TARGET = 0.95
MAX_EF_SEARCH = 2048

# Everyday descriptions of video moments, the kind of text an approximate index must answer well:
# encoded by the library's model, they are the second query set of the tuning.
TUNING_PROMPTS = EVERYDAY_PROMPTS


class Probe:
    """Query sets and their exact top-k neighbours (positions in `vectors`)."""

    def __init__(self, vectors: np.ndarray, text_queries: np.ndarray | None = None, count: int = 200, k: int = 10):
        rng = np.random.default_rng(0)
        clip_like = vectors[rng.choice(len(vectors), size=min(count, len(vectors)), replace=False)]
        clip_like = clip_like + rng.normal(scale=0.5 / np.sqrt(vectors.shape[1]), size=clip_like.shape)
        self.queries = [_unit_rows(clip_like)]
        if text_queries is not None and len(text_queries):
            self.queries.append(_unit_rows(text_queries))
        self.truth = [exact_neighbours(vectors, q, k) for q in self.queries]

    def recall(self, index) -> float:
        """The lowest mean recall@k over the query sets, of `index` searched by position."""
        return min(recall(index, q, t) for q, t in zip(self.queries, self.truth))


def _unit_rows(rows) -> np.ndarray:
    rows = np.asarray(rows, np.float32)
    return np.ascontiguousarray(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def exact_neighbours(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Positions of each query's top-k by inner product (brute force, without copying the vectors)."""
    import faiss

    return faiss.knn(np.ascontiguousarray(queries, np.float32), np.ascontiguousarray(vectors, np.float32), k,
                     metric=faiss.METRIC_INNER_PRODUCT)[1]


def recall(index, queries: np.ndarray, truth: np.ndarray) -> float:
    """Mean recall@k of `index` against the exact neighbours `truth` (the same ids)."""
    k = truth.shape[1]
    found = index.search(queries, k)[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))


def tune_ef_search(hnsw, probe: Probe, start: int) -> tuple[int, float]:
    """(efSearch, recall): efSearch doubled from `start` until the target or MAX_EF_SEARCH."""
    ef = start
    while True:
        hnsw.hnsw.efSearch = ef
        reached = probe.recall(hnsw)
        if reached >= RECALL_TARGET or ef >= MAX_EF_SEARCH:
            return ef, reached
        ef *= 2


def tune_nprobe(ivf, probe: Probe) -> tuple[int, float]:
    """(nprobe, recall): nprobe doubled from nlist/128 until the target or nlist/2 (beyond which a
    scan of half the library or more is no faster than exact search)."""
    nprobe, most = max(1, ivf.nlist // 128), max(1, ivf.nlist // 2)
    while True:
        ivf.nprobe = nprobe
        reached = probe.recall(ivf)
        if reached >= RECALL_TARGET or nprobe >= most:
            return nprobe, reached
        nprobe = min(most, nprobe * 2)


def plan_nlist(size: int) -> int:
    """Inverted lists for `size` vectors: the power of two nearest 4·√size (1024 at 100k, 4096 at 1M),
    so a probe scans a few hundred vectors; at most one list per 40 vectors (k-means needs that many
    to place a centroid) and at least 16. Always a power of two, so it changes only when the library
    has grown about 4x."""
    nlist = 2 ** int(round(np.log2(4 * np.sqrt(max(size, 1)))))
    cap = 2 ** int(np.floor(np.log2(max(size // 40, 16))))
    return int(max(16, min(nlist, cap, 65536)))
