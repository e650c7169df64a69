"""Previews: a short browser-playable VP9 WebM of a clip's span, for files a browser cannot play."""

from __future__ import annotations

import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np

from vsearch.media.container import open_container
from vsearch.media.decode import DEFAULT_FPS, upright
from vsearch.media.probe import iter_decoded, probe

# What browsers play natively: these codecs in an MP4/MOV or WebM container.
PLAYABLE_CODECS = {"h264", "vp8", "vp9", "av1"}
PLAYABLE_CONTAINERS = ("mov", "matroska")  # ffmpeg's names start so for mp4/mov and mkv/webm
PREVIEW_WIDTH = 640
PREVIEW_FPS = 15


def browser_playable(container: str | None, codec: str | None) -> bool:
    return bool(container and codec) and codec in PLAYABLE_CODECS and container.startswith(PLAYABLE_CONTAINERS)


def preview_path(data_dir: Path, clip_id: int) -> Path:
    return data_dir / "previews" / f"{clip_id // 1000:04d}" / f"{clip_id}.webm"


def make_preview(video_path: str, start: float, end: float, target: Path, by_order: bool = False) -> Path:
    """Transcode [start, end] of the video (upright, at most 640 px wide, 15 fps, no sound) to VP9 WebM.
    `by_order`: the video's timestamps say nothing, and its frames were timed by their order at the
    stream's frame rate at ingest (vsearch.media.decode.frame_timing): the preview times them the same way."""
    import av

    info = probe(Path(video_path))
    target.parent.mkdir(parents=True, exist_ok=True)
    # a name of its own: replicas sharing a data dir may make the same preview at once
    tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp.webm")
    with open_container(video_path) as source:
        stream = source.streams.video[info.stream_index]
        stream.thread_type = "AUTO"
        first_time = None
        with av.open(str(tmp), "w", format="webm") as output:
            width = min(PREVIEW_WIDTH, info.width) // 2 * 2
            height = max(2, round(info.height * width / info.width) // 2 * 2)
            # the decoder's frames are not yet turned upright: a quarter turn swaps their sides
            coded_width, coded_height = (height, width) if round(info.rotation / 90) % 2 else (width, height)
            encoder = output.add_stream("libvpx-vp9", rate=PREVIEW_FPS,
                                        options={"deadline": "realtime", "cpu-used": "8", "crf": "36", "b": "0"})
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.time_base = encoder.codec_context.time_base = Fraction(1, 1000)  # real times: VFR-safe
            next_time, written = start, 0
            for index, frame in enumerate(iter_decoded(source, stream)):
                stamp = index / (info.order_fps or DEFAULT_FPS) if by_order else frame.time
                if stamp is None:
                    continue
                if first_time is None:
                    first_time = stamp
                t = stamp - first_time
                if t < start - 1e-6 or t < next_time - 1e-6:
                    continue  # before the clip, or too soon after the last frame kept (at most 15 fps)
                if t >= end:
                    break
                image = upright(frame.to_ndarray(format="rgb24", width=coded_width, height=coded_height),
                                info.rotation)  # scaled while converting: no full-size RGB frame
                out = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(
                    format="yuv420p")
                out.pts, out.time_base = round((t - start) * 1000), Fraction(1, 1000)
                for packet in encoder.encode(out):
                    output.mux(packet)
                written += 1
                next_time = t + 1 / PREVIEW_FPS
            for packet in encoder.encode():
                output.mux(packet)
    if written == 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"no frames between {start:.2f} and {end:.2f} s")
    tmp.replace(target)
    return target
