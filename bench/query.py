"""Warm query latency and memory by library size, exact (flat) vs the approximate indexes; prints JSON.

    python bench/query.py                           # 10k, 100k and 1M clips; flat, IVF and HNSW
    python bench/query.py --sizes 10000 100000 --kinds flat ivf

Clip vectors are synthetic (clustered, L2-normalised, 512-d as xclip-base-patch32); the text encoder
and the exact rerank are the real full-size X-CLIP (random weights). Per query: encode the text,
search k x overfetch candidates, read their prompt features from a feature store, rerank them.
Approximate indexes are built and tuned as the library builds them (ClipIndex.approximate, with
the library's tuning prompts); their recall@10 is measured on this script's own queries, which
the tuning never saw. Also printed: the cosine of the query-time text embeddings (bf16 where the
CPU has fast bf16) to fp32's, and the floors: the query's own matrix products timed alone.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import configure_process, full_size_checkpoint, machine  # noqa: E402

# none of them among the library's tuning prompts: the recall reported is for queries the tuning never saw
QUERIES = ["a person slicing vegetables", "a dog catching a frisbee", "traffic in the rain", "a man giving a speech",
           "kids on a trampoline", "a red sports car", "people hiking up a hill", "a woman reading a book",
           "a lighthouse at dusk", "a goal celebration"]


def index_bytes(index) -> int:
    """What the index holds in memory: its serialised size (vectors, ids, lists or graph)."""
    import faiss

    return int(faiss.serialize_index(index.index).nbytes)


def floors(model, candidates: int) -> dict:
    """The matrix products a query cannot skip, timed alone as the library runs them: every linear
    layer of the text tower on one 8-token prompt (it streams all the tower's weights, once per
    query), and the prompt generator's linear layers on one row per candidate (the exact rerank's
    per-candidate MLP; k and v are moved to the query side). Plus this machine's plain memory read rate."""
    import torch

    from vsearch.model.cpu_gemm import best_seconds

    big = torch.ones(2**27)  # 512 MB, far past any cache
    bandwidth = big.numel() * 4 / best_seconds(big.sum, 3)
    del big

    def linears_ms(module, rows: int, skip=()) -> tuple[float, int]:
        layers = [m for name, m in module.named_modules()
                  if isinstance(m, torch.nn.Linear) and not name.endswith(skip)]
        inputs = [torch.randn(rows, m.in_features, dtype=m.weight.dtype) for m in layers]
        with torch.inference_mode():
            seconds = best_seconds(lambda: [m(x) for m, x in zip(layers, inputs)], 5)
        return seconds * 1000, sum(m.weight.numel() * m.weight.element_size() for m in layers)

    text_ms, text_bytes = linears_ms(torch.nn.ModuleList([model.model.text_model, model.model.text_projection]), 8)
    rerank_ms, _ = linears_ms(model.model.prompts_generator, candidates, skip=("k_proj", "v_proj"))
    return {
        "memory_read_gb_per_s": round(bandwidth / 1e9, 1),
        "text_tower_weights_mb": round(text_bytes / 2**20, 1),
        "text_tower_linear_layers_ms": round(text_ms, 1),
        "text_tower_weight_stream_gb_per_s": round(text_bytes / text_ms / 1e6, 1),
        "rerank_linear_layers_ms": round(rerank_ms, 1),
    }


