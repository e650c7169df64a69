"""Ingest: what changed (changes), decode workers (workers), batched embedding and writing (runner).

`ingest` and `IngestSummary` are loaded on first use: decode workers are new processes that import
`vsearch.ingest.workers`, and they need none of the runner's database and model code.
"""

from __future__ import annotations

__all__ = ["ingest", "IngestSummary"]


def __getattr__(name: str):
    if name == "ingest":
        from vsearch.ingest.runner import ingest

        return ingest
    if name == "IngestSummary":
        from vsearch.ingest.summary import IngestSummary

        return IngestSummary
    raise AttributeError(f"module 'vsearch.ingest' has no attribute {name!r}")
