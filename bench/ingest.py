"""Throughput of `vsearch ingest` with the full-size X-CLIP architecture (random weights), as JSON.

    python bench/ingest.py                       # generated corpus: 3 x 60 s 720p + 2 x 60 s 1080p h264
    python bench/ingest.py --corpus ../shared/videos
    python bench/ingest.py --ray [ADDRESS] --only-ingest   # the local path, then the same through Ray

Prints, measured in the same run on this machine: end-to-end clips/s of the real CLI with its
per-stage timings; decode-only clips/s (vsearch's decode workers, no model); model-only clips/s at
the same batch size; the serial ceiling 1 / (1/decode + 1/model), decoding taken at its best worker
count; and the naive path of the X-CLIP
documentation (PyAV decode from the container's start for every clip, XCLIPProcessor,
get_video_features one clip at a time, fp32) on the first --naive-clips clips of the corpus.
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


def generated_corpus(folder: Path, videos: int, seconds: float, width: int, height: int) -> Path:
    from vsearch.media.synthetic import encode

    for i in range(videos):
        encode(folder / f"synthetic-{width}x{height}-{i}.mp4", seconds=seconds, fps=30, width=width, height=height,
               hue=i)
    return folder


def decode_only(corpus: Path, checkpoint: Path, workers: int | None, prescale: bool = True) -> float:
    """vsearch's decode workers alone (decode, sample, resize and crop) over the corpus."""
    import os

    from vsearch.config import Settings
    from vsearch.ingest.workers import DecodePool
    from vsearch.media.clips import ClipChunk, ClipJob
    from vsearch.media.discover import discover
    from vsearch.model.xclip import XClip

    settings = Settings(model=str(checkpoint), workers=workers if workers is not None else max(1, (os.cpu_count() or 2) - 1),
                        decoder_prescale=prescale)
    model = XClip.load(str(checkpoint), device="cpu", precision="fp32")
    job = ClipJob(model.spec, model.num_frames, settings.clip_seconds, settings.stride_seconds,
                  decode_edge=model.spec.prescale_edge() if settings.decoder_prescale else None)
    started, clips = time.perf_counter(), 0
    for message in DecodePool(job, settings.workers).run(list(enumerate(discover([corpus])))):
        if isinstance(message, ClipChunk):
            clips += len(message.plans)
    return clips / (time.perf_counter() - started)


def naive(corpus: Path, checkpoint: Path, max_clips: int, clip_seconds: float = 4.0) -> float:
    """The X-CLIP documentation's recipe, clip by clip: decode from the start, processor, fp32 model."""
    import av
    import numpy as np
    import torch
    from transformers import XCLIPModel, XCLIPProcessor

    from vsearch.media.discover import discover

    processor = XCLIPProcessor.from_pretrained(checkpoint)
    model = XCLIPModel.from_pretrained(checkpoint).eval()
    frames_per_clip = model.config.vision_config.num_frames
    started, clips = time.perf_counter(), 0
    for path in discover([corpus]):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate)
            total = stream.frames or int(float(stream.duration * stream.time_base) * fps)
        per_clip = int(clip_seconds * fps)
        for start in range(0, max(1, total - per_clip + 1), per_clip):
            indices = set(np.linspace(start, start + per_clip - 1, frames_per_clip).astype(int).tolist())
            with av.open(str(path)) as container:
                container.seek(0)
                frames = []
                for i, frame in enumerate(container.decode(video=0)):
                    if i > max(indices):
                        break
                    if i in indices:
                        frames.append(frame.to_ndarray(format="rgb24"))
            inputs = processor(videos=frames, return_tensors="pt")
            with torch.no_grad():
                model.get_video_features(**inputs)
            clips += 1
            if clips >= max_clips:
                return clips / (time.perf_counter() - started)
    return clips / (time.perf_counter() - started)


