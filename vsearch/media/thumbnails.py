"""Thumbnails: a JPEG of a clip's middle sampled frame, stored in the data dir.

Ingest makes them from the frames it decodes anyway (`encode_thumbnail` runs in the decode
workers); `make_thumbnail` decodes the frame again when a stored one has gone missing.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from vsearch.media.decode import sources_for
from vsearch.media.probe import probe

THUMBNAIL_SIZE = (320, 320)


def thumbnail_path(data_dir: Path, clip_id: int) -> Path:
    return data_dir / "thumbnails" / f"{clip_id // 1000:04d}" / f"{clip_id}.jpg"


def make_thumbnail(video_path: str, frame_indices: list[int], target: Path, decoder: str | None = None) -> Path:
    """Decode the clip's middle sampled frame and write it as a JPEG (atomically). `decoder`: the one that
    ingested the video (frame indices count frames in its order: decord, which orders frames by timestamp,
    numbers them otherwise than PyAV where timestamps say nothing)."""
    index = middle_frame(frame_indices)
    info = probe(Path(video_path))
    error = None
    for source in sources_for(info, skip=("decord",) if decoder == "pyav" else ()):
        try:
            _, frame = next(source.read_frames([index]))
            break
        except Exception as exc:  # noqa: BLE001 - try the next decoder
            error = exc
        finally:
            source.close()
    else:
        raise RuntimeError(f"cannot decode frame {index} of {video_path}: {error}")
    return write_thumbnail(target, encode_thumbnail(frame))


def middle_frame(frame_indices) -> int:
    """The sampled frame a clip's thumbnail shows."""
    return frame_indices[len(frame_indices) // 2]


def encode_thumbnail(frame: np.ndarray) -> bytes:
    """An HxWx3 uint8 RGB frame as a JPEG that fits THUMBNAIL_SIZE."""
    image = Image.fromarray(frame)
    image.thumbnail(THUMBNAIL_SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def write_thumbnail(target: Path, jpeg: bytes) -> Path:
    """Write atomically, so a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{uuid.uuid4().hex}.tmp")  # replicas sharing a data dir may remake it at once
    tmp.write_bytes(jpeg)
    tmp.replace(target)
    return target
