"""A fine-tuned checkpoint's match level: the X-CLIP score at which its clips turn from non-matches into
matches, measured on its own training clips after training, for relevance's "no description" competitor
(vsearch.relevance).

A relevance bank says which of its descriptions fits a clip best, not whether any fits: a clip that shows
none of them gives the least bad one a high share. The training clips say what a match scores with this
checkpoint (each clip with its own query) and what the nearest non-match scores (each clip with the best of
the other queries, windows moved partly off their moment when the run trained with such windows, background
clips with every query). The match level lies halfway between the weakest matches (their 1st percentile)
and the strongest non-matches (their 99th): a score there is as much the one as the other. The
checkpoint's default cut-off is then measured on the same matches, with relevance as the search computes it
(cut_off).
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np

from vsearch.relevance import CALIBRATION_FILE, DEFAULT_MIN_RELEVANCE
from vsearch.training.recipe import offset_slots

# text embeddings this alike are one to X-CLIP: the video-conditioned prompt is computed from the text
# embedding and the clip, so every clip gives such queries the same score
MERGED_COSINE = 0.999
CLIPS = 256  # training clips scored (and as many moved windows and backgrounds, at most)
MATCH_PERCENTILE = 1.0  # the weakest matches
NON_MATCH_PERCENTILE = 99.0  # the strongest non-matches
CUT_PERCENTILE = 5.0  # the default cut-off: the training matches' relevance at this percentile
MAX_CUT_OFF = 0.999  # the highest default cut-off (relevance saturates near 1)


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
    # score matrices, each with its clips' own queries and whether those are matches (a moved window's own
    # query is neither a match nor a non-match), for relevance as the search computes it
    judged = [(scores, mine, True)]
    kinds = {"other_queries": len(chosen)}
    plan = trainer.plan
    if plan.offset_negatives > 0:
        nearest, furthest = offset_slots(plan, len(chosen[0].frames))
        moved = [clip.offset(rng, rng.randint(nearest, furthest)) for clip in chosen]
        kept = [n for n, (a, b) in enumerate(zip(moved, chosen)) if a is not b]  # a clip with no room stays put
        if kept:
            shifted = trainer.logits([moved[n].frames for n in kept], queries)
            non_matches.append(np.where(mine[kept], -np.inf, shifted).max(axis=1))
            judged.append((shifted, mine[kept], False))
            kinds["moved_windows"] = len(kept)
    if backgrounds:
        sample = rng.sample(list(backgrounds), min(CLIPS, len(backgrounds)))
        background_scores = trainer.logits([b.frames for b in sample], queries)
        non_matches.append(background_scores.max(axis=1))
        judged.append((background_scores, np.zeros_like(background_scores, dtype=bool), False))
        kinds["backgrounds"] = len(sample)
    non_matches = np.concatenate(non_matches)
    weakest = float(np.percentile(matches, MATCH_PERCENTILE))
    strongest = float(np.percentile(non_matches, NON_MATCH_PERCENTILE))
    level = (weakest + strongest) / 2
    match_relevance, non_match_relevance = relevance_logits(judged, level)
    return {
        "match_level": round(level, 4),
        "min_relevance": cut_off(match_relevance),
        "how": "halfway between the weakest matches (a low percentile of training clips' scores for their own "
               "queries) and the strongest non-matches (a high percentile of their best scores for another query)",
        "percentiles": {"matches": MATCH_PERCENTILE, "non_matches": NON_MATCH_PERCENTILE},
        "matches": {"clips": len(matches), "percentile_1": round(weakest, 4),
                    "median": round(float(np.median(matches)), 4)},
        "non_matches": {**kinds, "percentile_99": round(strongest, 4),
                        "median": round(float(np.median(non_matches)), 4)},
        "relevance": {"bank": "the other training queries", "matches_percentile_1": _share(match_relevance, 1),
                      f"matches_percentile_{CUT_PERCENTILE:g}": _share(match_relevance, CUT_PERCENTILE),
                      "matches_median": _share(match_relevance, 50),
                      "non_matches_percentile_99": _share(non_match_relevance, 99)},
        "queries": len(queries),
        "merged_queries": merged_queries(trainer, sorted({clip.moment.query for clip in clips})),
    }


def relevance_logits(judged: list, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Relevance as its logit, log(r / (1 - r)), of each clip for each query, the other queries being the bank
    and the level "no description": matches' and, for each clip, its best non-match's."""
    matches, non_matches = [], []
    for scores, mine, own_is_match in judged:
        scores = scores.astype(np.float64)
        whole = np.logaddexp(np.logaddexp.reduce(scores, axis=1, keepdims=True), level)
        # log of everything but the query itself, log(exp(whole) - exp(s)); kept finite where s is all of it
        rest = whole + np.log1p(-np.minimum(np.exp(scores - whole), 1 - 1e-15))
        logits = scores - rest
        if own_is_match:
            matches.append(logits[mine])
        if (~mine).any():
            non_matches.append(np.where(mine, -np.inf, logits).max(axis=1))
    return np.concatenate(matches), np.concatenate(non_matches)


def cut_off(match_logits: np.ndarray) -> float:
    """The checkpoint's default relevance cut-off: the relevance of its training matches at CUT_PERCENTILE (as
    the search computes it: the other training queries as the bank, the match level as "no description"). A
    result must be as relevant as nearly all of the matches the model was taught. It follows the model's own
    spread of scores, where one fixed cut-off hides a less sharp model's matches. Kept within
    [DEFAULT_MIN_RELEVANCE, MAX_CUT_OFF]: a model whose matches are weak gets the lenient cut-off, not none."""
    share = 1 / (1 + math.exp(-float(np.percentile(match_logits, CUT_PERCENTILE))))
    return round(min(max(share, DEFAULT_MIN_RELEVANCE), MAX_CUT_OFF), 4)


def _share(logits: np.ndarray, percentile: float) -> float:
    """A percentile of relevance logits, as a relevance."""
    return round(1 / (1 + math.exp(-float(np.percentile(logits, percentile)))), 5)


def merged_queries(trainer, queries: list[str]) -> list[list[str]]:
    """Pairs of queries whose text embeddings the model made (almost) the same: it cannot tell them apart."""
    embeds = trainer.text_embeddings(queries)
    alike = np.triu(embeds @ embeds.T, k=1) >= MERGED_COSINE
    return [[queries[a], queries[b]] for a, b in zip(*np.nonzero(alike))]


def write(out: Path, calibration: dict | None) -> None:
    """The checkpoint folder's calibration file (none when nothing could be measured)."""
    path = Path(out) / CALIBRATION_FILE
    if calibration is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(calibration, indent=2))
    tmp.replace(path)
