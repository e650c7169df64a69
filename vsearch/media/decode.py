"""Decode: open a video and read RGB frames, upright, by index in presentation order.

`probe` (vsearch/media/probe.py) checks a file with PyAV and says why it is not a usable
video. `sources_for` yields `VideoSource`s to try: decord where it can open the file,
PyAV otherwise. Both report real presentation timestamps, so variable frame rate is handled.
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


def plausible_times(times: np.ndarray, info: VideoProbe) -> bool:
    """Whether decoded timestamps can be trusted: finite, in order, spanning about what the file states.

    Some demuxers give no usable timestamps (AVI in decord: all zero or garbage; MPEG-PS: wrapped).
    """
    if times.size == 0 or not np.all(np.isfinite(times)):
        return False
    if times.size == 1:
        return True
    steps = np.diff(times)
    if np.mean(steps >= 0) < 0.99:
        return False
    span = float(times[-1] - times[0])
    if span <= 0:
        return False
    expected = info.duration or (times.size / info.fps if info.fps else None)
    if expected is None:
        return True
    return span <= 2 * expected + 10 and span >= 0.5 * expected - 1


class PyAVSource:
    """Decoding with PyAV (FFmpeg). Reads any file FFmpeg reads; timestamps come from a decoding pass."""

    name = "pyav"

    def __init__(self, info: VideoProbe, decode_edge: int | None = None):
        self.info = info
        self.decode_edge = decode_edge
        self._times: np.ndarray | None = None

    def _open(self):
        container = open_container(self.info.path)
        stream = container.streams.video[self.info.stream_index]
        stream.thread_type = "AUTO"
        return container, stream

    def frame_times(self) -> np.ndarray:
        if self._times is None:
            container, stream = self._open()
            try:
                times = []
                step = 1.0 / self.info.fps if self.info.fps else 0.04
                for frame in iter_decoded(container, stream):
                    t = frame.time
                    if t is None:  # raw streams may carry no timestamps: assume a constant rate
                        t = times[-1] + step if times else 0.0
                    times.append(float(t))
            finally:
                container.close()
            if not times:
                raise DecodeError("no decodable video frame")
            array = np.asarray(times, dtype=np.float64)
            if not plausible_times(array, self.info):  # no usable timestamps: assume a constant rate
                array = np.arange(array.size) * (1.0 / self.info.fps if self.info.fps else 0.04)
            self._times = array - array[0]
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
        if not plausible_times(times, self.info):
            raise DecodeError("decord gave implausible timestamps")
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


def sources_for(info: VideoProbe, decode_edge: int | None = None) -> Iterator[VideoSource]:
    """Decoders to try for a probed video, best first: decord, then PyAV.

    decord is skipped where it would pick another stream than the main one, and for rotated
    video (decord 0.6 reports rotated sizes but then fails to copy the frames). With `decode_edge`,
    both scale frames while converting them to RGB (cheaper than full-size frames and a PIL resize).
    """
    if info.video_streams == 1 and info.rotation % 360 == 0 and decord_available():
        try:
            yield DecordSource(info, decode_edge)
        except DecodeError:
            pass
    yield PyAVSource(info, decode_edge)