def text_fidelity(model, checkpoint: Path) -> dict | None:
    """Cosine of the query-time text embeddings to fp32's (None when the queries run in fp32)."""
    from vsearch.model.xclip import XClip

    if model.precision == "fp32":
        return None
    reference = XClip.load(str(checkpoint), device=model.device, precision="fp32",
                           cpu_linear=model.cpu_linear).embed_text(QUERIES)
    cosines = (model.embed_text(QUERIES) * reference).sum(axis=1)
    return {"precision": model.precision, "queries": len(QUERIES), "min": round(float(cosines.min()), 6)}


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(16, n // 500), dim)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = centres[rng.integers(0, len(centres), stop - start)]
        chunk += rng.standard_normal(chunk.shape).astype(np.float32) * 0.8
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def main() -> None:
    cpu_linear = configure_process().cpu_linear
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf", "hnsw"], choices=["flat", "ivf", "hnsw"])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--overfetch", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="passes over the query list")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                        help="as vsearch's --precision (auto: what a query runs with by default)")
    args = parser.parse_args()

    from vsearch.index.clip_index import ClipIndex, IndexSpec
    from vsearch.index.features import FeatureStore
    from vsearch.index.policy import spec_for
    from vsearch.index.tuning import TUNING_PROMPTS, exact_neighbours, recall
    from vsearch.model.xclip import XClip, normalize_rows

    checkpoint = args.checkpoint or full_size_checkpoint(None)
    model = XClip.load(str(checkpoint), device="auto", precision=args.precision, cpu_linear=cpu_linear)
    dim, tokens = model.embed_dim, model.prompt_tokens
    scratch = Path(tempfile.mkdtemp())
    pool = 2_000  # distinct feature records; candidate ids map onto them (the cost is per candidate)
    store = FeatureStore(scratch / "features.f16", tokens, dim)
    store.write(np.arange(pool), np.random.default_rng(1).standard_normal((pool, tokens, dim)).astype(np.float32))
    fetch = args.k * args.overfetch
    tuning_text = model.embed_text(TUNING_PROMPTS)  # what the library tunes with (Library._tuning_queries)
    held_out = model.embed_text(QUERIES)
    report = {"machine": machine(), "precision": model.precision, "k": args.k, "candidates": fetch,
              "text_cosine_to_fp32": text_fidelity(model, checkpoint), "floors": floors(model, fetch), "sizes": {}}
    print(json.dumps({k: report[k] for k in ("text_cosine_to_fp32", "floors")}), file=sys.stderr)
    for size in args.sizes:
        vectors = clustered(size, dim, seed=size)
        ids = np.arange(size, dtype=np.int64)
        truth = exact_neighbours(vectors, held_out)
        row = {}
        for kind in args.kinds:
            gc.collect()
            started = time.perf_counter()
            if kind == "flat":
                index = ClipIndex(dim, IndexSpec(kind))
                index.add(ids, vectors)
            else:
                index = ClipIndex.approximate(dim, spec_for(size, 1, kind), ids, vectors, tuning_text)
            build_s = time.perf_counter() - started
            memory = index_bytes(index) / 2**20
            held_out_recall = recall(index, held_out, truth)  # ids are positions here, as in the truth
            latencies, search_ms, text_ms, read_ms, rerank_ms = [], [], [], [], []
            for _ in range(args.repeats):
                for text in QUERIES:
                    started = time.perf_counter()
                    projection = model.text_projections([text])[0]
                    t_search = time.perf_counter()
                    scores, found = index.search(normalize_rows(projection)[None], fetch)
                    t_read = time.perf_counter()
                    features, _ = store.read(found[0] % pool)
                    t_rerank = time.perf_counter()
                    model.scorer(projection, vectors[found[0]], features)
                    done = time.perf_counter()
                    latencies.append((done - started) * 1000)
                    text_ms.append((t_search - started) * 1000)
                    search_ms.append((t_read - t_search) * 1000)
                    read_ms.append((t_rerank - t_read) * 1000)
                    rerank_ms.append((done - t_rerank) * 1000)
            row[kind] = {
                "build_s": round(build_s, 2),
                "index_memory_mb": round(memory, 1),
                "text_encoding_ms_p50": round(float(np.percentile(text_ms, 50)), 2),
                "search_ms_p50": round(float(np.percentile(search_ms, 50)), 2),
                "feature_read_ms_p50": round(float(np.percentile(read_ms, 50)), 2),
                "rerank_ms_p50": round(float(np.percentile(rerank_ms, 50)), 2),
                "query_ms_p50": round(float(np.percentile(latencies, 50)), 2),
                "query_ms_p99": round(float(np.percentile(latencies, 99)), 2),
                "recall_at_10_vs_exact": round(held_out_recall, 3),
                "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "searched": index.spec.kind,  # "flat" where an approximate kind missed the target
                "tuned_recall_at_10": index.spec.recall_at_10,
                **({"ef_search": index.spec.ef_search, "M": index.spec.hnsw_m} if kind == "hnsw" else {}),
                **({"nlist": index.spec.nlist, "nprobe": index.spec.nprobe} if kind == "ivf" else {}),
            }
            del index
        report["sizes"][str(size)] = row
        print(json.dumps({str(size): row}), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
