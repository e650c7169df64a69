"""Decode workers: parallel decoding, and a crash on one file fails only that file."""

import os

import pytest

from vsearch.ingest.workers import DecodePool
from vsearch.media.clips import ClipChunk, ClipJob, VideoDone, VideoFailed, produce_clips
from vsearch.media.resize import PreprocessSpec

JOB = ClipJob(PreprocessSpec(32, None, None, 32, 32, 2, 1 / 255, (0.5,) * 3, (0.5,) * 3), 4, 4.0, 4.0)


def crashing_produce(task, path, job):
    """Dies like a decoder segfault on files named crash*, decodes the rest for real."""
    if path.name.startswith("crash"):
        os._exit(139)
    yield from produce_clips(task, path, job)


def _outcomes(messages):
    done, failed, clips = set(), {}, 0
    for message in messages:
        if isinstance(message, VideoDone):
            done.add(message.task)
        elif isinstance(message, VideoFailed):
            failed[message.task] = message.reason
        elif isinstance(message, ClipChunk):
            clips += len(message.plans)
    return done, failed, clips


@pytest.mark.parametrize("workers", [0, 2])
def test_pool_decodes_every_file(video_files, workers):
    items = [(0, video_files["h264"]), (1, video_files["vp9"]), (2, video_files["text"])]
    done, failed, clips = _outcomes(DecodePool(JOB, workers).run(items))
    assert done == {0, 1} and set(failed) == {2} and clips == 3 + 2


def test_a_crashing_worker_fails_only_its_file(video_files, tmp_path):
    crash = tmp_path / "crash.mp4"
    crash.write_bytes(video_files["short"].read_bytes())
    items = [(0, video_files["h264"]), (1, crash), (2, video_files["vp9"]), (3, video_files["short"])]
    done, failed, _ = _outcomes(DecodePool(JOB, 1, produce=crashing_produce).run(items))
    assert done == {0, 2, 3}
    assert set(failed) == {1} and "crashed" in failed[1]
