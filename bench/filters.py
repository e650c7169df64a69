"""Filtered search latency next to unfiltered, through the library's own search (database, index, rerank);
prints JSON.

    python bench/filters.py                    # 100k clips, exact and IVF index
    python bench/filters.py --clips 20000 --kinds flat

A synthetic library in SQLite: videos of 100 clips in 100 folders, recorded a day apart, of varied lengths;
clip vectors clustered and L2-normalised (as bench/query.py); the text encoder and the exact rerank are the
full-size X-CLIP (random weights). Prompt feature records are pooled (candidate ids map onto 2,000 records:
the rerank's cost is per candidate, and 100k real records would be 5 GB). For each filter (a folder holding 1 %
of the clips, 10 %, a date range of 1 %, a duration range) and each unit (clips, moments): the median query
time and whether every query filled its page.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import configure_process, full_size_checkpoint, machine  # noqa: E402
from bench.query import QUERIES, clustered  # noqa: E402

CLIPS_PER_VIDEO, FOLDERS, POOL = 100, 100, 2_000
FIRST_DAY = datetime(2024, 1, 1, tzinfo=timezone.utc)


class PooledFeatures:
    """A feature store whose ids map onto a small pool of records (the read and the rerank cost the same)."""

    def __init__(self, store):
        self.store = store

    def read(self, ids):
        return self.store.read(np.asarray(ids, np.int64) % POOL)


def populate(library, clips: int, dim: int, tokens: int) -> int:
    """Videos and clips straight into the database; returns how many videos."""
    from sqlalchemy import insert

    from vsearch.store.models import Clip, Video

    vectors = clustered(clips, dim, seed=clips)
    videos = clips // CLIPS_PER_VIDEO
    with library.store.begin() as session:
        session.execute(insert(Video), [
            {"id": v + 1, "path": f"/bench/folder{v % FOLDERS:03d}/video{v:05d}.mp4", "size": 1, "mtime_ns": 0,
             "content_hash": f"{v}", "status": "indexed", "model": library.settings.model_id, "rotation": 0,
             "duration": 4.0 * CLIPS_PER_VIDEO * (0.5 + (v % 7) / 6), "num_clips": CLIPS_PER_VIDEO,
             "recorded_at": FIRST_DAY + timedelta(days=v), "recorded_from": "container"}
            for v in range(videos)])
    for first in range(0, clips, 10_000):
        with library.store.begin() as session:
            session.execute(insert(Clip), [
                {"id": c + 1, "video_id": c // CLIPS_PER_VIDEO + 1, "ordinal": c % CLIPS_PER_VIDEO,
                 "start_time": 4.0 * (c % CLIPS_PER_VIDEO), "end_time": 4.0 * (c % CLIPS_PER_VIDEO) + 4.0,
                 "frame_indices": [0], "frame_times": [0.0], "model": library.settings.model_id,
                 "embedding": vectors[c].tobytes()}
                for c in range(first, min(first + 10_000, clips))])
    library.record_model(library.settings.model_id, dim)
    store = library.features(tokens, dim)
    store.write(np.arange(POOL), np.random.default_rng(1).standard_normal((POOL, tokens, dim)).astype(np.float32))
    return videos


def main() -> None:
    cpu_linear = configure_process().cpu_linear
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--kinds", nargs="+", default=["flat", "ivf"], choices=["flat", "ivf"])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--repeats", type=int, default=3, help="passes over the query list")
    args = parser.parse_args()

    from vsearch.config import Settings
    from vsearch.filters import SearchFilter
    from vsearch.library import Library
    from vsearch.model.xclip import XClip
    from vsearch.search import search

    checkpoint = args.checkpoint or full_size_checkpoint(None)
    model = XClip.load(str(checkpoint), device="cpu", precision="auto", cpu_linear=cpu_linear)
    work = Path(tempfile.mkdtemp(prefix="vsearch-filters-"))
    base = Settings(data_dir=work, model=str(checkpoint), device="cpu", cpu_linear=cpu_linear)
    library = Library(base, model=model)
    started = time.perf_counter()
    videos = populate(library, args.clips, model.embed_dim, model.prompt_tokens)
    library.close()
    built = time.perf_counter() - started
    days = max(1, videos // 100)  # 1 % of the videos
    filters = {
        "none": SearchFilter(),
        "folder, 1 %": SearchFilter.parse(["/bench/folder007"]),
        "folders, 10 %": SearchFilter.parse([f"/bench/folder{f:03d}" for f in range(10)]),
        "dates, 1 %": SearchFilter.parse(after=(FIRST_DAY + timedelta(days=50)).date().isoformat(),
                                         before=(FIRST_DAY + timedelta(days=50 + days)).date().isoformat()),
        "duration, 14 %": SearchFilter.parse(max_duration=4.0 * CLIPS_PER_VIDEO * 0.5),
    }
    report = {"machine": machine(), "clips": args.clips, "videos": videos, "database_s": round(built, 1),
              "precision": model.precision, "k": 10, "kinds": {}}
    for kind in args.kinds:
        settings = base.model_copy(update={"index_threshold": 10**9 if kind == "flat" else 1,
                                           "approximate_index": "ivf"})
        library = Library(settings, model=model)
        library.index()  # built (and for IVF trained and tuned) before the timing
        library._features = PooledFeatures(library.features())
        rows = {}
        for name, search_filter in filters.items():
            for group in ("clip", "moment"):
                search(library, QUERIES[0], 10, group=group, filters=search_filter)  # warm
                took, full = [], True
                for _ in range(args.repeats):
                    for text in QUERIES:
                        response = search(library, text, 10, group=group, filters=search_filter)
                        took.append(response.took_ms)
                        full &= len(response.results) == 10
                rows[f"{name} / {group}"] = {"query_ms_p50": round(float(np.median(took)), 1), "pages_full": full}
            print(json.dumps({kind: {k: v for k, v in rows.items() if k.startswith(name)}}), file=sys.stderr)
        for group in ("clip", "moment"):
            plain = rows[f"none / {group}"]["query_ms_p50"]
            for name in filters:
                rows[f"{name} / {group}"]["vs_unfiltered"] = round(rows[f"{name} / {group}"]["query_ms_p50"] / plain, 2)
        report["kinds"][kind] = {"index": library.index().spec.kind, "rows": rows}
        library.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
