"""Synthetic videos, encoded with PyAV (which bundles FFmpeg): for the test suite and the benchmarks.

A coloured background with a white square that moves: real files in any codec and container
FFmpeg writes, with rotation metadata, variable frame rate or no duration in the header on request.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np


def scene(index: int, width: int, height: int, hue: int) -> np.ndarray:
    """A frame: a coloured background with a white square that moves with `index`."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., hue % 3] = 60 + (hue * 37) % 150
    frame[..., (hue + 1) % 3] = (index * 9) % 200
    size = max(4, height // 4)
    x = (index * 3) % max(1, width - size)
    frame[height // 3 : height // 3 + size, x : x + size] = 255
    return frame


class _NonSeekable(io.RawIOBase):
    """A write-only stream the muxer cannot seek back in, so it cannot write the duration."""

    def __init__(self, handle):
        self.handle = handle

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.handle.write(data)

    def seekable(self) -> bool:
        return False


def encode(
    path: Path,
    *,
    codec: str = "libx264",
    seconds: float = 6.0,
    fps: int = 10,
    width: int = 64,
    height: int = 48,
    hue: int = 0,
    container_format: str | None = None,
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    frame_times: list[float] | None = None,
    seekable: bool = True,
) -> Path:
    """Encode a synthetic video; `frame_times` (seconds) makes it variable frame rate."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "wb")
    target = handle if seekable else _NonSeekable(handle)
    container = av.open(target, "w", format=container_format or _format_for(path))
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    if frame_times is not None:
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
    if rotation:
        stream.set_display_rotation(rotation)
    times = frame_times if frame_times is not None else [i / fps for i in range(int(round(seconds * fps)))]
    for i, t in enumerate(times):
        frame = av.VideoFrame.from_ndarray(scene(i, width, height, hue), format="rgb24")
        if frame_times is not None:
            frame.pts = int(round(t * 1000))
            frame.time_base = Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    handle.close()
    return path


def _format_for(path: Path) -> str:
    return {".mp4": "mp4", ".webm": "webm", ".avi": "avi", ".mkv": "matroska", ".mpv": "mpeg1video"}[
        path.suffix.lower()
    ]