def model_only(checkpoint: Path, batch: int, precision: str, cpu_linear: str, seconds: float = 20.0) -> float:
    import numpy as np

    from vsearch.model.xclip import XClip

    model = XClip.load(str(checkpoint), device="auto", precision=precision, cpu_linear=cpu_linear)
    size = model.spec.crop_height or 224
    pixels = np.random.default_rng(0).standard_normal((batch, model.num_frames, 3, size, size)).astype(np.float32)
    model.embed_clips(pixels)  # warm-up at this shape
    started, clips = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        model.embed_clips(pixels)
        clips += batch
    return clips / (time.perf_counter() - started)


def fidelity(corpus: Path, checkpoint: Path, cpu_linear: str, clips: int = 8) -> dict:
    """Cosines (min, mean) on the same clips of the corpus's largest video: the fast precision's embeddings
    to fp32's, and fp32 embeddings of decoder-prescaled frames to those of full-size frames."""
    import numpy as np

    from vsearch.media.clips import ClipChunk, ClipJob, produce_clips
    from vsearch.media.discover import discover
    from vsearch.media.probe import probe
    from vsearch.model.preprocess import normalize
    from vsearch.model.xclip import XClip, resolve_precision

    def summary(a, b, **extra) -> dict:
        cosines = (a * b).sum(axis=1)
        return {**extra, "clips": len(cosines), "min": round(float(cosines.min()), 6),
                "mean": round(float(cosines.mean()), 6)}

    fp32 = XClip.load(str(checkpoint), device="auto", precision="fp32", cpu_linear=cpu_linear)
    largest = max(discover([corpus]), key=lambda path: min(probe(path).height, probe(path).width))

    def pixels(decode_edge):
        job = ClipJob(fp32.spec, fp32.num_frames, 4.0, 4.0, decode_edge=decode_edge)
        frames = []
        for message in produce_clips(0, largest, job):
            if isinstance(message, ClipChunk):
                frames.extend(message.frames)
            if len(frames) >= clips:
                break
        return normalize(np.stack(frames[:clips]), fp32.spec)

    full = pixels(None)
    reference = fp32.embed_clips(full).vectors
    prescaled = fp32.embed_clips(pixels(fp32.spec.prescale_edge())).vectors
    fast_precision = resolve_precision("auto", fp32.device)
    if fast_precision == "fp32":
        fast_precision = "bf16"  # still worth knowing where the CPU lacks fast bf16
    fast = XClip.load(str(checkpoint), device="auto", precision=fast_precision,
                      cpu_linear=cpu_linear).embed_clips(full).vectors
    return {"fast_precision_cosine_to_fp32": summary(reference, fast, precision=fast_precision),
            "prescaled_frames_cosine_to_full_size": summary(reference, prescaled)}


def cli_ingest(corpus: Path, env: dict) -> tuple[dict, float]:
    """`vsearch ingest CORPUS --json` in a process of its own: (its summary, the process's wall seconds)."""
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(corpus), "--json", "-q"], env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - started
    if run.returncode not in (0, 1):
        sys.exit(run.stderr)
    return json.loads(run.stdout), wall


def ingest_figures(summary: dict, wall: float) -> dict:
    return {
        "clips": summary["clips"],
        "seconds": summary["seconds"],
        "process_wall_seconds": round(wall, 2),
        "clips_per_second": summary["clips_per_second"],
        # after the start (a Ray cluster joined or started, its actors' models loaded): the steady rate
        "clips_per_second_after_start": round(
            summary["clips"] / max(summary["seconds"] - summary["timings"].get("start", 0.0), 1e-9), 3),
        "stage_seconds": summary["timings"],
        "failed": summary["failed"],
    }


