"""Decode workers: parallel decoding; a crash or a hang on one file fails only that file (after the other
decoder had its try); no worker outlives the process that started it."""

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults import alive, child_pids
from vsearch.ingest.workers import DecodeBudget, DecodePool
from vsearch.media.clips import ClipChunk, ClipJob, VideoDone, VideoFailed, VideoProbed, VideoStarted, produce_clips
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


def hanging_produce(task, path, job):
    """On files named hang*: stuck in native code holding the GIL (as decord can be) while decord is tried,
    on spin*: spinning on a core; on both*: stuck whatever the decoder; on late*: stuck with decord after the
    clips are planned, while decoding their frames. The rest is decoded for real."""
    name = path.name
    if name.startswith("late") and "decord" not in job.skip_decoders:  # like decord's get_batch spinning
        for message in produce_clips(task, path, job):
            yield message
            if isinstance(message, VideoStarted):
                ctypes.PyDLL(None).pause()
    if name.startswith("both") or (name.startswith(("hang", "spin")) and "decord" not in job.skip_decoders):
        yield VideoProbed(task, 0.5)
        if name.startswith("spin"):
            while True:
                pass
        ctypes.PyDLL(None).pause()  # sleeps in C with the GIL held: only SIGKILL ends it
    yield from produce_clips(task, path, job)


def _copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


def test_a_hung_decoder_is_killed_and_the_file_decoded_by_the_other(video_files, tmp_path):
    hang = _copy(video_files["short"], tmp_path / "hang.mp4")
    spin = _copy(video_files["short"], tmp_path / "spin.mp4")
    items = [(0, video_files["h264"]), (1, hang), (2, spin), (3, video_files["vp9"])]
    pool = DecodePool(JOB, 2, produce=hanging_produce, budget=DecodeBudget(seconds=2, per_video_second=0))
    started = time.monotonic()
    done, failed, _ = _outcomes(pool.run(items))
    assert done == {0, 1, 2, 3} and not failed
    assert time.monotonic() - started < 60


def test_a_decoder_stuck_between_chunks_is_caught_within_one_chunk_s_budget(video_files, tmp_path):
    late = _copy(video_files["h264"], tmp_path / "late.mp4")
    budget = DecodeBudget(seconds=2, per_video_second=0.1, unknown_duration=10_000)
    started = time.monotonic()
    done, failed, clips = _outcomes(DecodePool(JOB, 1, produce=hanging_produce, budget=budget).run([(0, late)]))
    assert done == {0} and not failed
    assert time.monotonic() - started < 30  # the chunk's budget (4 s), not the whole file's


def test_a_file_that_hangs_every_decoder_fails_with_the_reason(video_files, tmp_path):
    both = _copy(video_files["short"], tmp_path / "both.mp4")
    items = [(0, both), (1, video_files["h264"])]
    pool = DecodePool(JOB, 1, produce=hanging_produce, budget=DecodeBudget(seconds=2, per_video_second=0))
    done, failed, _ = _outcomes(pool.run(items))
    assert done == {1}
    assert set(failed) == {0}
    assert "decord:" in failed[0] and "pyav:" in failed[0] and "budget" in failed[0]


_POOL_OVER_HUNG_FILES = """
import sys
from pathlib import Path
from tests.ingest.test_workers import JOB, hanging_produce
from vsearch.ingest.workers import DecodePool
items = [(i, Path(p)) for i, p in enumerate(sys.argv[1:])]
for message in DecodePool(JOB, 2, produce=hanging_produce).run(items):
    pass
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_stuck_workers_die_with_their_ingest(video_files, tmp_path, how):
    files = [_copy(video_files["short"], tmp_path / f"both{i}.mp4") for i in range(2)]
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-c", _POOL_OVER_HUNG_FILES, *map(str, files)], cwd=root)
    try:
        deadline = time.monotonic() + 60
        while len(child_pids(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = child_pids(process.pid)
        assert len(workers) >= 2
        time.sleep(2)  # both workers are stuck now, holding the GIL
        process.send_signal(how)
        process.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers)
    finally:
        if process.poll() is None:
            process.kill()
