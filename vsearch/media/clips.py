"""Per-video producer: probe, decode once, plan clips, sample and crop their frames.

`produce_clips` turns one file into a stream of messages (started, clip chunks, done or
failed). It runs in decode worker processes; frames are resized and cropped there (uint8,
the costly half of preprocessing) so only small arrays travel to the model's process, and
each clip's thumbnail is encoded there from the full-size frame the decoder gave anyway, as is each
sampled frame's fingerprint (vsearch.media.fingerprint, for finding copies).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vsearch.errors import DecodeError
from vsearch.media.decode import sources_for
from vsearch.media.fingerprint import frame_print
from vsearch.media.probe import VideoProbe, probe
from vsearch.media.resize import PreprocessSpec, resize_and_crop
from vsearch.media.sample import ClipPlan, plan_clips, video_duration
from vsearch.media.thumbnails import encode_thumbnail, middle_frame


@dataclass(frozen=True)
class ClipJob:
    """How to cut every video of a run."""

    spec: PreprocessSpec
    num_frames: int
    clip_seconds: float
    stride_seconds: float
    chunk_clips: int = 4
    decode_edge: int | None = None  # decoders that can may scale frames to this shortest edge
    skip_decoders: tuple[str, ...] = ()  # decoders not to try (one that hung or crashed on this file before)


@dataclass
class VideoProbed:
    """The file is a video of about `duration` seconds (None when unknown): its decoding time budget."""

    task: int
    duration: float | None


@dataclass
class Decoding:
    """`decoder` takes its turn at the file (the decode pool knows then which one hung or crashed)."""

    task: int
    decoder: str


@dataclass
class VideoStarted:
    task: int
    info: VideoProbe
    decoder: str
    duration: float
    num_clips: int
    # None: frames timed by their timestamps; else how and why otherwise ("frame order at 25 fps (all timestamps
    # equal)"), for `vsearch status`
    timing: str | None = None


@dataclass
class ClipChunk:
    task: int
    plans: list[ClipPlan]
    frames: np.ndarray  # (n, T, h, w, 3) uint8, resized and cropped
    thumbnails: list[bytes]  # one JPEG per plan
    decode_s: float
    preprocess_s: float
    # (time, print or None when flat) of the sampled frames first seen since the last chunk
    prints: list[tuple[float, np.ndarray | None]] = field(default_factory=list)


@dataclass
class VideoReset:
    """The decoder failed midway and another starts over: drop this video's clips so far."""

    task: int


@dataclass
class VideoDone:
    task: int


@dataclass
class VideoFailed:
    task: int
    reason: str


@dataclass
class _Assembler:
    """Collects cropped frames until every frame of a clip has arrived, then hands the clip out."""

    plans: list[ClipPlan]
    needed_by: dict[int, int] = field(default_factory=dict)
    crops: dict[int, np.ndarray] = field(default_factory=dict)
    thumbnails: dict[int, bytes] = field(default_factory=dict)
    middles: set[int] = field(default_factory=set)
    times: dict[int, float] = field(default_factory=dict)
    prints: list[tuple[float, np.ndarray | None]] = field(default_factory=list)  # not yet sent
    next_plan: int = 0

    def __post_init__(self):
        for plan in self.plans:
            for index, time_ in zip(plan.frame_indices, plan.frame_times):
                self.times.setdefault(index, time_)
            for index in set(plan.frame_indices):
                self.needed_by[index] = self.needed_by.get(index, 0) + 1
            self.middles.add(middle_frame(plan.frame_indices))

    def add(self, index: int, frame: np.ndarray, spec: PreprocessSpec) -> list[tuple[ClipPlan, np.ndarray, bytes]]:
        self.crops[index] = resize_and_crop(frame, spec)
        self.prints.append((self.times[index], frame_print(frame)))
        if index in self.middles:
            self.thumbnails[index] = encode_thumbnail(frame)
        ready = []
        while self.next_plan < len(self.plans):
            plan = self.plans[self.next_plan]
            if not all(i in self.crops for i in plan.frame_indices):
                break
            thumbnail = self.thumbnails[middle_frame(plan.frame_indices)]
            ready.append((plan, np.stack([self.crops[i] for i in plan.frame_indices]), thumbnail))
            for index in set(plan.frame_indices):
                self.needed_by[index] -= 1
                if self.needed_by[index] == 0:
                    del self.crops[index]
                    self.thumbnails.pop(index, None)
            self.next_plan += 1
        return ready


def produce_clips(task: int, path: Path, job: ClipJob) -> Iterator[object]:
    """Messages for one video: VideoStarted, ClipChunk..., VideoDone — or VideoFailed with the reason."""
    try:
        info = probe(path)
    except DecodeError as exc:
        yield VideoFailed(task, str(exc))
        return
    yield VideoProbed(task, info.duration)
    reasons = []
    for source in sources_for(info, job.decode_edge, skip=job.skip_decoders):
        sent = False
        try:
            yield Decoding(task, source.name)
            times = source.frame_times()
            plans = plan_clips(times, job.clip_seconds, job.stride_seconds, job.num_frames, info.duration)
            duration = video_duration(times, info.duration)
            yield VideoStarted(task, info, source.name, duration, len(plans), timing=source.timing)
            sent = True
            yield from _chunks(task, source, plans, job)
            yield VideoDone(task)
            return
        except DecodeError as exc:
            reasons.append(f"{source.name}: {exc}")
            if sent:
                yield VideoReset(task)
        finally:
            source.close()
    yield VideoFailed(task, "; ".join(reasons) or "cannot decode")


def _chunks(task: int, source, plans: list[ClipPlan], job: ClipJob) -> Iterator[ClipChunk]:
    assembler = _Assembler(plans)
    wanted = sorted(assembler.needed_by)
    ready: list[tuple[ClipPlan, np.ndarray, bytes]] = []
    decode_s = preprocess_s = 0.0
    frames = source.read_frames(wanted)
    while True:
        started = time.perf_counter()
        item = next(frames, None)
        decode_s += time.perf_counter() - started
        if item is None:
            break
        started = time.perf_counter()
        ready += assembler.add(item[0], item[1], job.spec)
        preprocess_s += time.perf_counter() - started
        if len(ready) >= job.chunk_clips:
            yield _chunk(task, ready, decode_s, preprocess_s, assembler)
            ready, decode_s, preprocess_s = [], 0.0, 0.0
    if assembler.next_plan < len(plans):
        raise DecodeError(f"only {assembler.next_plan} of {len(plans)} clips could be decoded")
    if ready:
        yield _chunk(task, ready, decode_s, preprocess_s, assembler)


def _chunk(task: int, ready, decode_s: float, preprocess_s: float, assembler: _Assembler) -> ClipChunk:
    plans, frames, thumbnails = zip(*ready)
    prints, assembler.prints = assembler.prints, []
    return ClipChunk(task, list(plans), np.stack(frames), list(thumbnails), decode_s, preprocess_s, prints)