def main() -> None:
    cpu_linear = configure_process().cpu_linear
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="folder of videos (default: a generated one)")
    parser.add_argument("--checkpoint", type=Path, help="X-CLIP checkpoint (default: full-size, random weights)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each generated video")
    parser.add_argument("--naive-clips", type=int, default=20, help="clips timed on the naive path")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="also ingest through Ray (a local cluster, or ADDRESS), in a fresh library: its "
                             "throughput next to the local path's, and the ratio (the engine's overhead)")
    parser.add_argument("--only-ingest", action="store_true", help="skip the decode-only, model-only, naive and "
                        "fidelity measurements")
    args = parser.parse_args()

    checkpoint = args.checkpoint or full_size_checkpoint(None)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.corpus:
            corpus, description = args.corpus.resolve(), str(args.corpus)
        else:
            corpus = scratch / "corpus"
            generated_corpus(corpus / "720p", 3, args.seconds, 1280, 720)
            generated_corpus(corpus / "1080p", 2, args.seconds, 1920, 1080)
            description = f"3 x {args.seconds:g} s 1280x720 + 2 x {args.seconds:g} s 1920x1080, 30 fps h264 (synthetic)"
        env = {**os.environ, "VSEARCH_DATA_DIR": str(scratch / "data"), "VSEARCH_MODEL": str(checkpoint),
               "VSEARCH_BATCH_SIZE": str(args.batch_size), "VSEARCH_PRECISION": args.precision}
        if args.workers is not None:
            env["VSEARCH_WORKERS"] = str(args.workers)
        summary, wall = cli_ingest(corpus, env)
        on_ray = None
        if args.ray:
            ray_env = {**env, "VSEARCH_DATA_DIR": str(scratch / "data-ray"), "VSEARCH_RAY_ADDRESS": args.ray,
                       # the actor's model gets the threads the local path's model has
                       "VSEARCH_RAY_ACTOR_CPUS": os.environ.get("VSEARCH_RAY_ACTOR_CPUS", str(os.cpu_count() or 1))}
            on_ray = cli_ingest(corpus, ray_env)
        report = {
            "machine": machine(),
            "model": "XCLIPConfig() defaults (xclip-base-patch32 architecture), random weights",
            "corpus": description,
            "ingest": ingest_figures(summary, wall),
        }
        if on_ray is not None:
            report["ingest_through_ray"] = {"address": args.ray, **ingest_figures(*on_ray)}
            ray_figures, local_figures = report["ingest_through_ray"], report["ingest"]
            report["ray_vs_local_clips_per_second"] = round(
                ray_figures["clips_per_second"] / max(local_figures["clips_per_second"], 1e-9), 3)
            report["ray_vs_local_after_start"] = round(
                ray_figures["clips_per_second_after_start"] / max(local_figures["clips_per_second_after_start"], 1e-9), 3)
        if args.only_ingest:
            print(json.dumps(report, indent=2))
            return
        cores = os.cpu_count() or 2
        worker_counts = [args.workers] if args.workers is not None else sorted({max(1, cores - 1), cores})
        decode_rates = {n: decode_only(corpus, checkpoint, n) for n in worker_counts}
        decode_rate = max(decode_rates.values())  # the ceiling takes decoding at its best setting
        full_resolution_rate = decode_only(corpus, checkpoint, max(decode_rates, key=decode_rates.get), prescale=False)
        model_rate = model_only(checkpoint, args.batch_size, args.precision, cpu_linear)
        naive_rate = naive(corpus, checkpoint, args.naive_clips)
        cosines = fidelity(corpus, checkpoint, cpu_linear)
    ceiling = 1 / (1 / decode_rate + 1 / model_rate)
    print(json.dumps({
        **report,
        "decode_only_clips_per_second": round(decode_rate, 3),
        "decode_only_by_workers": {str(n): round(rate, 3) for n, rate in decode_rates.items()},
        "decode_only_full_resolution_frames": round(full_resolution_rate, 3),
        "serial_ceiling_with_full_resolution_decode": round(1 / (1 / full_resolution_rate + 1 / model_rate), 3),
        "model_only_clips_per_second": round(model_rate, 3),
        "serial_ceiling_clips_per_second": round(ceiling, 3),
        "ingest_vs_ceiling": round(summary["clips_per_second"] / ceiling, 3),
        "naive_clips_per_second": round(naive_rate, 3),
        "naive_clips_timed": args.naive_clips,
        "ingest_vs_naive": round(summary["clips_per_second"] / naive_rate, 2),
        **cosines,
        "batch_size": args.batch_size,
        "precision": args.precision,
    }, indent=2))


if __name__ == "__main__":
    main()
