"""A saved index: the FAISS file and its sidecar (index.json), written atomically, read back checked.

The sidecar records what the index was built from (model, embedding size, a fingerprint of the
store's clip ids) and how (kind, parameters, measured recall), so vsearch.index.policy can decide
whether the file may be used without opening it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from vsearch.index.clip_index import ClipIndex, IndexSpec


class UnreadableIndex(Exception):
    """The index file exists but FAISS cannot read it (truncated, overwritten)."""


@dataclass(frozen=True)
class IndexRecord:
    """What a saved index holds, as its sidecar says (or as an index in memory would say of itself)."""

    model: str
    dim: int
    spec: IndexSpec
    fingerprint: tuple[int, ...]  # the store's clip ids summarised: (count, max id, id sum)
    size: int  # vectors searched
    removed: tuple[int, ...] = ()  # deleted ids an approximate index still holds and filters out

    @property
    def removed_fraction(self) -> float:
        return len(self.removed) / max(1, self.size + len(self.removed))

    def as_sidecar(self) -> dict:
        return {
            "model": self.model,
            "dim": self.dim,
            "kind": self.spec.kind,
            "params": asdict(self.spec),
            "fingerprint": list(self.fingerprint),
            "size": self.size,
            "removed": sorted(self.removed),
        }

    @classmethod
    def from_sidecar(cls, meta: dict) -> "IndexRecord":
        return cls(
            model=meta["model"],
            dim=int(meta["dim"]),
            spec=IndexSpec(**meta.get("params", {"kind": meta["kind"]})),
            fingerprint=tuple(int(x) for x in meta["fingerprint"]),
            size=int(meta.get("size", 0)),
            removed=tuple(int(x) for x in meta.get("removed", ())),
        )


def record_of(index: ClipIndex, model: str, fingerprint) -> IndexRecord:
    return IndexRecord(model, index.dim, index.spec, tuple(fingerprint), len(index), tuple(sorted(index.removed)))


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def read_record(path: Path) -> IndexRecord | None:
    """The saved index's record; None when the index file or its sidecar is missing or unreadable."""
    if not path.exists():
        return None
    try:
        return IndexRecord.from_sidecar(json.loads(sidecar_path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_index(path: Path, record: IndexRecord) -> ClipIndex:
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise UnreadableIndex(str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable") from exc
    if index.d != record.dim or not hasattr(index, "id_map"):
        raise UnreadableIndex(f"the file holds a {type(index).__name__} of dimension {index.d}")
    if index.ntotal != record.size + len(record.removed):  # a file and a sidecar of two different saves
        raise UnreadableIndex(f"the file holds {index.ntotal} vectors, its sidecar says {record.size}")
    return ClipIndex(record.dim, record.spec, index, record.removed)


def save_index(path: Path, index: ClipIndex, model: str, fingerprint) -> None:
    """Write the index, then its sidecar, each through a rename, so readers never see half a file."""
    import faiss

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:  # written through Python: a full disk is an OSError, not a C++ message
            faiss.write_index(index.index, faiss.PyCallbackIOWriter(handle.write))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    sidecar = sidecar_path(path)
    tmp_meta = sidecar.with_name(sidecar.name + ".tmp")
    tmp_meta.write_text(json.dumps(record_of(index, model, fingerprint).as_sidecar()))
    os.replace(tmp_meta, sidecar)
