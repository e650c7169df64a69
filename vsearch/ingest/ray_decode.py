"""Decoding on a Ray cluster: one streaming task per file, as a local decode worker runs it.

See vsearch.ingest.ray_run for the whole; here, what happens to a file whose task does not finish: one
whose node is lost starts over elsewhere (up to `ray_decode_retries` times), one whose worker crashed or
went over its time budget (vsearch.ingest.workers.DecodeBudget) is tried with the other decoder. What it
had sent is dropped first (VideoReset).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vsearch.errors import first_line
from vsearch.ingest.workers import DECODERS, DecodeBudget, decoder_given_up
from vsearch.media.clips import ClipJob, Decoding, VideoFailed, VideoProbed, VideoReset, VideoStarted

if TYPE_CHECKING:
    from vsearch.config import Settings

log = logging.getLogger(__name__)

CHUNKS_AHEAD = 4  # decoded chunks a task may hold that the runner has not taken yet


def _node_name() -> str:
    import ray

    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"


def _decode_file(task: int, path: str, job: ClipJob, nice: bool) -> Iterator[object]:
    """A Ray task: a file's decode messages, as a local decode worker sends them."""
    from vsearch.ingest.workers import _yield_to_the_model
    from vsearch.media.clips import produce_clips

    if nice:
        _yield_to_the_model()
    try:
        for message in produce_clips(task, Path(path), job):
            if isinstance(message, VideoFailed):
                message = VideoFailed(task, f"{message.reason} (on node {_node_name()})")
            yield message
    except Exception as exc:  # noqa: BLE001 - any surprise fails this file, not the run
        yield VideoFailed(task, f"unexpected error: {type(exc).__name__}: {exc} (on node {_node_name()})")


@dataclass
class _Work:
    task: int
    path: Path
    skip: tuple[str, ...] = ()
    lost: int = 0  # times its node was lost
    tried: set[str] = field(default_factory=set)
    duration: float | None = None
    started: bool = False
    last_message: float | None = None  # None: not started yet (waiting for a CPU is not the decoder's fault)
    reasons: list[str] = field(default_factory=list)


class RayDecoder:
    """Runs `_decode_file` tasks for many files and yields their messages as they come (see the module)."""

    tick = 1.0

    def __init__(self, job: ClipJob, slots: int, settings: Settings):
        self.job, self.slots = job, slots
        self.nice = settings.decode_nice
        self.retries = settings.ray_decode_retries
        self.budget = DecodeBudget(settings.decode_budget_seconds, settings.decode_budget_per_video_second)
        self._chunk_span = job.chunk_clips * job.stride_seconds + job.clip_seconds

    def run(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        import ray

        remote = ray.remote(_decode_file).options(
            num_returns="streaming", num_cpus=1, max_retries=0, _generator_backpressure_num_objects=CHUNKS_AHEAD)
        pending = deque(_Work(task, Path(path)) for task, path in items)
        running: dict[object, _Work] = {}
        try:
            while pending or running:
                while pending and len(running) < self.slots:
                    work = pending.popleft()
                    job = dataclasses.replace(self.job, skip_decoders=work.skip) if work.skip else self.job
                    work.tried, work.started, work.duration, work.last_message = set(), False, None, None
                    running[remote.remote(work.task, str(work.path), job, self.nice)] = work
                ready, _ = ray.wait(list(running), num_returns=1, timeout=self.tick)
                for generator in ready:
                    work = running[generator]
                    try:
                        message = ray.get(next(generator))
                    except StopIteration:
                        del running[generator]
                        continue
                    except ray.exceptions.RayError as exc:
                        del running[generator]
                        yield from self._lost(work, exc, pending)
                        continue
                    yield from self._take(work, message)
                yield from self._check_budgets(running, pending)
        finally:
            for generator in running:
                ray.cancel(generator, force=True)

    def _take(self, work: _Work, message) -> Iterator[object]:
        work.last_message = time.monotonic()
        if isinstance(message, VideoProbed):
            work.duration = message.duration
        elif isinstance(message, Decoding):
            work.tried.add(message.decoder)
            work.started = False
        elif isinstance(message, VideoStarted):
            work.duration, work.started = message.duration, True
        if isinstance(message, VideoFailed) and work.reasons:
            message = VideoFailed(message.task, "; ".join([*work.reasons, message.reason]))
        if not isinstance(message, (VideoProbed, Decoding)):
            yield message

    def _lost(self, work: _Work, exc: BaseException, pending: deque, reason: str | None = None) -> Iterator[object]:
        """The file's task ended without finishing: start it over (elsewhere, or with the other decoder)."""
        import ray

        if isinstance(exc, ray.exceptions.WorkerCrashedError) or reason:  # the decoder's fault, not the node's
            tried, work.skip = decoder_given_up(work.skip, work.tried)
            work.reasons.append(f"{tried}: {reason or 'decoder crashed'}")
            if all(decoder in work.skip for decoder in DECODERS):
                yield VideoFailed(work.task, "; ".join(work.reasons))
                return
        else:
            work.lost += 1
            log.warning("%s: its decode task was lost (%s); %s", work.path, first_line(exc),
                        "starting it over" if work.lost <= self.retries else "giving up")
            if work.lost > self.retries:
                yield VideoFailed(work.task, f"its decode task was lost {work.lost} times: {first_line(exc)}")
                return
        yield VideoReset(work.task)
        pending.appendleft(work)

    def _check_budgets(self, running: dict, pending: deque) -> Iterator[object]:
        """A task with no message for longer than its budget (a decoder that hangs) is cancelled."""
        import ray

        now = time.monotonic()
        for generator, work in list(running.items()):
            if work.last_message is None:
                continue
            allowed = self.budget.for_duration(self._chunk_span if work.started else work.duration)
            if now - work.last_message > allowed:
                ray.cancel(generator, force=True)
                del running[generator]
                reason = f"did not finish decoding within its budget ({allowed:.0f} s allowed)"
                yield from self._lost(work, RuntimeError(reason), pending, reason=reason)


