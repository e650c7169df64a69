"""Video facts that need no embedding: when each video was recorded.

The date is the container's `creation_time` when it states a real one, else the file's modification time.
Ingest records it for every video it embeds. Videos indexed before the library had the column get it on the
next ingest (for the files that run walks) or from `vsearch db upgrade` (for all), by probing their files:
a header read each, nothing embedded again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from vsearch.errors import DecodeError
from vsearch.media.probe import VideoProbe, probe
from vsearch.store import repo
from vsearch.store.db import Store
from vsearch.store.models import Video

log = logging.getLogger(__name__)

CONTAINER, FILE = "container", "file"  # where a recording date came from


def recorded_date(info: VideoProbe, mtime_ns: int) -> tuple[datetime, str]:
    """(when the video was recorded, where that came from)."""
    if info.created is not None:
        return info.created, CONTAINER
    return datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc), FILE


def fill_missing_facts(store: Store, paths: Iterable[Path] | None = None) -> int:
    """Record the date of indexed videos that lack one (those among `paths`, or every one); returns how many
    were filled. A file that cannot be probed now keeps NULL and is tried again next time."""
    with store.session() as session:
        lacking = [(video.id, video.path) for video in repo.videos_lacking_facts(session)]
    if paths is not None:
        wanted = {str(path) for path in paths}
        lacking = [(video_id, path) for video_id, path in lacking if path in wanted]
    filled = 0
    for video_id, path in lacking:
        try:
            info = probe(Path(path))
            mtime_ns = Path(path).stat().st_mtime_ns
        except (DecodeError, OSError) as exc:
            log.debug("no facts for %s: %s", path, exc)
            continue
        with store.begin() as session:
            video = session.get(Video, video_id)
            if video is None:
                continue
            video.recorded_at, video.recorded_from = recorded_date(info, mtime_ns)
        filled += 1
    return filled
