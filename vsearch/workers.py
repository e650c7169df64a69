"""Decode workers: run `produce_clips` for many videos in separate processes, in parallel with the model.

Decoding runs outside the model's process (decoders and the model's thread pool slow each
other down when they share one), through a bounded queue so memory stays flat. A worker
that dies (a decoder crash on a damaged file) fails only the video it was on, and is replaced.
With workers=0 everything runs inline, in order, which is handy for debugging.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vsearch.media.clips import ClipJob, VideoFailed, produce_clips


@dataclass
class _Claimed:
    task: int
    worker: int


@dataclass
class _Finished:
    task: int


def _worker_main(worker: int, job: ClipJob, tasks, results) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    while True:
        item = tasks.get()
        if item is None:
            return
        task, path = item
        results.put(_Claimed(task, worker))
        try:
            for message in produce_clips(task, Path(path), job):
                results.put(message)
        except Exception as exc:  # noqa: BLE001 - any surprise fails this file, not the run
            results.put(VideoFailed(task, f"unexpected error: {type(exc).__name__}: {exc}"))
        results.put(_Finished(task))


class DecodePool:
    """Feeds (task, path) pairs to decode workers and yields their messages as they come."""

    def __init__(self, job: ClipJob, workers: int, queue_size: int | None = None):
        self.job = job
        self.workers = workers
        self.queue_size = queue_size or max(4, 3 * workers)
        self._context = mp.get_context("spawn")
        self._processes: dict[int, mp.Process] = {}

    def run(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        if self.workers == 0:
            for task, path in items:
                yield from produce_clips(task, path, self.job)
            return
        yield from self._run_parallel(items)

    def _start_worker(self, worker: int, tasks, results) -> None:
        process = self._context.Process(
            target=_worker_main, args=(worker, self.job, tasks, results), daemon=True, name=f"vsearch-decode-{worker}"
        )
        process.start()
        self._processes[worker] = process

    def _run_parallel(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        tasks = self._context.Queue()
        results = self._context.Queue(maxsize=self.queue_size)
        for task, path in items:
            tasks.put((task, str(path)))
        count = min(self.workers, len(items))
        for _ in range(count):
            tasks.put(None)
        next_worker = 0
        for _ in range(count):
            self._start_worker(next_worker, tasks, results)
            next_worker += 1
        current: dict[int, int | None] = {w: None for w in self._processes}
        remaining = len(items)
        try:
            while remaining:
                try:
                    message = results.get(timeout=0.5)
                except queue.Empty:
                    for worker, process in list(self._processes.items()):
                        if process.is_alive() or process.exitcode == 0:
                            continue
                        # it crashed (a decoder fault on a damaged file): fail that file, replace the worker
                        del self._processes[worker]
                        task = current.pop(worker, None)
                        if task is not None:
                            remaining -= 1
                            yield VideoFailed(task, f"decoder crashed (exit code {process.exitcode})")
                        tasks.put(None)
                        self._start_worker(next_worker, tasks, results)
                        current[next_worker] = None
                        next_worker += 1
                    if remaining and not any(p.is_alive() for p in self._processes.values()):
                        raise RuntimeError("decode workers exited with files left undone")
                    continue
                if isinstance(message, _Claimed):
                    current[message.worker] = message.task
                elif isinstance(message, _Finished):
                    remaining -= 1
                    for worker, task in current.items():
                        if task == message.task:
                            current[worker] = None
                else:
                    yield message
        finally:
            self.close()

    def close(self) -> None:
        for process in self._processes.values():
            if process.is_alive():
                process.terminate()
        for process in self._processes.values():
            process.join(timeout=5)
        self._processes.clear()
