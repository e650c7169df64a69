"""Fine-tuning throughput and peak memory for each choice of trained parts (`vsearch finetune --train`).

Runs the real training step of `vsearch finetune` (vsearch.training.finetune.Trainer: X-CLIP's forward,
the symmetric contrastive loss on logits_per_video, AdamW) on random clips, with the full-size
architecture (xclip-base-patch32's config, random weights) unless --checkpoint or --tiny says otherwise.
Prints JSON: clips/s per part choice and precision, the peak resident memory of a fresh process for each
(CPU), or the peak CUDA memory (GPU: `python bench/finetune.py --device cuda`).

    python bench/finetune.py                       # CPU, light and all, the CLI's precision
    python bench/finetune.py --device cuda         # the same on a GPU
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def measure(checkpoint: str, parts: str, batch: int, steps: int, device: str, precision: str) -> dict:
    """One part choice, in this process: a warm-up step, then `steps` timed steps."""
    import numpy as np
    import torch

    from vsearch.evaluation.labels import Moment
    from vsearch.media.resize import PreprocessSpec
    from vsearch.model.xclip import load_pretrained
    from vsearch.training.data import TrainingClip
    from vsearch.training.finetune import Trainer, TrainingPlan

    processor, model = load_pretrained(checkpoint)
    spec = PreprocessSpec.from_image_processor(processor.image_processor)
    frames = int(model.config.vision_config.num_frames)
    rng = np.random.default_rng(0)
    clips = [TrainingClip(Moment(f"a query about thing {i}", "/random", 0.0, 4.0),
                          rng.integers(0, 256, (frames, spec.crop_height, spec.crop_width, 3), dtype=np.uint8))
             for i in range(batch)]
    trainer = Trainer(model, processor, spec, TrainingPlan(batch_size=batch, parts=parts, precision=precision), device)
    trainer.step(clips)  # warm-up: allocations, oneDNN kernels
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step(clips)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    result = {"parts": parts, "precision": precision, "batch": batch, "steps": steps,
              "trainable_parameters": sum(p.numel() for p in trainer.parameters),
              "clips_per_second": round(batch * steps / seconds, 3), "seconds_per_step": round(seconds / steps, 3)}
    if device == "cuda":
        result["peak_cuda_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    else:
        import resource

        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="X-CLIP checkpoint (default: full-size, random weights)")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny random X-CLIP (a check of the script)")
    parser.add_argument("--parts", default="light,all", help="comma-separated: light, all")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one part choice in this process
    args = parser.parse_args()

    from bench.common import configure_process, full_size_checkpoint, machine

    if args.one:
        configure_process()
        print(json.dumps(measure(args.one, args.parts, args.batch_size, args.steps, args.device, args.precision)))
        return
    if args.tiny:
        import tempfile

        from vsearch.model.random_checkpoint import build_checkpoint

        checkpoint = build_checkpoint(Path(tempfile.mkdtemp(prefix="xclip-tiny-")))
    else:
        checkpoint = args.checkpoint or full_size_checkpoint(None)
    from vsearch.training.job import training_precision

    precision = training_precision(args.precision, args.device)
    results = []
    for parts in args.parts.split(","):  # each in a fresh process: its peak memory is its own
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(checkpoint), "--parts", parts, "--batch-size",
             str(args.batch_size), "--steps", str(args.steps), "--device", args.device, "--precision", precision],
            capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(json.dumps({"machine": machine(), "checkpoint": str(checkpoint), "results": results}, indent=2))


if __name__ == "__main__":
    main()
