"""Duplicate detection: precision and recall of `vsearch duplicates` over video pairs, by threshold.

Generates (with PyAV) masters of footage that differs from seed to seed, and copies of each as users make
them: another container, a much lower quality, half and quarter size, VP9, another frame rate, trimmed at the
start, at the end, or both. Beside them, videos that are not copies: other footage, another take of each
master (the same scenes, the things in them elsewhere: a hard case), pairs that share only a 3-second
opening title, pairs that share only a black opening. Everything is ingested as `vsearch
ingest` does (prints come from the frames ingest samples: 2 a second, as xclip-base's 8 frames over 4 s),
then the copy pairs are found at each threshold. Precision: the share of pairs called copies that are;
recall: the share of true copy pairs found (pairs, not groups: a copy found only through a third video
counts as missed). Prints JSON: the table, the chosen default, the time the search took, the machine.

    python bench/duplicates.py                 # 12 masters, 9 copies each
    python bench/duplicates.py --masters 4     # a quick look
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.99)
COPY_KINDS = {
    "container": dict(suffix=".mkv"),
    "quality": dict(crf=45),
    "half": dict(scale=0.5),
    "quarter": dict(scale=0.25, crf=35),
    "vp9": dict(suffix=".webm", codec="libvpx-vp9", crf=50),
    "fps": dict(fps=15),
}


def _with_opening(seed: int, opening_seed: int | None, fps: int, seconds: float = 3.0):
    from vsearch.media.synthetic import after_opening, footage

    opening = footage(opening_seed, fps) if opening_seed is not None else None
    return after_opening(footage(seed, fps), opening, int(seconds * fps))


def make_set(folder: Path, masters: int, seed: int) -> dict[str, str]:
    """Encode the set; returns each file's family (the master it copies, or its own name)."""
    from vsearch.media.synthetic import encode, footage, reencode

    rng = random.Random(seed)
    family = {}
    for number in range(masters):
        fps = rng.choice([10, 25])
        width, height = rng.choice([(160, 120), (256, 144), (320, 180)])
        seconds = rng.uniform(10, 20)
        name = f"m{number}"
        shot = rng.uniform(2, 5)
        master = encode(folder / f"{name}.mp4", seconds=seconds, fps=fps, width=width, height=height,
                        painter=footage(seed * 1000 + number, fps, shot))
        family[master.name] = name
        for kind, options in COPY_KINDS.items():
            options = dict(options)
            target = folder / f"{name}-{kind}{options.pop('suffix', '.mp4')}"
            family[reencode(master, target, **options).name] = name
        cut = rng.uniform(1, 4)
        family[reencode(master, folder / f"{name}-trim-start.mp4", start=cut).name] = name
        family[reencode(master, folder / f"{name}-trim-end.mp4", end=seconds - cut).name] = name
        family[reencode(master, folder / f"{name}-trim-both.mp4", start=cut / 2, end=seconds - cut / 2).name] = name
        take = encode(folder / f"{name}-take-2.mp4", seconds=seconds, fps=fps, width=width, height=height,
                      painter=footage(seed * 1000 + number, fps, shot, take=1))
        family[take.name] = take.name
    for number in range(masters):  # not copies of anything
        base = seed * 1000 + 500 + 8 * number
        for label, painter in (("other", footage(base, 10)), ("title-a", _with_opening(base + 1, base + 3, 10)),
                               ("title-b", _with_opening(base + 2, base + 3, 10)),
                               ("black-a", _with_opening(base + 4, None, 10)),
                               ("black-b", _with_opening(base + 5, None, 10))):
            path = encode(folder / f"n{number}-{label}.mp4", seconds=rng.uniform(8, 16), fps=10, width=160,
                          height=120, painter=painter)
            family[path.name] = path.name
    return family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masters", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the videos and the library (default: temporary)")
    args = parser.parse_args()
    began = time.perf_counter()

    from bench.common import configure_process, machine
    from vsearch.config import Settings
    from vsearch.duplicates.finder import find_spans, load_prints
    from vsearch.duplicates.match import FRAME_THRESHOLD
    from vsearch.ingest import ingest
    from vsearch.library import Library
    from vsearch.model.random_checkpoint import build_checkpoint
    from vsearch.store.models import Video

    configure_process()
    work = args.work or Path(tempfile.mkdtemp(prefix="vsearch-duplicates-"))
    (work / "videos").mkdir(parents=True, exist_ok=True)
    family = make_set(work / "videos", args.masters, args.seed)
    generated = time.perf_counter() - began
    # the model does not matter to prints; clips of 2 s with the tiny model's 4 frames sample 2 frames a second
    settings = Settings(data_dir=work / "library", model=str(build_checkpoint(work / "xclip-tiny")), device="cpu",
                        precision="fp32", clip_seconds=2.0, stride_seconds=2.0)
    library = Library(settings)
    try:
        summary = ingest(library, [work / "videos"])
        with library.store.session() as session:
            names = {v.id: Path(v.path).name for v in session.query(Video)}
        prints = load_prints(library.store)
    finally:
        library.close()
    truth = {frozenset((a, b)) for a, b in itertools.combinations(names.values(), 2) if family[a] == family[b]}
    rows = []
    for threshold in THRESHOLDS:
        started = time.perf_counter()
        spans = find_spans(prints, None, threshold)
        seconds = time.perf_counter() - started
        called = {frozenset((names[s.video_a], names[s.video_b])) for s in spans if s.kind == "copy"}
        hits = len(called & truth)
        rows.append({"threshold": threshold, "precision": round(hits / len(called), 4) if called else None,
                     "recall": round(hits / len(truth), 4), "called": len(called),
                     "false_pairs": sorted(sorted(p) for p in called - truth)[:10],
                     "missed_pairs": sorted(sorted(p) for p in truth - called)[:10],
                     "search_seconds": round(seconds, 3)})
    print(json.dumps({
        "default_threshold": FRAME_THRESHOLD,
        "table": rows,
        "videos": len(names), "copy_pairs": len(truth), "failed": summary.failed,
        "printed_frames": int(sum(len(p.times) for p in prints)),
        "seconds": {"generate": round(generated, 1), "total": round(time.perf_counter() - began, 1)},
        "machine": machine(),
        "work": str(work),
    }, indent=2))


if __name__ == "__main__":
    main()
