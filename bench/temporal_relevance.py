"""Can relevance say "no good match"? Queries for events absent from a library against queries for present ones.

Part of bench/temporal.py (run after its training), or on its own over a finished run's folder:

    python bench/temporal_relevance.py --work /tmp/vsearch-temporal-XXXX

The temporal benchmark's test videos are split into FOLDS by event sentence (each fold: one colour per
motion). For each fold, a library holds every test video except that fold's: the fold's sentences are
absent from it, every other sentence is present. An absent query gets "no good match" at a cut-off when
none of the results the search would judge passes it: the search stops after PATIENCE results in a row
below the cut-off, so that is when the best relevance among its first PATIENCE moments is below it. A
present query keeps its labelled moment when a result that overlaps one of its labelled moments (among
the first k) passes. Both rates for a sweep of cut-offs, and at the library's default.

The targets are judged on the test split as bench/temporal.py defines it (its recall@1 targets too): the
queries of the sentences the model was trained on, over new videos (`test_split`). The held-out
colour-motion pairs, which bench/temporal.py reports without a target, are reported with them as well
(`with_held_out_pairs`): they are sentences the model never learnt to tell apart, and no normalisation of
its scores can say whether such an event is there.

The fine-tuned checkpoint carries its match level (`vsearch finetune` measures it on its training clips:
vsearch.training.calibrate), so relevance here has the "no description" competitor, and the default cut-off
is the one calibrated with it (vsearch.training.calibrate.cut_off).

Copy folding is off in these libraries (as in bench/temporal.py's): the videos are flat squares on flat
backdrops, whose frame prints the copy detector cannot tell apart, so it would fold different videos into
one result and hide the folded ones' relevance from the sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FOLDS = 4
# relevance crowds near 1 for a confident model: the sweep looks closer there
CUTS = [0.01, 0.02, 0.03] + [round(0.05 * n, 2) for n in range(1, 20)] + [0.97, 0.99, 0.995, 0.998, 0.999]
K = 10  # a present query's labelled moment must be among the first K moments
TARGETS = {"absent_no_good_match": 0.9, "present_kept": 0.95}


def folds(colours: list[str], motions: list[str]) -> list[list[str]]:
    """Sentences in FOLDS groups: fold f takes, for motion m, colour (m + f) mod the colours' count."""
    from bench.temporal import sentence

    return [[sentence(colours[(m + f) % len(colours)], motion) for m, motion in enumerate(motions)]
            for f in range(FOLDS)]


def measure(checkpoint: Path, labels_paths: list[Path], work: Path, device: str = "cpu",
            everyday: bool = False, untrained: set[str] = frozenset()) -> dict:
    """Relevance of absent and present queries over the FOLDS libraries; the rates per cut-off. The bank is the
    checkpoint's own (its training sentences); `everyday` adds the everyday prompts, which the benchmark's
    small vocabulary can only spell in meaningless pieces. `untrained`: sentences the model was not trained on
    (reported apart as well)."""
    from bench.temporal import COLOURS, EVENT, MOTIONS
    from vsearch.config import Settings
    from vsearch.cutoff import PATIENCE
    from vsearch.evaluation.labels import read_labels
    from vsearch.ingest import ingest
    from vsearch.library import Library
    from vsearch.relevance import default_min_relevance
    from vsearch.search import search

    moments = [m for path in labels_paths for m in read_labels(path).moments]
    absent_scores, present_scores, checked = [], [], []
    for number, fold in enumerate(folds(list(COLOURS), list(MOTIONS))):
        folder = work / f"relevance-fold-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        for m in moments:  # the library: every test video but the fold's
            target = folder / Path(m.path).name
            if m.query not in fold and not target.exists():
                os.link(m.path, target)
        settings = Settings(data_dir=work / f"library-relevance-{checkpoint.name}-{number}", model=str(checkpoint), device=device,
                            precision="fp32", clip_seconds=EVENT, stride_seconds=1.0, workers=1, cpu_linear="blas",
                            relevance_everyday=everyday, fold_copies=False)
        library = Library(settings)
        try:
            ingest(library, [folder])
            default = default_min_relevance(library.settings)
            for query in sorted({m.query for m in moments}):
                if query in fold:
                    found = search(library, query, k=PATIENCE, group="moment").results
                    best = max(r.relevance for r in found)
                    absent_scores.append({"query": query, "fold": number, "best_relevance": best})
                    judged = search(library, query, k=K, group="moment", min_relevance=default)
                    checked.append(judged.no_good_match == (best < default))
                else:
                    labelled = [m for m in moments if m.query == query]
                    found = search(library, query, k=K, group="moment").results
                    hits = [r.relevance for r in found
                            if any(Path(m.path).name == Path(r.path).name and r.start < m.end and m.start < r.end
                                   for m in labelled)]
                    present_scores.append({"query": query, "fold": number,
                                           "hit_relevance": max(hits) if hits else None})
        finally:
            library.close()
    trained = summarise([a for a in absent_scores if a["query"] not in untrained],
                        [p for p in present_scores if p["query"] not in untrained], default)
    everything = summarise(absent_scores, present_scores, default)
    return {"test_split": trained, "with_held_out_pairs": everything, "search_agrees_with_the_sweep": all(checked),
            "absent": absent_scores, "present": present_scores}


def summarise(absent: list[dict], present: list[dict], default: float) -> dict:
    def rates(cut: float) -> dict:
        no_match = sum(a["best_relevance"] < cut for a in absent) / len(absent)
        kept = sum(p["hit_relevance"] is not None and p["hit_relevance"] >= cut for p in present) / len(present)
        return {"min_relevance": cut, "absent_no_good_match": round(no_match, 3),
                "present_kept": round(kept, 3)}

    sweep = [rates(cut) for cut in CUTS]
    meets = [r for r in sweep if all(r[key] >= target for key, target in TARGETS.items())]
    # the cut-off nearest both targets: the largest of the smaller of the two rates over its target
    best = max(sweep, key=lambda r: min(r[key] / target for key, target in TARGETS.items()))
    at_default = rates(default)
    return {
        "at_default": at_default,
        "targets": TARGETS,
        "meets_targets_at_default": all(at_default[key] >= target for key, target in TARGETS.items()),
        "best_cut_off": best,
        "cut_offs_meeting_both": [r["min_relevance"] for r in meets],
        "absent_queries": len(absent),
        "present_queries": len(present),
        "present_without_a_hit_in_top_k": sum(p["hit_relevance"] is None for p in present),
        "sweep": sweep,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True,
                        help="a bench/temporal.py run's folder (its xclip-tuned, test.jsonl, unseen.jsonl)")
    parser.add_argument("--checkpoint", type=Path, help="default: WORK/xclip-tuned")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--everyday", action="store_true", help="keep the everyday prompts in the bank")
    args = parser.parse_args()
    from bench.common import configure_process

    configure_process()
    from vsearch.evaluation.labels import read_labels

    unseen = args.work / "unseen.jsonl"
    result = measure(args.checkpoint or args.work / "xclip-tuned", [args.work / "test.jsonl", unseen], args.work,
                     args.device, args.everyday, {m.query for m in read_labels(unseen).moments})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
