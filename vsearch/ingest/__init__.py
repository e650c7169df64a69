"""Ingest: discover → decode → sample → preprocess → embed → store/index, incrementally."""

from vsearch.ingest.runner import ingest
from vsearch.ingest.summary import IngestSummary

__all__ = ["IngestSummary", "ingest"]
