"""Library reports: status, export, prune."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import make_url

from vsearch.index.policy import RebuildReason, rebuild_reason
from vsearch.ingest.changes import prune
from vsearch.store import repo
from vsearch.store.models import Video

if TYPE_CHECKING:
    from vsearch.library import Library


def library_status(library: Library) -> dict:
    model, dim = library.built_with
    with library.store.session() as session:
        counts = repo.counts(session)
        last_ingest = json.loads(repo.get_meta(session, repo.LAST_INGEST_KEY) or "null")
        failed = [{"path": v.path, "reason": v.error} for v in repo.failed_videos(session)]
        timed_by_frame_rate = _timed_by_frame_rate(session)
        current = repo.fingerprint(session)
    record = library.index_record()
    path = library.index_path
    library_state = library.index_target().state(current.as_list())
    state = _index_state(rebuild_reason(record, library_state), library_state.wanted().kind)
    return {
        "data_dir": str(library.settings.data_dir),
        "database": make_url(library.settings.database_url).render_as_string(hide_password=True),
        "model": model,
        "embedding_dim": dim,
        "videos": {"indexed": counts.indexed, "failed": counts.failed},
        "last_ingest": last_ingest,
        "clips": counts.clips,
        "index": {
            "path": str(path),
            "kind": record.spec.kind if record else "flat",
            "params": asdict(record.spec) if record else None,
            "size": record.size if record else 0,
            "bytes": path.stat().st_size if path.exists() else 0,
            "state": state,
        },
        "prompt_features": _features_status(library, counts.clips),
        "failed": failed,
        "timed_by_frame_rate": timed_by_frame_rate,
    }


def _timed_by_frame_rate(session) -> list[dict]:
    """The indexed videos whose timestamps said nothing, with how their frames were timed instead."""
    query = select(Video.path, Video.timing).where(Video.status == "indexed", Video.timing.is_not(None))
    return [{"path": path, "reason": timing} for path, timing in session.execute(query.order_by(Video.path))]


def _index_state(reason: RebuildReason | None, wanted: str) -> str:
    if reason is None:
        return "up to date"
    if reason.code == "kind":
        return f"rebuilt as {wanted} on the next query (the library's size and VSEARCH_INDEX_THRESHOLD ask for it)"
    return f"{reason}; rebuilt on the next query"


def _features_status(library: Library, clips: int) -> dict:
    """Disk used by the exact-ranking features, or why there are none."""
    if not library.settings.prompt_features:
        return {"enabled": False, "bytes": 0, "bytes_per_clip": 0, "note": "turned off: queries rank by stage 1 only"}
    store = library.features()
    used = store.bytes_on_disk() if store is not None else 0
    return {
        "enabled": True,
        "path": str(library.settings.features_path),
        "shape": [store.tokens, store.dim] if store is not None else None,
        "bytes": used,
        "bytes_per_clip": round(used / clips) if clips else 0,
    }


def iter_export(library: Library, embeddings: bool = True) -> Iterator[dict]:
    with library.store.session() as session:
        for clip, video in repo.iter_clips(session):
            record = {
                "clip_id": clip.id,
                "video_id": video.id,
                "path": video.path,
                "start": clip.start_time,
                "end": clip.end_time,
                "frame_indices": clip.frame_indices,
                "frame_times": clip.frame_times,
                "model": clip.model,
            }
            if embeddings:
                record["embedding"] = [float(x) for x in clip.vector()]
            yield record


def prune_missing(library: Library, *, wait: bool = True, on_wait=None) -> list[str]:
    with library.writing("prune", wait=wait, on_wait=on_wait):
        with library.store.begin() as session:
            removed, clip_ids = prune(session)
        if clip_ids:
            library.drop_derived(clip_ids)
            library.save_index()
    return removed
