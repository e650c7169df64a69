"""Fingerprints for videos indexed before the library kept them: their clips' sampled frames decoded again
(the frames ingest sampled, by the decoder that numbered them) and printed; nothing is embedded again."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sqlalchemy import select

from vsearch.duplicates.finder import refresh
from vsearch.errors import DecodeError
from vsearch.media.decode import sources_for
from vsearch.media.fingerprint import frame_print, printed_frames
from vsearch.media.probe import probe
from vsearch.store import repo
from vsearch.store.models import Clip

log = logging.getLogger(__name__)

DECODE_EDGE = 128  # prints average frames down to 16 × 16: small decoded frames are plenty


def fill_missing_prints(store, threshold: float, paths: Iterable[Path] | None = None) -> int:
    """Print the indexed videos that lack prints (those among `paths`, or every one), then find their copies;
    returns how many were printed. A file that cannot be decoded now is tried again next time."""
    with store.session() as session:
        lacking = [(video.id, video.path, video.decoder) for video in repo.videos_lacking_prints(session)]
    if paths is not None:
        wanted = {str(path) for path in paths}
        lacking = [item for item in lacking if item[1] in wanted]
    printed = []
    for video_id, path, decoder in lacking:
        with store.session() as session:
            clips = session.scalars(select(Clip).where(Clip.video_id == video_id)).all()
            times = {i: t for clip in clips for i, t in zip(clip.frame_indices, clip.frame_times)}
        try:
            prints = _decode_prints(Path(path), decoder, times)
        except (DecodeError, OSError) as exc:
            log.warning("no fingerprints for %s: %s", path, exc)
            continue
        with store.begin() as session:
            repo.set_prints(session, video_id, *printed_frames(prints), sampled=len(prints))
        printed.append(video_id)
    if printed:
        refresh(store, printed, threshold)
    return len(printed)


def _decode_prints(path: Path, decoder: str | None, times: dict[int, float]) -> dict[float, np.ndarray | None]:
    info = probe(path)
    error = None
    # frame indices count frames in the order of the decoder that ingested the video (see media.thumbnails)
    for source in sources_for(info, DECODE_EDGE, skip=("decord",) if decoder == "pyav" else ()):
        try:
            return {times[index]: frame_print(frame) for index, frame in source.read_frames(sorted(times))}
        except DecodeError as exc:
            error = exc
        finally:
            source.close()
    raise DecodeError(str(error) if error else "no decoder could read it")
