"""The assembly stage on its own: an embedder that answers late and out of order (as Ray actors do) is
isolated by a fake; the real ones run in tests/test_ingest.py and tests/ingest/test_ray.py."""

from collections import defaultdict

import numpy as np

from vsearch.ingest.assemble import Assembler, VideoParts
from vsearch.media.clips import ClipChunk, VideoDone, VideoFailed, VideoReset, VideoStarted
from vsearch.media.sample import ClipPlan


class LateEmbedder:
    """Holds every batch until asked to wait, then answers the newest first; a clip's vector is its first pixel."""

    def __init__(self):
        self.held = []
        self.batches = 0

    def submit(self, keys, frames):
        self.batches += 1
        self.held.append((keys, frames[:, 0, 0, 0, :1].astype(np.float32), frames[:, :, :1, :1, 0].astype(np.float32)))

    def results(self, wait):
        if not wait:
            return []
        return [self.held.pop()]

    @property
    def busy(self):
        return bool(self.held)


def _chunk(task, ordinals, value):
    plans = [ClipPlan(o, 4.0 * o, 4.0 * o + 4, (o,), (4.0 * o,)) for o in ordinals]
    frames = np.full((len(ordinals), 2, 4, 4, 3), value, np.uint8)
    return ClipChunk(task, plans, frames, [b"jpeg"] * len(ordinals), 0.0, 0.0)


def _started(task, clips):
    return VideoStarted(task, info=None, decoder="pyav", duration=4.0 * clips, num_clips=clips)


def test_videos_complete_whatever_order_their_batches_come_back_in():
    embedder = LateEmbedder()
    timings = defaultdict(float)
    messages = [
        _started(0, 3), _started(1, 2),
        _chunk(0, [0, 1], 10), _chunk(1, [0], 20), _chunk(0, [2], 11), _chunk(1, [1], 21),
        VideoDone(0), VideoDone(1),
    ]
    out = list(Assembler([0, 1], embedder, batch_size=2, timings=timings).run(messages))
    assert embedder.batches == 3  # batches mix clips of both videos
    assert sorted(parts.task for parts in out) == [0, 1]
    by_task = {parts.task: parts for parts in out}
    assert sorted(by_task[0].vectors) == [0, 1, 2] and sorted(by_task[1].vectors) == [0, 1]
    assert [float(by_task[0].vectors[o][0]) for o in range(3)] == [10, 10, 11]
    assert [float(by_task[1].vectors[o][0]) for o in range(2)] == [20, 21]


def test_a_reset_drops_what_was_in_flight_and_a_failure_drops_the_video():
    embedder = LateEmbedder()
    messages = [
        _started(0, 2), _chunk(0, [0, 1], 1),  # a full batch: submitted, held
        VideoReset(0),  # the decoder starts over: the held batch belongs to an old generation
        _started(0, 2), _chunk(0, [0, 1], 2), VideoDone(0),
        _started(1, 1), _chunk(1, [0], 5), VideoFailed(1, "decoder crashed"),
        _started(2, 2), _chunk(2, [0], 7),  # its messages stop: it never completes
    ]
    out = list(Assembler([0, 1, 2], embedder, batch_size=2, timings=defaultdict(float)).run(messages))
    assert [type(o).__name__ for o in out] == ["VideoFailed", "VideoParts", "VideoFailed"]
    failed = {o.task: o.reason for o in out if isinstance(o, VideoFailed)}
    assert failed == {1: "decoder crashed", 2: "decoding ended before every clip arrived"}
    parts = next(o for o in out if isinstance(o, VideoParts))
    assert parts.generation == 1 and [float(parts.vectors[o][0]) for o in range(2)] == [2, 2]
