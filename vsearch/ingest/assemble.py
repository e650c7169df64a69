"""The assembly stage: decode messages in, embedded batches out and back, whole videos out.

Both distributors (vsearch.ingest.distributors) run it in the process that writes the library. It takes a
stream of decode messages (ClipChunk, VideoStarted, VideoDone, VideoReset, VideoFailed) in any
interleaving of videos, gathers their clips into batches across videos for the embedder, and yields each
video once every one of its clips is embedded (`VideoParts`), or its `VideoFailed`.

An embedder takes a batch (`submit`) and hands results back later (`results`): at once in this process,
or when a remote actor answers. A video reset while some of its clips are in flight starts a new
generation; results of an older one are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vsearch.media.blank import is_blank
from vsearch.media.clips import ClipChunk, VideoDone, VideoFailed, VideoReset, VideoStarted
from vsearch.media.sample import ClipPlan

ClipKey = tuple[int, int, int]  # (task, generation, ordinal)


class Embedder(Protocol):
    def submit(self, keys: list[ClipKey], frames: np.ndarray) -> None:
        """Embed (n, T, h, w, 3) uint8 frames; may wait while too many batches are in flight."""

    def results(self, wait: bool) -> list[tuple[list[ClipKey], np.ndarray, np.ndarray]]:
        """Batches finished since the last call, as (keys, vectors, prompt features); `wait`: at least one,
        when any is in flight."""

    @property
    def busy(self) -> bool:
        """Batches are in flight."""


@dataclass
class VideoParts:
    """A video's clips on their way through the model; complete once each has its vector."""

    task: int
    generation: int = 0
    started: VideoStarted | None = None
    done: bool = False
    plans: dict[int, ClipPlan] = field(default_factory=dict)
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    features: dict[int, np.ndarray] = field(default_factory=dict)
    thumbnails: dict[int, bytes] = field(default_factory=dict)
    blank: dict[int, bool] = field(default_factory=dict)
    prints: dict[float, np.ndarray | None] = field(default_factory=dict)  # by frame time; None: a flat frame

    @property
    def complete(self) -> bool:
        return self.done and self.started is not None and len(self.vectors) == self.started.num_clips

    def reset(self) -> None:
        self.generation += 1
        self.started, self.done = None, False
        for part in (self.plans, self.vectors, self.features, self.thumbnails, self.blank, self.prints):
            part.clear()


class Assembler:
    """Runs the assembly stage for the files `tasks` (see the module's doc)."""

    def __init__(self, tasks: Iterable[int], embedder: Embedder, batch_size: int, timings: dict[str, float]):
        self.parts = {task: VideoParts(task) for task in tasks}
        self.embedder = embedder
        self.batch_size = batch_size
        self.timings = timings
        self.buffer: list[tuple[ClipKey, np.ndarray]] = []

    def run(self, messages: Iterable[object]) -> Iterator[VideoParts | VideoFailed]:
        for message in messages:
            yield from self._take(message)
            yield from self._collect(wait=False)
        while self.buffer:
            self._submit()
        yield from self._collect(wait=False)
        while self.embedder.busy:
            yield from self._collect(wait=True)
        for task in list(self.parts):  # a video whose messages did not all arrive (a worker died mid-message)
            del self.parts[task]
            yield VideoFailed(task, "decoding ended before every clip arrived")

    def _take(self, message) -> Iterator[VideoParts | VideoFailed]:
        parts = self.parts.get(message.task)
        if parts is None:
            return
        if isinstance(message, ClipChunk):
            self.timings["decode"] += message.decode_s
            self.timings["preprocess"] += message.preprocess_s
            for plan, frames, thumbnail in zip(message.plans, message.frames, message.thumbnails):
                parts.plans[plan.ordinal] = plan
                parts.thumbnails[plan.ordinal] = thumbnail
                parts.blank[plan.ordinal] = is_blank(frames)
                self.buffer.append(((parts.task, parts.generation, plan.ordinal), frames))
            parts.prints.update(message.prints)
            while len(self.buffer) >= self.batch_size:
                self._submit()
        elif isinstance(message, VideoStarted):
            parts.started = message
        elif isinstance(message, VideoDone):
            parts.done = True
            yield from self._finish(parts.task)
        elif isinstance(message, VideoReset):
            parts.reset()
            self._drop_buffered(parts.task)
        elif isinstance(message, VideoFailed):
            del self.parts[parts.task]
            self._drop_buffered(parts.task)
            yield message

    def _drop_buffered(self, task: int) -> None:
        self.buffer[:] = [item for item in self.buffer if item[0][0] != task]

    def _submit(self) -> None:
        batch, self.buffer[:] = self.buffer[: self.batch_size], self.buffer[self.batch_size:]
        self.embedder.submit([key for key, _ in batch], np.stack([frames for _, frames in batch]))

    def _collect(self, wait: bool) -> Iterator[VideoParts]:
        touched = set()
        for keys, vectors, features in self.embedder.results(wait):
            for (task, generation, ordinal), vector, feature in zip(keys, vectors, features):
                parts = self.parts.get(task)
                if parts is not None and parts.generation == generation:
                    # features held as the library stores them (float16): a long video's wait costs half
                    parts.vectors[ordinal] = vector
                    parts.features[ordinal] = np.asarray(feature, dtype=np.float16)
                    touched.add(task)
        for task in sorted(touched):
            yield from self._finish(task)

    def _finish(self, task: int) -> Iterator[VideoParts]:
        parts = self.parts.get(task)
        if parts is not None and parts.complete:
            del self.parts[task]
            yield parts
