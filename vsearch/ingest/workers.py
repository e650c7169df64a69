"""Decode workers: run `produce_clips` for many videos in separate processes, in parallel with the model.

Decoding runs outside the model's process (decoders and the model's thread pool slow each other
down when they share one). Each worker sends its messages through its own pipe, synchronously, so
what a worker sent survives it; a reader thread in the parent moves them into one bounded queue,
which keeps memory flat. A worker that dies (a decoder crash on a damaged file) fails only the file
it was on, and is replaced. With workers=0 everything runs inline, in order (handy for debugging).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from vsearch.media.clips import ClipJob, VideoFailed, produce_clips


@dataclass
class _Finished:
    task: int


@dataclass
class _WorkerGone:
    """The reader thread saw a worker's pipe close: everything it sent is already queued before this."""

    slot: int


def _worker_main(slot: int, job: ClipJob, tasks, connection, claims, produce=produce_clips, nice: bool = True) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    if nice:
        _yield_to_the_model()
    while True:
        item = tasks.get()
        if item is None:
            return
        task, path = item
        claims[slot] = task  # shared memory, visible to the parent even if this process dies next
        try:
            for message in produce(task, Path(path), job):
                connection.send(message)
        except Exception as exc:  # noqa: BLE001 - any surprise fails this file, not the run
            connection.send(VideoFailed(task, f"unexpected error: {type(exc).__name__}: {exc}"))
        connection.send(_Finished(task))
        claims[slot] = -1


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

    def __init__(self, job: ClipJob, workers: int, queue_size: int | None = None, produce=produce_clips,
                 nice: bool = True):
        """`produce(task, path, job)` yields a file's messages; a module-level function (workers import it).
        `nice`: workers decode at the lowest scheduling priority (VSEARCH_DECODE_NICE)."""
        self.job = job
        self.nice = nice
        self.produce = produce
        self.workers = workers
        self.queue_size = queue_size or max(4, 3 * workers)
        self._context = mp.get_context("spawn")
        self._processes: dict[int, mp.Process] = {}
        self._reader: _Reader | None = None

    def run(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        if self.workers == 0:
            for task, path in items:
                yield from self.produce(task, path, self.job)
            return
        yield from self._run_parallel(items)

    def _start_worker(self, slot: int, tasks, claims) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        claims[slot] = -1
        process = self._context.Process(
            target=_worker_main,
            args=(slot, self.job, tasks, sender, claims, self.produce, self.nice),
            daemon=True,
            name=f"vsearch-decode-{slot}",
        )
        process.start()
        sender.close()  # only the worker writes: its death then closes the pipe
        self._processes[slot] = process
        self._reader.watch(receiver, slot)

    def _run_parallel(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        tasks = self._context.Queue()
        count = min(self.workers, len(items))
        claims = self._context.Array("q", count, lock=False)
        for task, path in items:
            tasks.put((task, str(path)))
        for _ in range(count):
            tasks.put(None)
        inbox: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self._reader = _Reader(inbox)
        self._reader.start()
        for slot in range(count):
            self._start_worker(slot, tasks, claims)
        settled: set[int] = set()
        running = count
        try:
            while len(settled) < len(items):
                if running == 0:
                    raise RuntimeError("decode workers exited with files left undone")
                message = inbox.get()
                if isinstance(message, _WorkerGone):
                    running -= 1
                    process = self._processes[message.slot]
                    process.join(timeout=5)
                    if process.exitcode != 0:  # it crashed: fail its file, start another
                        task = claims[message.slot]
                        if task >= 0 and task not in settled:
                            settled.add(task)
                            yield VideoFailed(task, f"decoder crashed (exit code {process.exitcode})")
                        tasks.put(None)
                        self._start_worker(message.slot, tasks, claims)
                        running += 1
                elif isinstance(message, _Finished):
                    settled.add(message.task)
                elif message.task not in settled:
                    yield message
        finally:
            self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stopped.set()
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()
        for process in self._processes.values():
            process.join(timeout=5)
        self._processes.clear()
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
