"""A fine-tuned checkpoint's match level: the X-CLIP score at which its clips turn from non-matches into
matches, measured on its own training clips after training, for relevance's "no description" competitor
(vsearch.relevance).

A relevance bank says which of its descriptions fits a clip best, not whether any fits: a clip that shows
none of them gives the least bad one a high share. The training clips say what a match scores with this
checkpoint (each clip with its own query) and what the nearest non-match scores (each clip with the best of
the other queries, windows moved partly off their moment when the run trained with such windows, background
clips with every query). The match level lies halfway between the weakest matches (their 1st percentile)
and the strongest non-matches (their 99th): a score there is as much the one as the other.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from vsearch.relevance import CALIBRATION_FILE
from vsearch.training.recipe import offset_slots

CLIPS = 256  # training clips scored (and as many moved windows and backgrounds, at most)
MATCH_PERCENTILE = 1.0  # the weakest matches
NON_MATCH_PERCENTILE = 99.0  # the strongest non-matches


def measure(trainer, clips: list, backgrounds: list, seed: int) -> dict | None:
    """The match level and what it was measured on; None when the clips hold fewer than two queries."""
    rng = random.Random(seed)
    chosen = rng.sample(clips, min(CLIPS, len(clips)))
    queries = sorted({clip.moment.query for clip in chosen})
    if len(queries) < 2:
        return None
    own = np.array([queries.index(clip.moment.query) for clip in chosen])
    mine = np.eye(len(queries), dtype=bool)[own]
    scores = trainer.logits([clip.frames for clip in chosen], queries)
    matches = scores[np.arange(len(chosen)), own]
    non_matches = [np.where(mine, -np.inf, scores).max(axis=1)]
    kinds = {"other_queries": len(chosen)}
    plan = trainer.plan
    if plan.offset_negatives > 0:
        nearest, furthest = offset_slots(plan, len(chosen[0].frames))
        moved = [clip.offset(rng, rng.randint(nearest, furthest)) for clip in chosen]
        kept = [n for n, (a, b) in enumerate(zip(moved, chosen)) if a is not b]  # a clip with no room stays put
        if kept:
            shifted = trainer.logits([moved[n].frames for n in kept], queries)
            non_matches.append(np.where(mine[kept], -np.inf, shifted).max(axis=1))
            kinds["moved_windows"] = len(kept)
    if backgrounds:
        sample = rng.sample(list(backgrounds), min(CLIPS, len(backgrounds)))
        non_matches.append(trainer.logits([b.frames for b in sample], queries).max(axis=1))
        kinds["backgrounds"] = len(sample)
    non_matches = np.concatenate(non_matches)
    weakest = float(np.percentile(matches, MATCH_PERCENTILE))
    strongest = float(np.percentile(non_matches, NON_MATCH_PERCENTILE))
    return {
        "match_level": round((weakest + strongest) / 2, 4),
        "how": "halfway between the weakest matches (a low percentile of training clips' scores for their own "
               "queries) and the strongest non-matches (a high percentile of their best scores for another query)",
        "percentiles": {"matches": MATCH_PERCENTILE, "non_matches": NON_MATCH_PERCENTILE},
        "matches": {"clips": len(matches), "percentile_1": round(weakest, 4),
                    "median": round(float(np.median(matches)), 4)},
        "non_matches": {**kinds, "percentile_99": round(strongest, 4),
                        "median": round(float(np.median(non_matches)), 4)},
        "queries": len(queries),
    }


def write(out: Path, calibration: dict | None) -> None:
    """The checkpoint folder's calibration file (none when nothing could be measured)."""
    path = Path(out) / CALIBRATION_FILE
    if calibration is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(calibration, indent=2))
    tmp.replace(path)
