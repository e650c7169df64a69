"""Library reports: status, export, prune."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from vsearch.index.faiss_index import spec_for
from vsearch.ingest.changes import prune
from vsearch.store import repo


def library_status(library) -> dict:
    model, dim = library.built_with
    with library.sessions() as session:
        counts = repo.counts(session)
        last_ingest = json.loads(repo.get_meta(session, repo.LAST_INGEST_KEY) or "null")
        failed = [{"path": v.path, "reason": v.error} for v in repo.failed_videos(session)]
        current = repo.fingerprint(session)
    sidecar = library.index_info() or {}
    path = library.index_path
    settings = library.settings
    wanted = spec_for(current.count, settings.index_threshold, settings.approximate_index).kind
    built = (sidecar.get("params") or {}).get("planned") or sidecar.get("kind", "flat")
    if not path.exists():
        state = "missing; rebuilt on the next query"
    elif sidecar.get("fingerprint") != current.as_list():
        state = "stale; rebuilt on the next query"
    elif built != wanted:
        state = f"rebuilt as {wanted} on the next query (the library's size and VSEARCH_INDEX_THRESHOLD ask for it)"
    else:
        state = "up to date"
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
            "kind": sidecar.get("kind", "flat"),
            "params": sidecar.get("params"),
            "size": sidecar.get("size", 0),
            "bytes": path.stat().st_size if path.exists() else 0,
            "state": state,
        },
        "prompt_features": _features_status(library, counts.clips),
        "failed": failed,
    }


def _features_status(library, clips: int) -> dict:
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


def iter_export(library, embeddings: bool = True) -> Iterator[dict]:
    with library.sessions() as session:
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


def prune_missing(library) -> list[str]:
    with library.sessions.begin() as session:
        removed, clip_ids = prune(session)
    if clip_ids:
        library.drop_derived(clip_ids)
        library.save_index()
    return removed
