"""Probe: check a file with PyAV (container header plus its first frame) and describe its main video
stream, or say in one line why it is not a usable video."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from vsearch.errors import DecodeError
from vsearch.media.container import open_container


@dataclass(frozen=True)
class VideoProbe:
    path: Path
    container: str
    codec: str
    stream_index: int  # among the container's video streams
    video_streams: int
    width: int  # as displayed, after rotation
    height: int
    rotation: int  # degrees counter-clockwise to turn decoded frames upright
    fps: float | None
    duration: float | None  # as the container states it (may be missing or wrong)
    # frames per second for timing frames by their order when their timestamps say nothing: see stated_frame_rate
    order_fps: float | None = None
    created: datetime | None = None  # when it was recorded, as the container says (creation_time), in UTC


# Frame rates outside this range are not taken from a file's headers to time its frames by their order:
# a time base of 1/12800 or 1/1000 is a clock, not a frame rate; a rate computed from broken timestamps can be 0.
ORDER_FPS_RANGE = (1.0, 300.0)


def stated_frame_rate(stream) -> float | None:
    """The frame rate a stream states, for timing its frames by their order: the codec's own (from the
    bitstream, independent of the container's timestamps), else the stream's average or guessed rate, else
    one frame per tick of its time base; the first in ORDER_FPS_RANGE, or None when none is."""
    ctx = stream.codec_context
    candidates = (
        ctx.framerate if ctx is not None else None,
        stream.average_rate,
        stream.guessed_rate,
        1 / stream.time_base if stream.time_base else None,
    )
    low, high = ORDER_FPS_RANGE
    for rate in candidates:
        if rate and low <= float(rate) <= high:
            return float(rate)
    return None


def _pick_video_stream(container) -> tuple[int, object]:
    """The main video stream: not cover art; the default one, else the largest picture."""
    candidates = [s for s in container.streams.video if not _is_attached_picture(s)]
    if not candidates:
        raise DecodeError("no video stream")

    def rank(stream):
        default = bool(int(stream.disposition) & 0x1) if stream.disposition is not None else False
        ctx = stream.codec_context
        area = (ctx.width or 0) * (ctx.height or 0) if ctx is not None else 0
        return (default, area, stream.frames or 0)

    best = max(candidates, key=rank)
    return list(container.streams.video).index(best), best


def _is_attached_picture(stream) -> bool:
    try:
        return bool(int(stream.disposition) & 0x400)  # AV_DISPOSITION_ATTACHED_PIC
    except (TypeError, ValueError):
        return False


# A camera with no clock set writes its epoch (1904 in QuickTime, 1970 elsewhere): not a recording date.
_EARLIEST_DATE = datetime(1971, 1, 1, tzinfo=timezone.utc)


def parse_creation_time(text: str | None) -> datetime | None:
    """A container's `creation_time` tag ("2024-06-01T12:34:56.000000Z", or without a zone, meaning UTC)
    as an aware UTC datetime; None when it is missing, unreadable or a zeroed clock's epoch."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        return None
    value = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value if value >= _EARLIEST_DATE else None


def creation_time(container, stream) -> datetime | None:
    """The recording date the file states: the container's tag, else the video stream's."""
    for metadata in (container.metadata, stream.metadata):
        value = parse_creation_time((metadata or {}).get("creation_time"))
        if value is not None:
            return value
    return None


def iter_decoded(container, stream) -> Iterator:
    """Every frame PyAV can decode, going on past damaged packets; stops at an unreadable container tail."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            return  # demuxer cannot go on (truncated file): keep what was decoded
        try:
            frames = packet.decode()
        except av.FFmpegError:
            continue  # one damaged packet: skip it, as a player does
        yield from frames


def probe(path: Path) -> VideoProbe:
    """Open `path` with PyAV and decode one frame; raise DecodeError saying why it is not a video."""
    import av

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        container = open_container(path)
    except av.FFmpegError as exc:
        raise DecodeError(f"not a readable video ({_reason(exc)})") from exc
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from exc
    try:
        index, stream = _pick_video_stream(container)
        codec = stream.codec_context.name if stream.codec_context is not None else "unknown"
        if stream.codec_context is None:
            raise DecodeError(f"unsupported video codec ({codec})")
        stream.thread_type = "AUTO"
        first = next(iter_decoded(container, stream), None)
        if first is None:
            raise DecodeError(f"no decodable video frame (codec {codec}; damaged, truncated or unsupported)")
        rotation = int(round(getattr(first, "rotation", 0) or 0))
        width, height = first.width, first.height
        if round(rotation / 90) % 2:
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        return VideoProbe(
            path=path,
            container=container.format.name,
            codec=codec,
            stream_index=index,
            video_streams=len(container.streams.video),
            width=width,
            height=height,
            rotation=rotation,
            fps=float(rate) if rate else None,
            duration=duration if duration and duration > 0 else None,
            order_fps=stated_frame_rate(stream),
            created=creation_time(container, stream),
        )
    finally:
        container.close()


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0] if text else type(exc).__name__
