"""Synthetic videos, encoded with PyAV (which bundles FFmpeg): for the test suite and the benchmarks.

A coloured background with a white square that moves (or, with the `footage` painter, shots that differ
from seed to seed; `reencode` makes copies of a file as users do): real files in any codec and container
FFmpeg writes, with rotation metadata, variable frame rate or no duration in the header on request;
`with_broken_timestamps` rewrites an MP4's sample tables so its timestamps say nothing.
"""

from __future__ import annotations

import io
import itertools
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np


def scene(index: int, width: int, height: int, hue: int) -> np.ndarray:
    """A frame: a coloured background with a white square that moves with `index` (the same square in every
    hue: as footage, videos of other hues are copies of one another in another colour)."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[..., hue % 3] = 60 + (hue * 37) % 150
    frame[..., (hue + 1) % 3] = (index * 9) % 200
    size = max(4, height // 4)
    x = (index * 3) % max(1, width - size)
    frame[height // 3 : height // 3 + size, x : x + size] = 255
    return frame


def footage(seed: int, fps: int, shot_seconds: float = 3.0, take: int = 0):
    """A painter (for `encode`) of footage that differs from seed to seed as real footage does: shots of a few
    seconds, each a lit gradient with coloured blobs drifting slowly across it (so frames half a second apart
    still look alike, and a frame of one seed looks like no frame of another). Another `take` of a seed is
    the same scenes (background, blob sizes and colours) with the blobs elsewhere and moving otherwise."""

    def paint(index: int, width: int, height: int, hue: int) -> np.ndarray:
        shot = int(index / (fps * shot_seconds))
        scenery, motion = np.random.default_rng([seed, shot]), np.random.default_rng([seed, shot, take])
        t = index / fps
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = scenery.uniform(0, 2 * np.pi)
        base = 60 + 80 * ((np.cos(angle) * xs / width + np.sin(angle) * ys / height) % 1.0)
        frame = np.repeat(base[..., None], 3, axis=2) * scenery.uniform(0.6, 1.0, 3)
        for _ in range(4):
            cx = (motion.uniform(0, 1) + motion.uniform(-0.06, 0.06) * t) % 1.0 * width
            cy = (motion.uniform(0, 1) + motion.uniform(-0.06, 0.06) * t) % 1.0 * height
            radius = scenery.uniform(0.1, 0.3) * min(width, height)
            inside = (xs - cx) ** 2 + (ys - cy) ** 2 < radius**2
            frame[inside] = scenery.uniform(0, 255, 3)
        return np.clip(frame, 0, 255).astype(np.uint8)

    return paint


def after_opening(body, opening, frames: int):
    """A painter showing `opening`'s frames (None: black) for the first `frames` frames, then `body`'s."""

    def paint(index: int, width: int, height: int, hue: int) -> np.ndarray:
        if index >= frames:
            return body(index, width, height, hue)
        return opening(index, width, height, hue) if opening else np.zeros((height, width, 3), np.uint8)

    return paint


def reencode(source: Path, target: Path, *, codec: str = "libx264", crf: int | None = None, scale: float = 1.0,
             start: float = 0.0, end: float | None = None, fps: int | None = None) -> Path:
    """Decode `source` and encode its frames from `start` to `end` (seconds) again: another container (by
    `target`'s suffix), codec, quality (`crf`), size (`scale`) or frame rate; a copy as users make them."""
    import av

    with av.open(str(source)) as reader:
        stream = reader.streams.video[0]
        rate = int(round(float(stream.average_rate or 25)))
        timed = [(float(frame.time), frame.to_ndarray(format="rgb24")) for frame in reader.decode(stream)
                 if start <= float(frame.time) < (end if end is not None else float("inf"))]
    frames = [array for _, array in timed]
    if fps and fps != rate:  # the same motion at another frame rate: each new instant shows the frame on screen then
        times = np.array([t for t, _ in timed]) - timed[0][0]
        instants = np.arange(int(round((times[-1] + 1 / rate) * fps))) / fps
        frames = [frames[max(0, int(np.searchsorted(times, t + 1e-6)) - 1)] for t in instants]
        rate = fps
    height, width = frames[0].shape[:2]
    width, height = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(target), "w", format=_format_for(target)) as writer:
        out = writer.add_stream(codec, rate=rate, options={"crf": str(crf)} if crf is not None else {})
        out.width, out.height, out.pix_fmt = width, height, "yuv420p"
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(width=width, height=height)
            for packet in out.encode(frame):
                writer.mux(packet)
        for packet in out.encode():
            writer.mux(packet)
    return target


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
    painter=None,
) -> Path:
    """Encode a synthetic video; `frame_times` (seconds) makes it variable frame rate; `painter(index, width,
    height, hue)` draws the frames instead of `scene`."""
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
        frame = av.VideoFrame.from_ndarray((painter or scene)(i, width, height, hue), format="rgb24")
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


