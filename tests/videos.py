"""Real video files for tests, encoded with PyAV (which bundles FFmpeg)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
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


def make_library(folder: Path) -> dict[str, Path]:
    """The test library: good videos of several kinds, and files that must fail with a reason."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "h264": encode(folder / "h264.mp4", seconds=9.0, hue=0),
        "vp9": encode(folder / "sub" / "vp9.webm", codec="libvpx-vp9", seconds=5.0, hue=1),
        "mjpeg": encode(folder / "mjpeg.avi", codec="mjpeg", pix_fmt="yuvj420p", seconds=5.0, hue=2),
        "rotated": encode(folder / "rotated.mp4", seconds=4.5, width=64, height=48, rotation=90, hue=3),
        "vfr": encode(
            folder / "vfr.mp4",
            fps=30,
            frame_times=[i * 0.05 for i in range(40)] + [2.0 + i * 0.25 for i in range(1, 17)],
            hue=4,
        ),
        "short": encode(folder / "short.mp4", seconds=1.5, hue=5),
        "no_duration": encode(folder / "sub" / "live.webm", codec="libvpx", seconds=5.0, hue=6, seekable=False),
        "raw_mpeg1": encode(folder / "raw.mpv", codec="mpeg1video", seconds=3.0, fps=25, hue=7),
    }
    truncated = folder / "truncated.mp4"
    data = files["h264"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    files["truncated"] = truncated
    (folder / "empty.mp4").write_bytes(b"")
    files["empty"] = folder / "empty.mp4"
    (folder / "notes.mp4").write_text("this is a text file, not a video\n" * 20)
    files["text"] = folder / "notes.mp4"
    (folder / "README.txt").write_text("not a video, and not named like one\n")
    return files


GOOD = ("h264", "vp9", "mjpeg", "rotated", "vfr", "short", "no_duration", "raw_mpeg1")
BAD = ("truncated", "empty", "text")
