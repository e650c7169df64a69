"""Decode: open a video and read RGB frames, upright, by index in presentation order.

`probe` (vsearch/media/probe.py) checks a file with PyAV and says why it is not a usable
video. `sources_for` yields `VideoSource`s to try: decord where it can open the file,
PyAV otherwise. Both report real presentation timestamps, so variable frame rate is handled.
Where a file's timestamps say nothing (all equal, running backwards, missing), frames are timed
by their decoding order and the stream's frame rate instead, and the source says so (`timing`):
PyAV does; decord, which orders frames by their timestamps, declines such files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np

from vsearch.errors import DecodeError
from vsearch.media.container import open_container
from vsearch.media.probe import VideoProbe, iter_decoded


class VideoSource(Protocol):
    """What a decoder offers to the ingest pipeline."""

    name: str
    # set by frame_times(): None when the frames are timed by their timestamps, else how and why they are
    # timed otherwise, e.g. "frame order at 25 fps (all timestamps equal)"
    timing: str | None

    def frame_times(self) -> np.ndarray:
        """Presentation time in seconds of every decodable frame, from the first frame, in order."""
        ...

    def read_frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """(index, HxWx3 uint8 RGB upright frame) for the sorted unique `indices`."""
        ...

    def close(self) -> None: ...


def upright(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded frame as a player shows it: `rotation` degrees counter-clockwise."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame, k=turns)) if turns else frame


DEFAULT_FPS = 25.0  # for timing frames by their order when the file states no frame rate (FFmpeg's own guess)
MAX_REORDER = 16  # frames a decoder may hold back to show them in another order (the H.264 and HEVC limit)


def untrusted_reason(times: np.ndarray, info: VideoProbe) -> str | None:
    """Why presentation timestamps (seconds, in the order the frames are shown) cannot time the frames;
    None when they can: finite, in order, spanning about what the file states.

    Some demuxers give no usable timestamps (AVI in decord: all zero or garbage; AVI with packed B-frames
    in PyAV: every third one a step back; MPEG-PS: wrapped), and some muxers write none (every sample
    delta 0). A few steps back or repeats (1 % at most, none longer than two frame intervals) are kept:
    sampling takes the latest frame shown by each instant, so a glitch moves no clip.
    """
    if times.size == 0 or not np.all(np.isfinite(times)):
        return "timestamps missing"
    if times.size == 1:
        return None
    steps = np.diff(times)
    if not np.any(steps):
        return "all timestamps equal"
    forward = steps[steps > 0]
    interval = float(np.median(forward)) if forward.size else 0.0
    if np.mean(steps < 0) > 0.01 or steps.min() < -2 * interval or times[-1] <= times[0]:
        return "timestamps run backwards"
    if np.mean(steps == 0) > 0.01:
        return "timestamps repeat"
    span = float(times[-1] - times[0])
    expected = info.duration or (times.size / info.fps if info.fps else None)
    if expected is not None and not 0.5 * expected - 1 <= span <= 2 * expected + 10:
        return f"timestamps span {span:.3g} s, the file states {expected:.3g} s"
    return None


def timed_by_order(count: int, info: VideoProbe, reason: str) -> tuple[np.ndarray, str]:
    """Times for `count` frames shown one after another at the stream's frame rate, and how they were timed."""
    if info.order_fps is None:
        timing = f"frame order at an assumed {DEFAULT_FPS:g} fps ({reason}; the file states no frame rate)"
        return np.arange(count) / DEFAULT_FPS, timing
    return np.arange(count) / info.order_fps, f"frame order at {round(info.order_fps, 3):g} fps ({reason})"


def frame_timing(stamps: Sequence[float | None], info: VideoProbe) -> tuple[np.ndarray, str | None]:
    """Times (seconds from the first frame) for frames shown in this order with these presentation
    timestamps, and how they were timed (None: by the timestamps). A few frames without one (raw streams)
    are placed a frame interval after the frame before."""
    if all(t is None for t in stamps):
        return timed_by_order(len(stamps), info, "no timestamps")
    step = 1.0 / (info.order_fps or DEFAULT_FPS)
    filled: list[float] = []
    for t in stamps:
        filled.append(float(t) if t is not None else (filled[-1] + step if filled else 0.0))
    times = np.asarray(filled, dtype=np.float64)
    reason = untrusted_reason(times, info)
    if reason is not None:
        return timed_by_order(times.size, info, reason)
    return times - times[0], None


def decoding_order_reason(info: VideoProbe) -> str | None:
    """Why frames sorted by their timestamps (as decord sorts them) would not be shown in the order the
    decoder shows them, or None: each packet's timestamp must rank within MAX_REORDER of its place in the
    file. Reads the packets, decodes nothing."""
    import av

    try:
        container = open_container(info.path)
    except (av.FFmpegError, OSError) as exc:
        return f"packets unreadable ({exc})"
    try:
        stream = container.streams.video[info.stream_index]
        stamps = []
        try:
            stamps = [packet.pts for packet in container.demux(stream) if packet.size]
        except av.FFmpegError:
            pass  # an unreadable tail: judge what was read
    finally:
        container.close()
    if any(t is None for t in stamps):
        return "frames without timestamps"
    ranks = np.argsort(np.argsort(np.asarray(stamps, dtype=np.float64), kind="stable"), kind="stable")
    if ranks.size and np.abs(ranks - np.arange(ranks.size)).max() > MAX_REORDER:
        return "timestamps run backwards"
    return None


