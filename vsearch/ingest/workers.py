"""Decode workers: run `produce_clips` for many videos in separate processes, in parallel with the model.

Decoding runs outside the model's process (decoders and the model's thread pool slow each other
down when they share one). The parent hands each worker one file at a time through a pipe of its own,
and each worker sends its messages back through another, synchronously, so what a worker sent survives
it; a reader thread in the parent moves them into one bounded queue, which keeps memory flat.

A decoder can crash (a damaged file) or never return (decord can spin forever in native code holding
the GIL: dmlc/decord #269, #373). Each file gets a time budget from its duration (`DecodeBudget`); a
worker that crashes or goes over it is killed and replaced, and its file is tried again with the
decoders it was not on; when none is left the file fails with the reason. Workers never outlive the
ingest: they ask the kernel to kill them when their parent dies (even by SIGKILL), and `close` kills
whatever is left. With workers=0 everything runs inline, in order (handy for debugging; no budget).
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from vsearch.media.clips import (
    ClipJob,
    Decoding,
    VideoDone,
    VideoFailed,
    VideoProbed,
    VideoReset,
    VideoStarted,
    produce_clips,
)

DECODERS = ("decord", "pyav")  # the order produce_clips tries them in
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class DecodeBudget:
    """How long a worker may go without progress on a file: `seconds` plus `per_video_second` for each
    second of video it has to decode before its next message. Until the file's clips are planned that is
    the whole video (a decoder's first pass, for the timestamps, sends nothing until it ends); then it is
    the span of one chunk of clips.

    Counted from the file's start or its last message, in CPU time of the worker (a decoder that spins
    burns it; a worker that waits for the model to take its clips, or for a core, does not), and in time
    the ingest spends waiting for decoded clips with nothing else to do (a decoder that hangs without
    spinning). Files of unknown duration count as `unknown_duration` seconds.
    """

    seconds: float = 60.0
    per_video_second: float = 10.0
    unknown_duration: float = 600.0

    def for_duration(self, duration: float | None) -> float:
        return self.seconds + self.per_video_second * (duration if duration else self.unknown_duration)


def decoder_given_up(skip: tuple[str, ...], tried: set[str]) -> tuple[str, tuple[str, ...]]:
    """A file's decoder crashed or hung: (the decoder it was on, the decoders not to try again). The one it
    was on is the last that took its turn (those before it gave up by themselves)."""
    turns = [d for d in DECODERS if d in tried] or [next(d for d in DECODERS if d not in skip)]
    return turns[-1], tuple(dict.fromkeys((*skip, *tried, turns[-1])))


@dataclass
class _Finished:
    task: int


@dataclass
class _WorkerGone:
    """The reader thread saw a worker's pipe close: everything it sent is already queued before this."""

    slot: int


@dataclass
class _Work:
    task: int
    path: Path
    skip: tuple[str, ...] = ()


@dataclass
class _Slot:
    """A worker process, and the file it is on."""

    process: mp.Process
    orders: object  # the parent's end of the pipe that carries files to the worker
    work: _Work | None = None
    tried: set[str] = field(default_factory=set)  # decoders that took their turn at the file
    started: bool = False  # its clips are planned: chunks of them follow
    duration: float | None = None
    began_cpu: float = 0.0
    waited: float = 0.0  # time the ingest waited for decoded clips, while this file was being decoded
    killed_for: str | None = None


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel sends SIGKILL to this process when its parent ends, however it ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_main(job: ClipJob, orders, connection, produce=produce_clips, nice: bool = True,
                 parent: int = 0) -> None:
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    if nice:
        _yield_to_the_model()
    while True:
        try:
            work = orders.recv()
        except EOFError:
            return
        if work is None:
            return
        task_job = dataclasses.replace(job, skip_decoders=work.skip) if work.skip else job
        try:
            for message in produce(work.task, Path(work.path), task_job):
                connection.send(message)
        except Exception as exc:  # noqa: BLE001 - any surprise fails this file, not the run
            connection.send(VideoFailed(work.task, f"unexpected error: {type(exc).__name__}: {exc}"))
        connection.send(_Finished(work.task))


def _yield_to_the_model() -> None:
    """Decode at a lower scheduling priority than the model's threads.

    When there are fewer cores than model threads plus decoders, decoding then fills the time the
    model does not use (for instance while it waits for the next batch) instead of taking cores from
    its matrix products, whose threads all wait for the slowest one. The lowest priority (19) gave
    the steadiest throughput on 2 cores (2.72-2.73 clips/s against 2.51-2.78 at 10 and 2.25 at 0).
    """
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc); 0 where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


