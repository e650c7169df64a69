"""The library: one object holding a data dir's store, its FAISS index and (lazily) the model."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vsearch import faults
from vsearch.config import Settings
from vsearch.errors import ModelMismatchError, VsearchError
from vsearch.index import files, sync
from vsearch.index.clip_index import ClipIndex
from vsearch.index.features import FeatureStore
from vsearch.media.preview import preview_path
from vsearch.media.thumbnails import thumbnail_path
from vsearch.relevance import EVERYDAY_PROMPTS
from vsearch.store import repo
from vsearch.store.db import Store, open_store
from vsearch.store.writer import WriterLock

log = logging.getLogger(__name__)


class _StoredVectors:
    """The store as the index sees it: a fingerprint of the clip ids, and the vectors in id order."""

    def __init__(self, store: Store):
        self.store = store

    def fingerprint(self) -> tuple[int, ...]:
        with self.store.session() as session:
            return tuple(repo.fingerprint(session).as_list())

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        with self.store.session() as session:
            yield from repo.iter_embeddings(session)


class Library:
    """Opened from settings; the CLI and the API call the core through it.

    Nothing here loads X-CLIP unless asked for the model, or for an index that must be tuned with it:
    what only deletes (prune, sweeping removed files) leaves an approximate rebuild to the next query.
    """

    def __init__(self, settings: Settings, model=None):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = open_store(settings.database_url)
        self._vectors = _StoredVectors(self.store)
        self._model = model
        self._index: ClipIndex | None = None
        self._features: FeatureStore | None = None
        self._relevance_bank = None
        self._built_with = self._read_built_with()
        self.writer = WriterLock(settings.data_dir, self.store.engine)

    @contextmanager
    def writing(self, command: str, *, wait: bool = True, on_wait=None):
        """Hold the library's writer lock (vsearch.store.writer) while changing it; re-entrant."""
        if self.writer.held:
            yield
            return
        if self.store.read_only:
            raise faults.cannot_write(self.store.read_only, self.settings.data_dir)
        self.writer.acquire(command, wait=wait, on_wait=on_wait)
        try:
            yield
        finally:
            self.writer.release()

    @contextmanager
    def _save_guard(self):
        """Whether this process may save the index now: it writes the library, or nobody does (a server
        rebuilding a stale index while an ingest runs leaves the file to the ingest)."""
        if self.writer.held:
            yield True
            return
        try:
            free = self.writer.try_acquire("query")
        except OSError:  # a read-only data dir: nothing can be saved there
            free = False
        try:
            yield free
        finally:
            if free:
                self.writer.release()

    # -- model -----------------------------------------------------------------------------
    def _read_built_with(self) -> tuple[str | None, int | None]:
        with self.store.session() as session:
            model = repo.get_meta(session, repo.MODEL_KEY)
            dim = repo.get_meta(session, repo.DIM_KEY)
        return model, int(dim) if dim else None

    @property
    def built_with(self) -> tuple[str | None, int | None]:
        """(model id, embedding size) recorded by the first ingest, or (None, None) for a new library;
        read when the library opens and on `refresh`."""
        return self._built_with

    def check_model(self) -> None:
        """Refuse to mix models: a library is searched with the model that embedded it."""
        recorded, _ = self.built_with
        wanted = self.settings.model_id
        if recorded is not None and recorded != wanted:
            raise ModelMismatchError(
                f"This library (data dir {self.settings.data_dir}) was built with the model '{recorded}', "
                f"not '{wanted}'.\nSearch it with --model '{recorded}' (or VSEARCH_MODEL), or re-embed it "
                f"with the new model: vsearch --model '{wanted}' ingest --reembed PATH...; "
                "a separate --data-dir keeps both."
            )

    @property
    def model(self):
        if self._model is None:
            from vsearch.model.xclip import XClip

            self._model = XClip.load(
                self.settings.model, self.settings.model_id, self.settings.device, self.settings.precision,
                cpu_linear=self.settings.cpu_linear,
            )
        return self._model

    def relevance_bank(self):
        """The bank of prompts relevance is measured against (see vsearch.relevance), built on first use."""
        if self._relevance_bank is None:
            from vsearch.relevance import RelevanceBank, bank_prompts, match_level

            self._relevance_bank = RelevanceBank(bank_prompts(self.settings), self.model, match_level(self.settings))
        return self._relevance_bank

    def record_model(self, model_id: str, dim: int) -> None:
        with self.store.begin() as session:
            repo.set_meta(session, repo.MODEL_KEY, model_id)
            repo.set_meta(session, repo.DIM_KEY, str(dim))
        self._built_with = (model_id, dim)

    # -- index -----------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.settings.index_path

    def index_target(self, dim: int | None = None) -> sync.IndexTarget:
        """Where the index lives and what it must match: the recorded model and embedding size (0 for an
        empty library, whose index is missing anyway), the size threshold and the approximate kind."""
        model, recorded_dim = self.built_with
        return sync.IndexTarget(self.index_path, model or "", dim or recorded_dim or 0,
                                self.settings.index_threshold, self.settings.approximate_index)

    def _target(self, dim: int | None = None) -> sync.IndexTarget:
        target = self.index_target(dim)
        if not target.dim:
            raise ValueError("the library has no embeddings yet")
        return target

    def index(self, dim: int | None = None) -> ClipIndex:
        """The FAISS index, loaded once; rebuilt from the store when the index policy says so (loading the
        model if an approximate index must be tuned)."""
        if self._index is None:
            self._index = sync.open_index(self._target(dim), self._vectors, self._tuning_queries(may_load=True),
                                          self._save_guard)
        return self._index

    def _tuning_queries(self, may_load: bool) -> sync.TextQueries:
        """Text prompts encoded by the library's model: what an approximate index is tuned to answer well.
        None (tune with clip-like queries only) when that model cannot be loaded here; deferred when the
        model is not loaded and `may_load` is false."""

        def encode():
            if self._model is None and not may_load:
                raise sync.TuningDeferred()
            if self.built_with[0] not in (None, self.settings.model_id):
                return None
            try:
                return self.model.embed_text(EVERYDAY_PROMPTS)
            except VsearchError as exc:
                log.warning("tuning the index without text prompts: %s", exc)
                return None

        return encode

    def refresh(self) -> int:
        """Take in what another process committed (an ingest running beside a server); returns how many
        clips were added to the index.

        New clips have ids above every id the index holds (ids only grow), so this is one range query
        on the primary key. Deleted clips need nothing here: search drops ids the database lacks. The
        recorded model is read again only when it can have changed: while none is recorded, or when new
        clips came (a re-embedding with another model brings new clips).
        """
        if self._index is None:
            self._built_with = self._read_built_with()
            return 0
        added = 0
        with self.store.session() as session:
            for ids, vectors in repo.iter_embeddings(session, after=self._index.max_id):
                self._index.add(ids, vectors)
                added += len(ids)
        if added or self._built_with[0] is None:
            self._built_with = self._read_built_with()
        return added

    def save_index(self) -> None:
        """Save the index if it is loaded; rebuilt first where the index policy asks (an approximate rebuild
        only with the model already loaded: otherwise it waits for the next query)."""
        if self._index is not None:
            self._index = sync.save(self._target(), self._index, self._vectors, self._tuning_queries(may_load=False))

    def reindex(self, *, wait: bool = True, on_wait=None) -> ClipIndex:
        with self.writing("reindex", wait=wait, on_wait=on_wait):
            self._index = sync.rebuild(self._target(), self._vectors, self._tuning_queries(may_load=True))
        return self._index

    # -- prompt features -------------------------------------------------------------------
    def features(self, tokens: int | None = None, dim: int | None = None) -> FeatureStore | None:
        """The prompt feature store; None when turned off, or when absent and no shape is given to make one."""
        if not self.settings.prompt_features:
            return None
        if self._features is None:
            self._features = FeatureStore.open(self.settings.features_path)
            if self._features is None and tokens and dim:
                self._features = FeatureStore(self.settings.features_path, tokens, dim)
        return self._features

    def videos_lacking_features(self) -> list:
        """Indexed videos whose clips' prompt features are missing (the feature file was truncated or
        deleted): an ingest embeds them again. Empty when features are turned off."""
        if not self.settings.prompt_features:
            return []
        store = FeatureStore.open(self.settings.features_path)
        if store is None:  # never kept (ingested without them): --reembed is the way to add them
            return []
        with self.store.session() as session:
            return repo.videos_with_clips_from(session, store.records_on_disk())

    def drop_derived(self, clip_ids) -> None:
        """Deleted clips leave the FAISS index, the feature store and the media cache (the database is
        already updated). Never loads the model: an index that would need it to be rebuilt is left
        stale on disk, and rebuilt by the next query."""
        if not clip_ids:
            return
        if self._index is None and self.built_with[1] is not None:
            self._index = sync.open_index(self._target(), self._vectors, self._tuning_queries(may_load=False),
                                          self._save_guard)
        if self._index is not None:
            self._index.remove(clip_ids)
        store = self.features()
        if store is not None:
            store.discard(clip_ids)
        for clip_id in clip_ids:
            thumbnail_path(self.settings.data_dir, int(clip_id)).unlink(missing_ok=True)
            preview_path(self.settings.data_dir, int(clip_id)).unlink(missing_ok=True)

    def forget_everything(self) -> None:
        """Drop every video, clip and the recorded model (before re-embedding with another model)."""
        with self.store.begin() as session:
            for video in repo.all_videos(session):
                repo.delete_video(session, video)
            repo.delete_meta(session, repo.MODEL_KEY)
            repo.delete_meta(session, repo.DIM_KEY)
        self._built_with = (None, None)
        self.index_path.unlink(missing_ok=True)
        self._index = None
        for media in ("thumbnails", "previews"):  # made from clips that no longer exist
            shutil.rmtree(self.settings.data_dir / media, ignore_errors=True)
        store = FeatureStore.open(self.settings.features_path)
        if store is not None:
            store.clear()
        self._features = None

    def index_record(self) -> files.IndexRecord | None:
        """What the saved index's sidecar says, without opening the index."""
        return files.read_record(self.index_path)

    def close(self) -> None:
        self.writer.release()
        self.store.close()
