"""Prompt features: each clip's frame-averaged projected patch tokens, kept for exact X-CLIP scoring.

X-CLIP scores a text against a video after adding a video-conditioned prompt to the text embedding;
the prompt is computed from these features (P tokens x D, e.g. 49 x 512 for base-patch32). They are
a by-product of the vision pass that makes the clip embedding, stored here as float16 in one file,
one fixed-size record per clip id (ids are never reused, so a record never goes stale: the store is
consulted only for ids that the database holds).
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path

import numpy as np

DTYPE = np.float16


class FeatureStore:
    def __init__(self, path: Path, tokens: int, dim: int):
        self.path = Path(path)
        self.tokens, self.dim = int(tokens), int(dim)
        self.record = self.tokens * self.dim
        self._map: np.memmap | None = None
        self._mapped_records = 0

    @classmethod
    def open(cls, path: Path) -> "FeatureStore | None":
        """The store at `path` as written before, or None when there is none."""
        try:
            meta = json.loads(_meta_path(path).read_text())
        except (OSError, ValueError):
            return None
        return cls(path, meta["tokens"], meta["dim"])

    def records_on_disk(self) -> int:
        """How many records the file holds: every clip id below this has its place (a truncated or deleted
        file holds fewer than the library's clips)."""
        try:
            return self.path.stat().st_size // (self.record * np.dtype(DTYPE).itemsize)
        except FileNotFoundError:
            return 0

    def _view(self) -> np.memmap | None:
        records = self.records_on_disk()
        if records == 0:
            return None
        if self._map is None or records != self._mapped_records:
            self._map = np.memmap(self.path, dtype=DTYPE, mode="r", shape=(records, self.tokens, self.dim))
            self._mapped_records = records
        return self._map

    def write(self, ids: np.ndarray, features: np.ndarray) -> None:
        """Store `features` (n, P, D) for clip `ids`; the file grows as ids grow (sparse where ids were skipped)."""
        if len(ids) == 0:
            return
        if features.shape[1:] != (self.tokens, self.dim):
            raise ValueError(f"features of shape {features.shape[1:]} in a store of {(self.tokens, self.dim)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not _meta_path(self.path).exists():
            _meta_path(self.path).write_text(json.dumps({"tokens": self.tokens, "dim": self.dim, "dtype": "float16"}))
        itemsize = np.dtype(DTYPE).itemsize
        with open(self.path, "r+b" if self.path.exists() else "w+b") as handle:
            for clip_id, values in zip(np.asarray(ids, np.int64), features):
                handle.seek(int(clip_id) * self.record * itemsize)
                handle.write(np.ascontiguousarray(values, dtype=DTYPE).tobytes())
            handle.flush()
            os.fsync(handle.fileno())

    def read(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, P, D) float16 as stored, present (n,) bool) for clip `ids`; absent ones are zeros."""
        ids = np.asarray(ids, np.int64)
        view = self._view()
        inside = ids < (view.shape[0] if view is not None else 0)
        if inside.all():
            out = view[ids]
        else:
            out = np.zeros((len(ids), self.tokens, self.dim), DTYPE)
            if inside.any():
                out[inside] = view[ids[inside]]
        # a discarded or never-written record is all zeros; real patch features never are
        present = np.any(out[:, 0, :] != 0, axis=1) | np.any(out[:, -1, :] != 0, axis=1)
        return np.asarray(out), present

    def discard(self, ids) -> None:
        """Forget deleted clips' records: hole-punched where the file system can (space returns), else zeroed."""
        ids = [int(i) for i in ids if int(i) < self.records_on_disk()]
        if not ids:
            return
        length = self.record * np.dtype(DTYPE).itemsize
        with open(self.path, "r+b") as handle:
            for clip_id in ids:
                if not _punch_hole(handle.fileno(), clip_id * length, length):
                    handle.seek(clip_id * length)
                    handle.write(bytes(length))
            handle.flush()

    def bytes_on_disk(self) -> int:
        """Space the file really takes (a sparse file's holes do not count)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return 0
        return getattr(stat, "st_blocks", stat.st_size // 512) * 512

    def clear(self) -> None:
        self._map = None
        self.path.unlink(missing_ok=True)
        _meta_path(self.path).unlink(missing_ok=True)


def _punch_hole(fd: int, offset: int, length: int) -> bool:
    """fallocate(PUNCH_HOLE | KEEP_SIZE) on Linux; False where unavailable."""
    try:
        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return False
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return fallocate(fd, 0x02 | 0x01, offset, length) == 0


def _meta_path(path: Path) -> Path:
    return Path(path).with_suffix(".json")