class _Reader(threading.Thread):
    """Moves messages from the workers' pipes into one bounded queue, in each pipe's order."""

    def __init__(self, inbox: queue.Queue):
        super().__init__(daemon=True, name="vsearch-decode-reader")
        self.inbox = inbox
        self.pipes: dict[object, int] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def watch(self, connection, slot: int) -> None:
        with self.lock:
            self.pipes[connection] = slot

    def run(self) -> None:
        while not self.stopped.is_set():
            with self.lock:
                pipes = dict(self.pipes)
            if not pipes:
                self.stopped.wait(0.05)
                continue
            for connection in wait(list(pipes), timeout=0.2):
                try:
                    message = connection.recv()
                except (EOFError, OSError):
                    message = _WorkerGone(pipes[connection])
                    with self.lock:
                        self.pipes.pop(connection, None)
                    connection.close()
                except Exception:  # noqa: BLE001 - a message cut short by a dying worker
                    continue
                while not self.stopped.is_set():
                    try:
                        self.inbox.put(message, timeout=0.2)
                        break
                    except queue.Full:
                        continue


class DecodePool:
    """Feeds (task, path) pairs to decode workers and yields their messages as they come."""

    tick = 0.5  # seconds between budget checks

    def __init__(self, job: ClipJob, workers: int, queue_size: int | None = None, produce=produce_clips,
                 nice: bool = True, budget: DecodeBudget | None = None):
        """`produce(task, path, job)` yields a file's messages; a module-level function (workers import it).
        `nice`: workers decode at the lowest scheduling priority (VSEARCH_DECODE_NICE).
        `budget`: how long a file may take before its worker is killed (DecodeBudget's defaults if None)."""
        self.job = job
        self.nice = nice
        self.produce = produce
        self.workers = workers
        self.budget = budget or DecodeBudget()
        self.queue_size = queue_size or max(4, 3 * workers)
        self._context = mp.get_context("spawn")
        self._slots: dict[int, _Slot] = {}
        self._reader: _Reader | None = None
        self._reasons: dict[int, str] = {}  # why earlier decoders of a file were given up
        # seconds of video a worker decodes between two chunks of clips
        self._chunk_span = job.chunk_clips * job.stride_seconds + job.clip_seconds

    def run(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        if self.workers == 0:
            for task, path in items:
                yield from self.produce(task, path, self.job)
            return
        yield from self._run_parallel(items)

    # -- workers -----------------------------------------------------------------------------
    def _start_worker(self, slot: int) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        their_orders, orders = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker_main,
            args=(self.job, their_orders, sender, self.produce, self.nice, os.getpid()),
            daemon=True,
            name=f"vsearch-decode-{slot}",
        )
        process.start()
        sender.close()  # only the worker writes: its death then closes the pipe
        their_orders.close()
        self._slots[slot] = _Slot(process, orders)
        self._reader.watch(receiver, slot)

    def _hand_out(self, slot: int, pending: deque) -> None:
        """Give the worker in `slot` its next file, or tell it to stop."""
        state = self._slots[slot]
        work = pending.popleft() if pending else None
        state.work, state.duration, state.waited, state.killed_for = work, None, 0.0, None
        state.tried, state.started = set(), False
        state.began_cpu = _cpu_seconds(state.process.pid)
        try:
            state.orders.send(work)
        except OSError:  # it died meanwhile: _WorkerGone comes next and settles the file
            pass

    def _run_parallel(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        pending = deque(_Work(task, Path(path)) for task, path in items)
        paths = {task: Path(path) for task, path in items}
        inbox: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self._reader = _Reader(inbox)
        self._reader.start()
        for slot in range(min(self.workers, len(items))):
            self._start_worker(slot)
            self._hand_out(slot, pending)
        settled: set[int] = set()
        reported: set[int] = set()
        try:
            while len(settled) < len(items):
                if not any(s.process.is_alive() or s.work for s in self._slots.values()) and not pending:
                    raise RuntimeError("decode workers exited with files left undone")
                waited_from = time.monotonic()
                try:
                    message = inbox.get(timeout=self.tick)
                except queue.Empty:
                    self._check_budgets(time.monotonic() - waited_from)
                    continue
                self._check_budgets(time.monotonic() - waited_from if inbox.empty() else 0.0)
                if isinstance(message, _WorkerGone):
                    work = self._slots[message.slot].work
                    if work is not None and work.task in reported:  # it had said all it had to say
                        settled.add(work.task)
                    for out in self._worker_gone(message.slot, pending, paths, settled):
                        if isinstance(out, VideoFailed):
                            settled.add(out.task)
                        yield out
                elif isinstance(message, _Finished):
                    settled.add(message.task)
                    slot = self._slot_of(message.task)
                    if slot is not None and not self._slots[slot].killed_for:  # a killed one gets no more work
                        self._hand_out(slot, pending)
                    elif slot is not None:
                        self._slots[slot].work = None
                elif message.task in settled or message.task in reported:
                    continue
                else:
                    self._progress(message)
                    if isinstance(message, (VideoDone, VideoFailed)):
                        reported.add(message.task)  # a worker that dies after this has nothing left to redo
                    if isinstance(message, VideoFailed) and message.task in self._reasons:
                        message = VideoFailed(message.task, f"{self._reasons.pop(message.task)}; {message.reason}")
                    if not isinstance(message, (VideoProbed, Decoding)):
                        yield message
        finally:
            self.close()

    def _slot_of(self, task: int) -> int | None:
        for slot, state in self._slots.items():
            if state.work is not None and state.work.task == task:
                return slot
        return None

    def _progress(self, message) -> None:
        """A message from a file's worker: its budget starts again; what it says of the file is noted."""
        slot = self._slot_of(message.task)
        if slot is None:
            return
        state = self._slots[slot]
        state.began_cpu, state.waited = _cpu_seconds(state.process.pid), 0.0
        if isinstance(message, VideoProbed):
            state.duration = message.duration
        elif isinstance(message, Decoding):
            state.tried.add(message.decoder)
            state.started = False  # this decoder's first pass comes first
        elif isinstance(message, VideoStarted):
            state.duration, state.started = message.duration, True

    def _check_budgets(self, waited: float) -> None:
        """Kill a worker whose file went over its budget (its pipe then closes: see _worker_gone)."""
        for state in self._slots.values():
            if state.work is None or state.killed_for or not state.process.is_alive():
                continue
            state.waited += waited
            allowed = self.budget.for_duration(self._chunk_span if state.started else state.duration)
            cpu = _cpu_seconds(state.process.pid) - state.began_cpu
            if cpu > allowed or state.waited > allowed:
                spent = f"{cpu:.0f} s of CPU" if cpu > allowed else f"{state.waited:.0f} s without progress"
                state.killed_for = f"did not finish decoding within its budget ({spent}, {allowed:.0f} s allowed)"
                state.process.kill()

    def _worker_gone(self, slot: int, pending: deque, paths: dict[int, Path], done: set[int]) -> Iterator[object]:
        """A worker exited: fine when it had no file; otherwise its file is tried again with the decoders
        not yet tried, or fails; a replacement worker starts while files remain."""
        state = self._slots[slot]
        state.process.join(timeout=5)
        if state.process.is_alive():
            state.process.kill()
            state.process.join(timeout=5)
        state.orders.close()
        work = state.work
        state.work = None
        if work is not None and work.task not in done:
            reason = state.killed_for or f"decoder crashed (exit code {state.process.exitcode})"
            tried, skip = decoder_given_up(work.skip, state.tried)
            if any(decoder not in skip for decoder in DECODERS):
                yield VideoReset(work.task)  # what it sent so far is dropped: the next decoder starts over
                pending.appendleft(_Work(work.task, paths[work.task], skip))
                self._reasons[work.task] = f"{tried}: {reason}"
            else:
                earlier = self._reasons.pop(work.task, None)
                yield VideoFailed(work.task, f"{earlier}; {tried}: {reason}" if earlier else reason)
        if pending:
            self._start_worker(slot)
            self._hand_out(slot, pending)

    def close(self) -> None:
        """Stop every worker: asked first, then killed (a decoder stuck in native code ignores SIGTERM's
        handler but not SIGKILL)."""
        if self._reader is not None:
            self._reader.stopped.set()
        for state in self._slots.values():
            if state.process.is_alive():
                state.process.terminate()
        deadline = time.monotonic() + 3
        for state in self._slots.values():
            state.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if state.process.is_alive():
                state.process.kill()
                state.process.join(timeout=5)
            state.orders.close()
        self._slots.clear()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
