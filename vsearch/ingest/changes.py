"""What an ingest has to do: which files are new or changed, which are unchanged, which are gone."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from vsearch.media.discover import discover
from vsearch.store import repo
from vsearch.store.db import Store

_BLOCK = 1 << 20


def content_hash(path: Path, size: int) -> str:
    """sha256 of the size and three 1 MiB blocks (start, middle, end): whole small files, sampled big ones.

    Cheap enough to compute for every file of a large library, and it recognises a video that
    was touched, copied or moved without re-embedding it.
    """
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= 3 * _BLOCK:
            digest.update(handle.read())
        else:
            for offset in (0, size // 2 - _BLOCK // 2, size - _BLOCK):
                handle.seek(offset)
                digest.update(handle.read(_BLOCK))
    return digest.hexdigest()


@dataclass(frozen=True)
class FileState:
    path: Path
    size: int
    mtime_ns: int
    content_hash: str


@dataclass
class Changes:
    to_embed: list[FileState]
    unchanged: list[Path]
    unreadable: list[tuple[Path, int, int, str]]  # path, size, mtime_ns, reason
    seen: set[str]


def find_changes(store: Store, paths: Iterable[Path], model: str) -> Changes:
    """Walk `paths` and sort what is found; unchanged files whose stat changed are updated in place."""
    changes = Changes([], [], [], set())
    for path in discover(paths):
        changes.seen.add(str(path))
        stat = None
        try:
            stat = path.stat()
            digest = _known_digest(store, path, stat, model) or content_hash(path, stat.st_size)
        except OSError as exc:
            size, mtime = (stat.st_size, stat.st_mtime_ns) if stat else (0, 0)
            changes.unreadable.append((path, size, mtime, f"cannot read file: {exc.strerror or exc}"))
            continue
        if digest == "unchanged" or _same_content(store, path, stat, digest, model):
            changes.unchanged.append(path)
        else:
            changes.to_embed.append(FileState(path, stat.st_size, stat.st_mtime_ns, digest))
    return changes


def _known_digest(store: Store, path: Path, stat: os.stat_result, model: str) -> str | None:
    """'unchanged' when the store has this path indexed with the same size and mtime."""
    with store.session() as session:
        video = repo.video_by_path(session, str(path))
        if (
            video is not None
            and video.status == "indexed"
            and video.model == model
            and video.size == stat.st_size
            and video.mtime_ns == stat.st_mtime_ns
        ):
            return "unchanged"
    return None


def _same_content(store: Store, path: Path, stat: os.stat_result, digest: str, model: str) -> bool:
    """Same bytes as an indexed video: a touched file keeps its clips, a moved one takes them along."""
    with store.begin() as session:
        video = repo.video_by_path(session, str(path))
        if video is not None:
            if video.status == "indexed" and video.model == model and video.content_hash == digest:
                video.size, video.mtime_ns = stat.st_size, stat.st_mtime_ns
                return True
            return False
        for moved in repo.indexed_videos_with_hash(session, digest):
            if moved.model == model and not os.path.exists(moved.path):
                moved.path, moved.size, moved.mtime_ns = str(path), stat.st_size, stat.st_mtime_ns
                return True
    return False


def sweep(session: Session, roots: Iterable[Path], seen: set[str]) -> tuple[list[str], list[int]]:
    """Forget videos under the walked folders that the walk did not find; returns (paths, clip ids)."""
    removed, clip_ids = [], []
    for root in roots:
        root = Path(root).expanduser().absolute()
        if not root.is_dir():
            continue
        for video in repo.videos_under(session, str(root)):
            if video.path not in seen:
                clip_ids += repo.delete_video(session, video)
                removed.append(video.path)
    return removed, clip_ids


def prune(session: Session) -> tuple[list[str], list[int]]:
    """Forget every video whose file no longer exists."""
    removed, clip_ids = [], []
    for video in repo.all_videos(session):
        if not os.path.exists(video.path):
            clip_ids += repo.delete_video(session, video)
            removed.append(video.path)
    return removed, clip_ids
