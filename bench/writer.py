"""How fast the single writer commits videos, as JSON: the ceiling of any ingest, however many GPUs embed.

    python bench/writer.py                                   # SQLite in a temporary data dir
    python bench/writer.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Writes `--videos` made-up videos of `--clips` clips each through vsearch's write stage (one transaction per
video: clip rows with their embeddings, prompt features, thumbnails, frame prints, then the FAISS index),
with the full-size model's shapes (512-d vectors, 50 x 512 prompt features a clip), and prints clips/s.
A Postgres run works in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402


def _parts(task: int, clips: int, rng: np.random.Generator, thumbnail: bytes):
    from vsearch.ingest.assemble import VideoParts
    from vsearch.media.clips import VideoStarted
    from vsearch.media.fingerprint import PRINT_DIM
    from vsearch.media.probe import VideoProbe
    from vsearch.media.sample import ClipPlan

    info = VideoProbe(Path(f"/bench/{task}.mp4"), "mp4", "h264", 0, 1, 1280, 720, 0, 30.0, 4.0 * clips)
    parts = VideoParts(task, started=VideoStarted(task, info, "decord", 4.0 * clips, clips), done=True)
    for o in range(clips):
        parts.plans[o] = ClipPlan(o, 4.0 * o, 4.0 * o + 4, tuple(range(o * 120, o * 120 + 120, 15)),
                                  tuple(4.0 * o + k * 0.5 for k in range(8)))
        vector = rng.standard_normal(512).astype(np.float32)
        parts.vectors[o] = vector / np.linalg.norm(vector)
        parts.features[o] = rng.standard_normal((50, 512)).astype(np.float32)
        parts.thumbnails[o] = thumbnail
        for k in range(8):
            parts.prints[4.0 * o + k * 0.5] = rng.integers(-127, 127, PRINT_DIM, dtype=np.int8)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", help="a Postgres URL (default: SQLite in the temporary data dir)")
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--clips", type=int, default=15, help="clips a video (15: a minute of video)")
    args = parser.parse_args()

    from vsearch.config import Settings
    from vsearch.ingest.changes import FileState
    from vsearch.ingest.write import write_video
    from vsearch.library import Library
    from vsearch.media.thumbnails import encode_thumbnail

    rng = np.random.default_rng(0)
    thumbnail = encode_thumbnail(rng.integers(0, 255, (180, 320, 3), dtype=np.uint8))
    schema = None
    with tempfile.TemporaryDirectory() as scratch:
        url = args.db_url
        if url:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            schema = f"vsearch_bench_{uuid.uuid4().hex[:8]}"
            with create_engine(url).begin() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            url = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        library = Library(Settings(data_dir=Path(scratch) / "data", db_url=url, model="bench-writer"))
        try:
            library.record_model("bench-writer", 512)
            index = library.index(512)
            parts = [_parts(task, args.clips, rng, thumbnail) for task in range(args.videos)]
            started = time.perf_counter()
            for task, video in enumerate(parts):
                write_video(library, index, FileState(Path(f"/bench/{task}.mp4"), 1000, 1, f"hash{task}"), video)
            seconds = time.perf_counter() - started
        finally:
            library.close()
            if schema:
                with create_engine(args.db_url).begin() as connection:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    clips = args.videos * args.clips
    print(json.dumps({
        "machine": machine(),
        "database": "postgres" if args.db_url else "sqlite",
        "videos": args.videos,
        "clips": clips,
        "seconds": round(seconds, 3),
        "clips_per_second": round(clips / seconds, 1),
        "hours_of_video_per_hour": round(clips * 4.0 / seconds, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
