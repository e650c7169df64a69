"""Throughput of `vsearch ingest` with the full-size X-CLIP architecture (random weights), as JSON.

    python bench/ingest.py                       # generated corpus: 3 x 20 s 720p h264
    python bench/ingest.py --corpus ../shared/videos

Prints the machine, the corpus, end-to-end clips/s of the real CLI and its per-stage timings, and the
model-only clips/s measured in the same run on this machine at the same batch size.
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

from bench.common import full_size_checkpoint, machine  # noqa: E402


def generated_corpus(folder: Path, videos: int, seconds: float, width: int, height: int) -> Path:
    from tests.videos import encode

    for i in range(videos):
        encode(folder / f"synthetic-{i}.mp4", seconds=seconds, fps=30, width=width, height=height, hue=i)
    return folder


def model_only(checkpoint: Path, batch: int, precision: str, seconds: float = 20.0) -> float:
    import numpy as np

    from vsearch.model.xclip import XClip

    model = XClip.load(str(checkpoint), device="auto", precision=precision)
    size = model.spec.crop_height or 224
    pixels = np.random.default_rng(0).standard_normal((batch, model.num_frames, 3, size, size)).astype(np.float32)
    model.embed_clips(pixels)  # warm-up at this shape
    started, clips = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        model.embed_clips(pixels)
        clips += batch
    return clips / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="folder of videos (default: a generated one)")
    parser.add_argument("--checkpoint", type=Path, help="X-CLIP checkpoint (default: full-size, random weights)")
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()

    checkpoint = args.checkpoint or full_size_checkpoint(None)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.corpus:
            corpus, description = args.corpus.resolve(), str(args.corpus)
        else:
            corpus = generated_corpus(scratch / "corpus", args.videos, args.seconds, 1280, 720)
            description = f"{args.videos} x {args.seconds:g} s 1280x720 30 fps h264 (synthetic)"
        env = {**os.environ, "VSEARCH_DATA_DIR": str(scratch / "data"), "VSEARCH_MODEL": str(checkpoint),
               "VSEARCH_BATCH_SIZE": str(args.batch_size), "VSEARCH_PRECISION": args.precision}
        if args.workers is not None:
            env["VSEARCH_WORKERS"] = str(args.workers)
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(corpus), "--json", "-q"], env=env,
                             capture_output=True, text=True)
        wall = time.perf_counter() - started
        if run.returncode not in (0, 1):
            sys.exit(run.stderr)
        summary = json.loads(run.stdout)
    print(json.dumps({
        "machine": machine(),
        "model": "XCLIPConfig() defaults (xclip-base-patch32 architecture), random weights",
        "corpus": description,
        "ingest": {
            "clips": summary["clips"],
            "seconds": summary["seconds"],
            "process_wall_seconds": round(wall, 2),
            "clips_per_second": summary["clips_per_second"],
            "stage_seconds": summary["timings"],
            "failed": summary["failed"],
        },
        "model_only_clips_per_second": round(model_only(checkpoint, args.batch_size, args.precision), 3),
        "batch_size": args.batch_size,
        "precision": args.precision,
    }, indent=2))


if __name__ == "__main__":
    main()