_MP4_PARENTS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def with_broken_timestamps(source: Path, target: Path, mode: str) -> Path:
    """Copy the MP4 `source` (as `encode` writes it: moov after mdat) to `target` with untrustworthy timestamps.

    `mode` "constant": every sample delta (stts) and composition offset (ctts) is 0 and the stated
    durations with them, as some muxers write: every frame has pts 0 and the file states no length.
    "backwards": decode times are kept but presentation times (ctts) run backwards, one frame
    interval a frame, from the last frame shown first to the first shown last.
    "reset": presentation times start over halfway through (as after a careless concatenation).
    The edit list is dropped (renamed to a `free` box) so the demuxer shows every sample.
    """
    if mode not in ("constant", "backwards", "reset"):
        raise ValueError(f"unknown mode {mode!r}")
    data = Path(source).read_bytes()
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(_rewrite_boxes(data, mode))
    return target


def _boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the MP4 boxes in `data`, at one level."""
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        boxes.append((kind, data[pos + header : pos + size]))
        pos += size
    return boxes


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _rewrite_boxes(data: bytes, mode: str) -> bytes:
    """The boxes of `data` with their sample timing rewritten; mdat stays where it is (moov must follow it)."""
    out, seen = b"", set()
    for kind, payload in _boxes(data):
        if kind == b"moov" and b"mdat" not in seen:
            raise ValueError("moov before mdat: resizing it would move the samples")
        seen.add(kind)
        if kind == b"stbl":
            payload = b"".join(_box(k, p) for k, p in _retime(_boxes(payload), mode))
        elif kind in _MP4_PARENTS:
            payload = _rewrite_boxes(payload, mode)
        elif kind == b"edts":
            kind = b"free"
        elif kind in (b"mvhd", b"tkhd", b"mdhd") and mode == "constant":
            payload = _zero_duration(kind, payload)
        out += _box(kind, payload)
    return out


def _zero_duration(kind: bytes, payload: bytes) -> bytes:
    """A movie, track or media header stating no duration (its field after the times and the timescale)."""
    version = payload[0]
    width = 8 if version == 1 else 4
    offset = 4 + 2 * width + 4  # version and flags, creation and modification times, timescale or track id
    if kind == b"tkhd":
        offset = 4 + 2 * width + 8  # track id and a reserved word
    return payload[:offset] + bytes(width) + payload[offset + width :]


def _retime(boxes: list[tuple[bytes, bytes]], mode: str) -> list[tuple[bytes, bytes]]:
    """A sample table's boxes with new stts and ctts for `mode`."""
    table = dict(boxes)
    stts = table[b"stts"]
    entries = struct.unpack(f">{2 * struct.unpack('>I', stts[4:8])[0]}I", stts[8:])
    deltas = [d for count, d in zip(entries[::2], entries[1::2]) for _ in range(count)]
    offsets = [0] * len(deltas)
    if b"ctts" in table:
        ctts = table[b"ctts"]
        entries = struct.unpack(f">{2 * struct.unpack('>I', ctts[4:8])[0]}i", ctts[8:])
        offsets = [o for count, o in zip(entries[::2], entries[1::2]) for _ in range(count)]
    n, step = len(deltas), max(deltas)
    decode_times = [0, *itertools.accumulate(deltas[:-1])]
    shown = sorted(range(n), key=lambda i: decode_times[i] + offsets[i])  # samples in presentation order
    if mode == "constant":
        deltas, offsets = [0] * n, [0] * n
    else:
        rank = {sample: position for position, sample in enumerate(shown)}
        if mode == "backwards":  # shown first is stamped last; all offsets stay positive (ctts version 0)
            new = {i: (2 * n - rank[i]) * step for i in range(n)}
        else:
            new = {i: (n + rank[i] % (n // 2)) * step for i in range(n)}
        offsets = [new[i] - decode_times[i] for i in range(n)]
    out = [(kind, _table(deltas)) if kind == b"stts" else (kind, payload) for kind, payload in boxes if kind != b"ctts"]
    at = [kind for kind, _ in out].index(b"stts") + 1  # ctts right after stts, as muxers write it
    out.insert(at, (b"ctts", _table(offsets)))
    return out


def _table(values: list[int]) -> bytes:
    """A run-length (count, value) table of unsigned values, with its version/flags word and entry count."""
    runs: list[list[int]] = []
    for value in values:
        if runs and runs[-1][1] == value:
            runs[-1][0] += 1
        else:
            runs.append([1, value])
    return struct.pack(">4xI", len(runs)) + b"".join(struct.pack(">II", count, value) for count, value in runs)


def _format_for(path: Path) -> str:
    return {".mp4": "mp4", ".webm": "webm", ".avi": "avi", ".mkv": "matroska", ".mpv": "mpeg1video"}[
        path.suffix.lower()
    ]
