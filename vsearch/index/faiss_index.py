"""The FAISS index: clip embeddings by clip id, saved in the data dir and rebuilt from the store.

The database is the source of truth. The index file carries a sidecar (index.json) with the
model and a fingerprint of the store's clip ids; when the file is missing or its fingerprint
differs from the store's, the index is rebuilt from the stored embeddings.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from vsearch.store import repo

log = logging.getLogger(__name__)


class ClipIndex:
    """Inner-product search over L2-normalised clip vectors, ids = clip ids."""

    def __init__(self, dim: int, index=None):
        import faiss

        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """The clip ids in the index."""
        import faiss

        return faiss.vector_to_array(self.index.id_map)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, np.int64))

    def remove(self, ids) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(list(ids), dtype=np.int64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (len(queries), k'), k' = min(k, size); best first."""
        k = min(k, len(self))
        if k <= 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    def save(self, path: Path, model: str, fingerprint: repo.Fingerprint) -> None:
        """Write the index and its sidecar atomically (rename), so readers never see half a file."""
        import faiss

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        meta = {"model": model, "dim": self.dim, "kind": "flat", "fingerprint": fingerprint.as_list(), "size": len(self)}
        sidecar = sidecar_path(path)
        tmp_meta = sidecar.with_name(sidecar.name + ".tmp")
        tmp_meta.write_text(json.dumps(meta))
        os.replace(tmp_meta, sidecar)

    @classmethod
    def build(cls, session: Session, dim: int) -> "ClipIndex":
        index = cls(dim)
        for ids, vectors in repo.iter_embeddings(session):
            index.add(ids, vectors)
        return index


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_sidecar(path: Path) -> dict | None:
    try:
        return json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return None


def load_index(path: Path, sessions: sessionmaker[Session], model: str, dim: int) -> ClipIndex:
    """The saved index when it matches the store; otherwise one rebuilt from the store (and saved)."""
    import faiss

    with sessions() as session:
        current = repo.fingerprint(session)
        meta = read_sidecar(path)
        if (
            meta is not None
            and path.exists()
            and meta.get("model") == model
            and meta.get("dim") == dim
            and meta.get("fingerprint") == current.as_list()
        ):
            try:
                return ClipIndex(dim, faiss.read_index(str(path)))
            except RuntimeError as exc:
                log.warning("index file %s unreadable (%s); rebuilding from the database", path, exc)
        index = ClipIndex.build(session, dim)
    try:
        index.save(path, model, current)
    except OSError as exc:  # a read-only data dir still answers queries
        log.warning("could not save the rebuilt index to %s: %s", path, exc)
    return index


def rebuild_index(path: Path, sessions: sessionmaker[Session], model: str, dim: int) -> ClipIndex:
    with sessions() as session:
        current = repo.fingerprint(session)
        index = ClipIndex.build(session, dim)
    index.save(path, model, current)
    return index
