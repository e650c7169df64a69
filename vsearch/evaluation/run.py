"""`vsearch eval`: every labelled query run against the library as `vsearch query` runs it, judged against
its labelled moments, under one or more search settings side by side."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vsearch.evaluation.labels import Labels
from vsearch.evaluation.metrics import Span, judge, summarize
from vsearch.search import search
from vsearch.store import repo

if TYPE_CHECKING:
    from vsearch.library import Library


@dataclass(frozen=True)
class SearchSettings:
    """What may differ between the runs of one evaluation."""

    name: str = "default"
    rerank: bool = True
    overfetch: int | None = None  # None: the library's setting
    group: str = "moment"  # the result unit judged: "moment" (as `vsearch query` answers) or "clip"
    tolerance: float | None = None  # moments: None is the library's setting

    @classmethod
    def parse(cls, text: str, base: "SearchSettings") -> "SearchSettings":
        """`rerank=off`, `overfetch=10`, `group=clip`, `tolerance=1.0`, comma-separated: `base` with those
        changed."""
        rerank, overfetch, group, tolerance = base.rerank, base.overfetch, base.group, base.tolerance
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            key, value = key.strip().lower(), value.strip().lower()
            if key == "rerank" and value in ("on", "off", "true", "false", "1", "0", "yes", "no"):
                rerank = value in ("on", "true", "1", "yes")
            elif key == "overfetch" and value.isdigit() and int(value) >= 1:
                overfetch = int(value)
            elif key == "group" and value in ("moment", "clip"):
                group = value
            elif key == "tolerance" and _non_negative(value):
                tolerance = float(value)
            else:
                raise ValueError(f"cannot compare {part!r}: use rerank=on|off, overfetch=N (N >= 1), "
                                 "group=moment|clip or tolerance=T (T >= 0)")
        return cls(text.strip(), rerank, overfetch, group, tolerance)

    def as_json(self, library: Library) -> dict:
        return {"name": self.name, "rerank": self.rerank,
                "overfetch": self.overfetch or library.settings.overfetch, "group": self.group,
                "tolerance": self.tolerance if self.tolerance is not None else library.settings.moment_tolerance}


def _non_negative(value: str) -> bool:
    try:
        return float(value) >= 0
    except ValueError:
        return False


@dataclass
class Evaluation:
    labels: Labels
    k: int
    missing: dict[str, list[int]] = field(default_factory=dict)  # labelled path not in the library -> lines
    unanswerable: list[str] = field(default_factory=list)  # queries whose every moment is in a missing file
    runs: list[dict] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "labels": str(self.labels.source),
            "k": self.k,
            "moments": len(self.labels.moments),
            "problems": [{"line": line, "problem": problem} for line, problem in self.labels.problems],
            "missing_files": [{"path": path, "lines": lines} for path, lines in self.missing.items()],
            "queries_without_a_file_in_the_library": self.unanswerable,
            "runs": self.runs,
        }


def evaluate(library: Library, labels: Labels, k: int = 10, runs: list[SearchSettings] | None = None,
             progress=None) -> Evaluation:
    """Run and judge every labelled query under each of `runs` (default: the library's own settings).
    `progress`, if given, is called once per query searched."""
    evaluation = Evaluation(labels, k)
    known = _library_paths(library)
    answerable: dict[str, list[Span]] = {}
    for query, moments in labels.queries().items():
        spans = []
        for moment in moments:
            stored = known.get(moment.path) or known.get(os.path.realpath(moment.path))
            if stored is None:
                evaluation.missing.setdefault(moment.path, []).append(moment.line)
            else:
                spans.append(Span(stored, moment.start, moment.end))
        if spans:
            answerable[query] = spans
        else:
            evaluation.unanswerable.append(query)
    for settings in runs or [SearchSettings()]:
        outcomes, took, rankings = [], [], set()
        for query, spans in answerable.items():
            response = search(library, query, k, rerank=settings.rerank, overfetch=settings.overfetch,
                              group=settings.group, tolerance=settings.tolerance)
            # a result with copies folded into it shows their spans too
            ranked = [[Span(r.path, r.start, r.end)] + [Span(c["path"], c["start"], c["end"]) for c in r.also_in]
                      for r in response.results]
            outcomes.append(judge(query, ranked, spans))
            took.append(response.took_ms)
            rankings.add(response.ranking)
            if progress:
                progress()
        evaluation.runs.append({
            **settings.as_json(library),
            "ranking": "/".join(sorted(rankings)),
            "metrics": summarize(outcomes, k),
            "median_query_ms": round(statistics.median(took), 1) if took else None,
            "queries": [o.as_json() for o in outcomes],
        })
    return evaluation


def _library_paths(library: Library) -> dict[str, str]:
    """Indexed videos by their recorded path and by that path with links resolved."""
    with library.store.session() as session:
        paths = [video.path for video in repo.all_videos(session) if video.status == "indexed"]
    known = {path: path for path in paths}
    for path in paths:
        known.setdefault(os.path.realpath(path), path)
    return known
