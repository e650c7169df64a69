"""Index policy: which index a library of a given size gets, and whether a saved one may be used.

One function decides, for loading, for saving and for `vsearch status`, whether an index must be
rebuilt from the store, and says why. It reads only the index's record (vsearch.index.files) and
the library's current state, so it runs without FAISS files or a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsearch.index.clip_index import APPROXIMATE_KINDS, IndexSpec
from vsearch.index.files import IndexRecord
from vsearch.index.tuning import plan_nlist

# An approximate index filters deleted ids instead of dropping them; past this share it is rebuilt.
MAX_REMOVED_FRACTION = 0.1


def spec_for(size: int, threshold: int, approximate: str = "ivf") -> IndexSpec:
    """Exact search below `threshold` clips, the `approximate` kind from there on."""
    if size < threshold:
        return IndexSpec("flat")
    if approximate not in APPROXIMATE_KINDS:
        raise ValueError(f"unknown approximate index kind {approximate!r}")
    # k-means cannot place more lists than there are vectors (only with a threshold below plan_nlist's 16)
    return IndexSpec(approximate, nlist=min(plan_nlist(size), size) if approximate == "ivf" else None)


@dataclass(frozen=True)
class LibraryState:
    """What an index must match: the library's model and embedding size, its clips, its settings."""

    model: str
    dim: int
    fingerprint: tuple[int, ...]  # (count, max id, id sum) of the store's clip ids
    threshold: int
    approximate: str = "ivf"

    @property
    def size(self) -> int:
        return int(self.fingerprint[0])

    def wanted(self) -> IndexSpec:
        return spec_for(self.size, self.threshold, self.approximate)


@dataclass(frozen=True)
class RebuildReason:
    code: str  # missing, model, dim, stale, kind, removed, outgrown
    detail: str

    def __str__(self) -> str:
        return self.detail


def rebuild_reason(record: IndexRecord | None, library: LibraryState) -> RebuildReason | None:
    """Why the index described by `record` must be rebuilt for `library`; None when it may be used.

    `record` is None when there is no saved index (or its sidecar is unreadable).
    """
    if record is None:
        return RebuildReason("missing", "missing")
    if record.model != library.model:
        return RebuildReason("model", f"built with the model '{record.model}'")
    if record.dim != library.dim:
        return RebuildReason("dim", f"built for {record.dim}-dimensional embeddings, not {library.dim}")
    if tuple(record.fingerprint) != tuple(library.fingerprint):
        return RebuildReason("stale", "stale")
    wanted = library.wanted()
    if record.spec.chosen_kind != wanted.kind:
        return RebuildReason(
            "kind", f"a {record.spec.chosen_kind} index where the library's size and VSEARCH_INDEX_THRESHOLD "
            f"ask for {wanted.kind}"
        )
    if record.removed_fraction > MAX_REMOVED_FRACTION:
        return RebuildReason("removed", f"{len(record.removed)} deleted clips still filtered out")
    if record.spec.kind == "ivf" and (wanted.nlist or 0) > (record.spec.nlist or 0):
        return RebuildReason("outgrown", f"IVF lists outgrown ({record.spec.nlist} lists for {library.size} clips, "
                                         f"planned {wanted.nlist})")
    return None
