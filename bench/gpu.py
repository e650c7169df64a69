"""Ingest throughput on one CUDA GPU, full-size X-CLIP (random weights), no network; prints JSON.

    python bench/gpu.py [--videos 16] [--seconds 24]    # a few minutes on one H100 with 16 cores
    python bench/gpu.py --ray                           # also through a Ray cluster of this machine (GPU actor)

Generates 1080p h264 videos (one encoder process per video), then measures model-only clips/s
(fp16 weights, batch 32 and 64), end-to-end `vsearch ingest` (decode workers on the CPU cores,
model on the GPU) and warm query latency over the ingested library (text tower on the GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import configure_process, full_size_checkpoint, machine  # noqa: E402


def _encode_one(args: tuple) -> None:
    from vsearch.media.synthetic import encode

    path, seconds, hue = args
    encode(path, seconds=seconds, fps=30, width=1920, height=1080, hue=hue)


def generated_corpus(folder: Path, videos: int, seconds: float) -> Path:
    """1080p30 h264 videos, encoded in parallel: one process per video."""
    from concurrent.futures import ProcessPoolExecutor

    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder / f"synthetic-1920x1080-{i}.mp4", seconds, i) for i in range(videos)]
    with ProcessPoolExecutor(max_workers=min(videos, os.cpu_count() or 1)) as pool:
        list(pool.map(_encode_one, jobs))
    return folder


def query_latency(data_dir: Path, checkpoint: Path, queries: int = 30, device: str = "cuda",
                  cpu_linear: str = "auto") -> dict:
    """Warm `search` over the ingested library with the model on the GPU: p50/p90 in ms."""
    import numpy as np

    from vsearch.config import Settings
    from vsearch.library import Library
    from vsearch.search import search

    library = Library(Settings(data_dir=data_dir, model=str(checkpoint), device=device,
                               precision="fp16" if device == "cuda" else "fp32", cpu_linear=cpu_linear))
    try:
        prompts = ["a dog catching a ball", "eating spaghetti", "a red car at night", "people dancing"]
        for prompt in prompts:
            search(library, prompt)  # warm-up: model load, CUDA kernels, index and feature files
        took = [search(library, prompts[i % len(prompts)]).took_ms for i in range(queries)]
        return {"queries": queries, "p50_ms": round(float(np.percentile(took, 50)), 2),
                "p90_ms": round(float(np.percentile(took, 90)), 2), "clips": len(library.index())}
    finally:
        library.close()


def main() -> None:
    cpu_linear = configure_process().cpu_linear
    import numpy as np
    import torch

    from vsearch.model.xclip import XClip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="also ingest the corpus through Ray (`vsearch ingest --ray`): one actor per GPU")
    options = parser.parse_args()

    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    checkpoint = full_size_checkpoint(None)
    report = {"machine": machine(), "model_only": {}}
    model = XClip.load(str(checkpoint), device="cuda", precision="fp16", cpu_linear=cpu_linear)
    for batch in (32, 64):
        pixels = np.random.default_rng(0).standard_normal((batch, model.num_frames, 3, 224, 224)).astype(np.float32)
        model.embed_clips(pixels)
        torch.cuda.synchronize()
        started, clips = time.perf_counter(), 0
        while time.perf_counter() - started < 10:
            model.embed_clips(pixels)
            clips += batch
        torch.cuda.synchronize()
        report["model_only"][f"batch_{batch}_clips_per_second"] = round(clips / (time.perf_counter() - started), 1)
        print(json.dumps(report), file=sys.stderr, flush=True)  # partial figures survive a time limit
    del model
    torch.cuda.empty_cache()
    with tempfile.TemporaryDirectory() as scratch:
        encode_started = time.perf_counter()
        corpus = generated_corpus(Path(scratch) / "corpus", options.videos, options.seconds)
        report["corpus_seconds"] = round(time.perf_counter() - encode_started, 1)
        env = {**os.environ, "VSEARCH_DATA_DIR": str(Path(scratch) / "data"), "VSEARCH_MODEL": str(checkpoint),
               "VSEARCH_DEVICE": "cuda", "VSEARCH_PRECISION": "fp16", "VSEARCH_BATCH_SIZE": "32"}
        run = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(corpus), "--json", "-q"], env=env,
                             capture_output=True, text=True)
        print(json.dumps(report), file=sys.stderr, flush=True)
        if run.returncode != 0:
            sys.exit(run.stderr)
        summary = json.loads(run.stdout)
        if options.ray:
            ray_env = {**env, "VSEARCH_DATA_DIR": str(Path(scratch) / "data-ray"), "VSEARCH_RAY_ADDRESS": options.ray}
            on_ray = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(corpus), "--json", "-q"],
                                    env=ray_env, capture_output=True, text=True)
            if on_ray.returncode != 0:
                report["ray_error"] = on_ray.stderr[-3000:]
            else:
                ray_summary = json.loads(on_ray.stdout)
                report["end_to_end_through_ray"] = {
                    "address": options.ray, "clips": ray_summary["clips"], "seconds": ray_summary["seconds"],
                    "clips_per_second": ray_summary["clips_per_second"], "stage_seconds": ray_summary["timings"]}
            print(json.dumps(report), file=sys.stderr, flush=True)
        report["query"] = query_latency(Path(scratch) / "data", checkpoint, cpu_linear=cpu_linear)
    report["end_to_end"] = {
        "corpus": f"{options.videos} x {options.seconds:g} s 1920x1080 30 fps h264 (synthetic)",
        "clips": summary["clips"],
        "seconds": summary["seconds"],
        "clips_per_second": summary["clips_per_second"],
        "stage_seconds": summary["timings"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
