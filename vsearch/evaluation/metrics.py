"""Search quality against labelled moments: pure functions over ranked spans, no library.

A result is a hit for a query when it overlaps one of the query's labelled moments in the same video
(for more than an instant). Moment recall judges only the top result: its span against the best
matching labelled span, by temporal intersection over union. A result may stand for several spans: its
own and those of the copies folded into it (vsearch.duplicates), which the user sees listed with it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RECALL_AT = (1, 5, 10)
IOU_THRESHOLDS = (0.5, 0.7)
_INSTANT = 1e-6


@dataclass(frozen=True)
class Span:
    path: str
    start: float
    end: float


def overlaps(a: Span, b: Span) -> bool:
    return a.path == b.path and min(a.end, b.end) - max(a.start, b.start) > _INSTANT


def temporal_iou(a: Span, b: Span) -> float:
    if a.path != b.path:
        return 0.0
    inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
    union = max(a.end, b.end) - min(a.start, b.start)
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class QueryOutcome:
    """How one query did: the rank of its first hit (None: none in the results) and the top result's best
    temporal IoU with a labelled moment."""

    query: str
    first_hit: int | None
    top_iou: float
    results: int

    def as_json(self) -> dict:
        return {"query": self.query, "first_hit_rank": self.first_hit, "top_iou": round(self.top_iou, 4),
                "results": self.results}


def judge(query: str, ranked: Sequence[Span | Sequence[Span]], moments: Sequence[Span]) -> QueryOutcome:
    """`ranked`: the results best first, each a Span or the spans it stands for (its own first)."""
    results = [(item,) if isinstance(item, Span) else tuple(item) for item in ranked]
    first = next((rank for rank, spans in enumerate(results, start=1)
                  if any(overlaps(span, m) for span in spans for m in moments)), None)
    top_iou = max((temporal_iou(span, m) for span in results[0] for m in moments), default=0.0) if results else 0.0
    return QueryOutcome(query, first, top_iou, len(results))


def summarize(outcomes: Sequence[QueryOutcome], k: int) -> dict:
    """recall@1/5/10 (fraction of queries with a hit at that rank or better), the first hit's median and
    mean rank over the queries with a hit among their k results, and moment recall@1 at each IoU."""
    count = len(outcomes)
    ranks = [o.first_hit for o in outcomes if o.first_hit is not None]
    summary = {"queries": count, "k": k}
    for n in RECALL_AT:
        summary[f"recall@{n}"] = _fraction(sum(1 for r in ranks if r <= n), count) if n <= k else None
    summary["first_hit_median_rank"] = statistics.median(ranks) if ranks else None
    summary["first_hit_mean_rank"] = round(statistics.fmean(ranks), 3) if ranks else None
    summary["no_hit_in_top_k"] = count - len(ranks)
    for threshold in IOU_THRESHOLDS:
        summary[f"moment_recall@1_iou{threshold}"] = _fraction(
            sum(1 for o in outcomes if o.top_iou >= threshold - 1e-9), count)
    return summary


def _fraction(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
