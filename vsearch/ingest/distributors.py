"""Distributors: two ways to run the same ingest stages (decode → embed → assemble → write).

The runner (vsearch.ingest.runner) assembles and writes in its own process, whichever runs the rest:
- `LocalDistributor`: decode worker processes on this machine (vsearch.ingest.workers), the model in this
  process;
- `RayDistributor` (vsearch.ingest.ray_run): decode tasks on a Ray cluster's CPUs, the model in a pool of
  Ray actors (one per GPU, or on CPUs).
Each gives the runner a stream of decode messages (`decode`) and an embedder (`embedder`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.ingest.assemble import ClipKey
from vsearch.ingest.workers import DecodeBudget, DecodePool
from vsearch.media.clips import ClipJob
from vsearch.model.preprocess import normalize

if TYPE_CHECKING:
    from vsearch.config import Settings


class LocalEmbedder:
    """The model in this process: a batch is embedded when it is submitted."""

    def __init__(self, model, timings: dict[str, float]):
        self.model = model
        self.timings = timings
        self._done: list[tuple[list[ClipKey], np.ndarray, np.ndarray]] = []

    def submit(self, keys: list[ClipKey], frames: np.ndarray) -> None:
        started = time.perf_counter()
        pixels = normalize(frames, self.model.spec)
        self.timings["preprocess"] += time.perf_counter() - started
        started = time.perf_counter()
        embedded = self.model.embed_clips(pixels)
        self.timings["embed"] += time.perf_counter() - started
        self._done.append((keys, embedded.vectors, embedded.prompt_features))

    def results(self, wait: bool) -> list[tuple[list[ClipKey], np.ndarray, np.ndarray]]:
        done, self._done = self._done, []
        return done

    @property
    def busy(self) -> bool:
        return False


class LocalDistributor:
    """Decode worker processes on this machine; the model in this process."""

    name = "local"

    def __init__(self, settings: Settings, model, job: ClipJob):
        self.settings, self.model, self.job = settings, model, job

    def __enter__(self) -> LocalDistributor:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def embedder(self, timings: dict[str, float]) -> LocalEmbedder:
        return LocalEmbedder(self.model, timings)

    def decode(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        settings = self.settings
        budget = DecodeBudget(settings.decode_budget_seconds, settings.decode_budget_per_video_second)
        pool = DecodePool(self.job, settings.workers, nice=settings.decode_nice, budget=budget)
        return pool.run(items)


def distributor_for(settings: Settings, model, job: ClipJob):
    """The Ray distributor when `settings.ray_address` is set, else the local one."""
    if settings.ray_address:
        from vsearch.ingest.ray_run import RayDistributor

        return RayDistributor(settings, model, job)
    return LocalDistributor(settings, model, job)
