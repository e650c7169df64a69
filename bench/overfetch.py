"""How many stage-1 candidates the exact X-CLIP rerank needs, and what the rerank costs; prints JSON.

    python bench/overfetch.py                      # ../shared/videos in 1 s clips every 0.45 s (500+ clips)
    python bench/overfetch.py --corpus DIR --clip-seconds 4
    python bench/overfetch.py --corpus WORK/test --checkpoint WORK/xclip-tuned --clip-seconds 4 \
        --stride-seconds 1 --queries WORK/test.jsonl       # bench/temporal.py's fine-tuned model

With the full-size X-CLIP architecture (random weights), the library is ingested once (kept in
--data-dir), then for each query the exact score of every clip (X-CLIP's logits_per_video, computed
from the stored features; tests/test_search.py proves it equals XCLIPModel.forward) is compared with
stage 1's cosine ranking: how often the exact top 10 lies wholly inside stage 1's top N.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import configure_process, full_size_checkpoint, machine  # noqa: E402

QUERIES = [
    "eating spaghetti", "a person walking", "people walking in the street", "a car driving", "a red car",
    "a man on a bike", "riding a bicycle", "a dog playing", "a cat", "a woman dancing", "playing sports",
    "go shopping", "a tree in the wind", "blue sky", "water", "a computer screen", "two monitors on a desk",
    "a movie title", "hello", "a logo", "a bunny in a field", "cooking dinner", "music and dancing",
    "a green field", "a white ball", "black and white video", "a yellow car", "people talking",
    "someone typing on a keyboard", "a phone video of a room", "a cartoon animal", "cars on a road at night",
]
SIZES = [10, 20, 30, 50, 100, 200, 500]


def timed(function, repeats: int = 30) -> float:
    function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 2)


def default_blas_generator(network):
    """The prompt generator exactly as transformers builds it (plain nn.Linear on the default BLAS)."""
    import copy
    from types import SimpleNamespace

    import torch

    generator = copy.deepcopy(network.prompts_generator)
    for module in generator.modules():
        if isinstance(module, torch.nn.Linear):
            module.__class__ = torch.nn.Linear
    return SimpleNamespace(prompts_generator=generator, logit_scale=network.logit_scale)


def main() -> None:
    cpu_linear = configure_process().cpu_linear
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = Path(__file__).resolve().parents[2] / "shared" / "videos"
    parser.add_argument("--corpus", type=Path, default=shared)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path.home() / ".cache" / "vsearch-bench" / "overfetch")
    parser.add_argument("--clip-seconds", type=float, default=1.0)
    parser.add_argument("--stride-seconds", type=float, default=0.45)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--queries", type=Path, help="a labels file (as for `vsearch eval`): its queries instead of "
                                                       "the built-in everyday ones")
    args = parser.parse_args()

    from vsearch.config import Settings
    from vsearch.ingest import ingest
    from vsearch.library import Library
    from vsearch.model.scoring import reference_scores
    from vsearch.model.xclip import normalize_rows
    from vsearch.store import repo

    queries = QUERIES
    if args.queries:
        from vsearch.evaluation.labels import read_labels

        queries = list(read_labels(args.queries).queries())
    checkpoint = args.checkpoint or full_size_checkpoint(None)
    settings = Settings(data_dir=args.data_dir, model=str(checkpoint), clip_seconds=args.clip_seconds,
                        stride_seconds=args.stride_seconds, cpu_linear=cpu_linear)
    library = Library(settings)
    summary = ingest(library, [args.corpus])
    with library.store.session() as session:
        ids, vectors = map(np.concatenate, zip(*repo.iter_embeddings(session)))
    features, present = library.features().read(ids)
    assert present.all(), "every clip needs its prompt features"
    model = library.model
    k = args.k

    import torch

    inside = {n: 0 for n in SIZES if n <= len(ids)}
    inside_mean_prompt = dict(inside)
    mean_features = torch.from_numpy(features.astype(np.float32).mean(axis=0, keepdims=True))
    stage1_differs = overlap = 0
    for query in queries:
        text = model.text_projections([query])[0]
        exact = model.scorer(text, vectors, features)
        exact_top = [int(i) for i in np.argsort(-exact, kind="stable")[:k]]
        cosine_order = np.argsort(-(vectors @ normalize_rows(text)), kind="stable")
        with torch.inference_mode():
            mean_prompted = model.scorer.prompted_text(torch.from_numpy(text), mean_features)[0].numpy()
        mean_order = np.argsort(-(vectors @ normalize_rows(mean_prompted)), kind="stable")
        for n in inside:
            inside[n] += set(exact_top) <= set(int(i) for i in cosine_order[:n])
            inside_mean_prompt[n] += set(exact_top) <= set(int(i) for i in mean_order[:n])
        stage1_differs += [int(i) for i in cosine_order[:k]] != exact_top
        overlap += len(set(exact_top) & set(int(i) for i in cosine_order[:k]))

    text = model.text_projections([queries[0]])[0]
    some = slice(0, min(100, len(ids)))
    with torch.inference_mode():  # how far the video-conditioned prompt moves the text embedding
        prompted = model.scorer.prompted_text(torch.from_numpy(text), torch.from_numpy(features[some]).float())
        ratio = float(((prompted - torch.from_numpy(text)).norm(dim=-1) / float(np.linalg.norm(text))).mean())
    plain = default_blas_generator(model.model)
    report = {
        "machine": machine(),
        "model": str(args.checkpoint) if args.checkpoint else "XCLIPConfig() defaults (xclip-base-patch32 "
                                                              "architecture), random weights",
        "corpus": f"{args.corpus} in {args.clip_seconds:g} s clips every {args.stride_seconds:g} s",
        "clips": int(len(ids)),
        "ingested_now": summary.clips,
        "queries": len(queries),
        "k": k,
        "exact_topk_inside_stage1_topN": {str(n): round(c / len(queries), 3) for n, c in inside.items()},
        "exact_topk_inside_topN_of_mean_prompted_text": {
            str(n): round(c / len(queries), 3) for n, c in inside_mean_prompt.items()
        },
        "stage1_topk_differs_from_exact": round(stage1_differs / len(queries), 3),
        "stage1_topk_mean_overlap_with_exact": round(overlap / len(queries) / k, 3),
        "prompt_norm_over_text_norm": round(ratio, 2),
        "rerank_ms_100_candidates": {
            "vsearch_exact_scorer": timed(lambda: model.scorer(text, vectors[some], features[some])),
            "prompts_generator_as_is": timed(lambda: reference_scores(model.model, text, vectors[some], features[some])),
            "prompts_generator_as_is_default_blas": timed(
                lambda: reference_scores(plain, text, vectors[some], features[some])),
            "feature_read_from_store": timed(lambda: library.features().read(ids[some])),
            "vsearch_exact_scorer_500_candidates": timed(
                lambda: model.scorer(text, vectors[:500], features[:500]), repeats=10),
            "text_encoding": timed(lambda: model.text_projections(["eating spaghetti"])),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
