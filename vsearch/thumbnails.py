"""Thumbnails: a JPEG of a clip's middle sampled frame, cached in the data dir."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from vsearch.media.decode import probe, sources_for

THUMBNAIL_SIZE = (320, 320)


def thumbnail_path(data_dir: Path, clip_id: int) -> Path:
    return data_dir / "thumbnails" / f"{clip_id // 1000:04d}" / f"{clip_id}.jpg"


def make_thumbnail(video_path: str, frame_indices: list[int], target: Path) -> Path:
    """Decode the clip's middle sampled frame and write it as a JPEG (atomically)."""
    index = frame_indices[len(frame_indices) // 2]
    info = probe(Path(video_path))
    error = None
    for source in sources_for(info):
        try:
            _, frame = next(source.read_frames([index]))
            break
        except Exception as exc:  # noqa: BLE001 - try the next decoder
            error = exc
        finally:
            source.close()
    else:
        raise RuntimeError(f"cannot decode frame {index} of {video_path}: {error}")
    image = Image.fromarray(frame)
    image.thumbnail(THUMBNAIL_SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(target)
    return target