class PyAVSource:
    """Decoding with PyAV (FFmpeg). Reads any file FFmpeg reads; timestamps come from a decoding pass."""

    name = "pyav"

    def __init__(self, info: VideoProbe, decode_edge: int | None = None):
        self.info = info
        self.decode_edge = decode_edge
        self._times: np.ndarray | None = None
        self.timing: str | None = None

    def _open(self):
        container = open_container(self.info.path)
        stream = container.streams.video[self.info.stream_index]
        stream.thread_type = "AUTO"
        return container, stream

    def frame_times(self) -> np.ndarray:
        if self._times is None:
            container, stream = self._open()
            try:
                stamps = [frame.time for frame in iter_decoded(container, stream)]
            finally:
                container.close()
            if not stamps:
                raise DecodeError("no decodable video frame")
            self._times, self.timing = frame_timing(stamps, self.info)
        return self._times

    def read_frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return
        container, stream = self._open()
        try:
            position = 0
            for index, frame in enumerate(iter_decoded(container, stream)):
                if index == wanted[position]:
                    # scaled in the same swscale call that converts to RGB, when asked to
                    height, width = scaled_size(frame.height, frame.width, self.decode_edge)
                    yield index, upright(frame.to_ndarray(format="rgb24", width=width, height=height),
                                         self.info.rotation)
                    position += 1
                    if position == len(wanted):
                        return
        finally:
            container.close()
        raise DecodeError(f"frame {wanted[position]} could not be decoded")

    def close(self) -> None:
        pass


class DecordSource:
    """Decoding with decord: frame-accurate random access from the container's index."""

    name = "decord"
    batch_frames = 16  # frames per get_batch call: bounds memory on long, high-resolution videos
    timing = None  # decord declines files whose timestamps cannot time the frames

    def __init__(self, info: VideoProbe, decode_edge: int | None = None):
        import decord

        self.info = info
        height, width = scaled_size(info.height, info.width, decode_edge)
        size = {"height": height, "width": width} if (height, width) != (info.height, info.width) else {}
        try:
            self._reader = decord.VideoReader(str(info.path), ctx=decord.cpu(0), **size)
        except Exception as exc:  # decord raises its own DECORDError and RuntimeError
            raise DecodeError(f"decord cannot open: {exc}") from exc
        if len(self._reader) == 0:
            raise DecodeError("decord found no frames")

    def frame_times(self) -> np.ndarray:
        try:
            stamps = self._reader.get_frame_timestamp(np.arange(len(self._reader)))
        except Exception as exc:
            raise DecodeError(f"decord cannot read timestamps: {exc}") from exc
        # decord keeps float32 seconds: round away its noise (10 µs is far below any frame interval)
        times = np.round(np.asarray(stamps, dtype=np.float64)[:, 0], 5)
        # decord orders frames by their timestamps: where those say nothing, so is its order (PyAV's is right)
        reason = untrusted_reason(times, self.info) or decoding_order_reason(self.info)
        if reason is not None:
            raise DecodeError(f"decord orders frames by their timestamps, which cannot be trusted here ({reason})")
        return times - times[0]

    def read_frames(self, indices: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return
        for start in range(0, len(wanted), self.batch_frames):
            part = wanted[start : start + self.batch_frames]
            try:
                batch = self._reader.get_batch(part).asnumpy()
            except Exception as exc:
                raise DecodeError(f"decord cannot decode frames: {exc}") from exc
            for index, frame in zip(part, batch):
                yield index, upright(frame, self.info.rotation)

    def close(self) -> None:
        self._reader = None


def decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def scaled_size(height: int, width: int, decode_edge: int | None) -> tuple[int, int]:
    """(height, width) with the shortest edge brought down to `decode_edge` (even sizes, aspect kept);
    unchanged when that would save little (less than a quarter of the edge)."""
    short = min(height, width)
    if not decode_edge or not short or decode_edge > 0.75 * short:
        return height, width
    scale = decode_edge / short
    return max(2, round(height * scale / 2) * 2), max(2, round(width * scale / 2) * 2)


def sources_for(info: VideoProbe, decode_edge: int | None = None, skip: tuple[str, ...] = ()) -> Iterator[VideoSource]:
    """Decoders to try for a probed video, best first: decord, then PyAV.

    decord is skipped where it would pick another stream than the main one, and for rotated
    video (decord 0.6 reports rotated sizes but then fails to copy the frames). With `decode_edge`,
    both scale frames while converting them to RGB (cheaper than full-size frames and a PIL resize).
    """
    if "decord" not in skip and info.video_streams == 1 and info.rotation % 360 == 0 and decord_available():
        try:
            yield DecordSource(info, decode_edge)
        except DecodeError:
            pass
    if "pyav" not in skip:
        yield PyAVSource(info, decode_edge)
