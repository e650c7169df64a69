"""Ingest throughput on one CUDA GPU, full-size X-CLIP (random weights), no network; prints JSON.

    python bench/gpu.py                 # about 5 minutes on one H100 with 16 cores

Generates 1080p h264 videos, then measures model-only clips/s (fp16 weights, batch 32 and 64)
and end-to-end `vsearch ingest` (decode workers on the CPU cores, model on the GPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import full_size_checkpoint, machine  # noqa: E402


def main() -> None:
    import numpy as np
    import torch

    from bench.ingest import generated_corpus
    from vsearch.model.xclip import XClip

    if not torch.cuda.is_available():
        sys.exit("bench/gpu.py needs a CUDA GPU (torch.cuda.is_available() is False)")
    checkpoint = full_size_checkpoint(None)
    report = {"machine": machine(), "model_only": {}}
    model = XClip.load(str(checkpoint), device="cuda", precision="fp16")
    for batch in (32, 64):
        pixels = np.random.default_rng(0).standard_normal((batch, model.num_frames, 3, 224, 224)).astype(np.float32)
        model.embed_clips(pixels)
        torch.cuda.synchronize()
        started, clips = time.perf_counter(), 0
        while time.perf_counter() - started < 15:
            model.embed_clips(pixels)
            clips += batch
        torch.cuda.synchronize()
        report["model_only"][f"batch_{batch}_clips_per_second"] = round(clips / (time.perf_counter() - started), 1)
    del model
    torch.cuda.empty_cache()
    with tempfile.TemporaryDirectory() as scratch:
        corpus = generated_corpus(Path(scratch) / "corpus", 6, 40.0, 1920, 1080)
        env = {**os.environ, "VSEARCH_DATA_DIR": str(Path(scratch) / "data"), "VSEARCH_MODEL": str(checkpoint),
               "VSEARCH_DEVICE": "cuda", "VSEARCH_PRECISION": "fp16", "VSEARCH_BATCH_SIZE": "32"}
        run = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(corpus), "--json", "-q"], env=env,
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(run.stderr)
        summary = json.loads(run.stdout)
    report["end_to_end"] = {
        "corpus": "6 x 40 s 1920x1080 30 fps h264 (synthetic)",
        "clips": summary["clips"],
        "seconds": summary["seconds"],
        "clips_per_second": summary["clips_per_second"],
        "stage_seconds": summary["timings"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
