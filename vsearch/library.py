"""The library: one object holding a data dir's store, its FAISS index and (lazily) the model."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from vsearch.config import Settings
from vsearch.errors import ModelMismatchError, VsearchError
from vsearch.index.faiss_index import ClipIndex, load_index, read_sidecar, rebuild_index, spec_for
from vsearch.index.features import FeatureStore
from vsearch.preview import preview_path
from vsearch.store import repo
from vsearch.store.db import open_store
from vsearch.thumbnails import thumbnail_path

log = logging.getLogger(__name__)

# Everyday descriptions of video moments, the kind of text an approximate index must answer well.
TUNING_PROMPTS = [
    "a person walking", "people talking", "a dog running", "a cat sleeping", "a car driving on a road",
    "cars at night", "a city street", "a crowd of people", "children playing", "a birthday party",
    "someone cooking in a kitchen", "eating spaghetti", "a man playing guitar", "a woman dancing",
    "a football match", "a basketball game", "swimming in a pool", "waves on a beach", "snow falling",
    "a mountain landscape", "a forest", "a sunset", "fireworks", "rain on a window", "a bird flying",
    "a horse", "riding a bicycle", "a train", "an airplane taking off", "a boat on the water",
    "a computer screen", "typing on a keyboard", "a presentation on stage", "a classroom", "an office",
    "a cartoon", "a title card", "a close-up of a face", "hands holding a phone", "a baby laughing",
    "a wedding", "a concert", "a street market", "a construction site", "a garden with flowers",
    "a drone shot of a city", "a skateboarder", "an empty room",
]


class Library:
    """Opened from settings; the CLI and the API call the core through it."""

    def __init__(self, settings: Settings, model=None):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.sessions = open_store(settings.database_url)
        self._model = model
        self._index: ClipIndex | None = None
        self._features: FeatureStore | None = None

    # -- model -----------------------------------------------------------------------------
    @property
    def built_with(self) -> tuple[str | None, int | None]:
        """(model id, embedding size) recorded by the first ingest, or (None, None) for a new library."""
        with self.sessions() as session:
            model = repo.get_meta(session, repo.MODEL_KEY)
            dim = repo.get_meta(session, repo.DIM_KEY)
        return model, int(dim) if dim else None

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
                self.settings.model, self.settings.model_id, self.settings.device, self.settings.precision
            )
        return self._model

    def record_model(self, model_id: str, dim: int) -> None:
        with self.sessions.begin() as session:
            repo.set_meta(session, repo.MODEL_KEY, model_id)
            repo.set_meta(session, repo.DIM_KEY, str(dim))

    # -- index -----------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.settings.index_path

    def index(self, dim: int | None = None) -> ClipIndex:
        """The FAISS index, loaded once; rebuilt from the store if its file is missing or stale."""
        if self._index is None:
            model, recorded_dim = self.built_with
            dim = dim or recorded_dim
            if dim is None:
                raise ValueError("the library has no embeddings yet")
            self._index = load_index(self.index_path, self.sessions, model or "", dim, self.settings.index_threshold,
                                     self._tuning_queries, self.settings.approximate_index)
        return self._index

    def _tuning_queries(self):
        """Text prompts encoded by the library's model: what an approximate index is tuned to answer well.
        None (tune with clip-like queries only) when that model cannot be loaded here."""
        if self.built_with[0] not in (None, self.settings.model_id):
            return None
        try:
            return self.model.embed_text(TUNING_PROMPTS)
        except VsearchError as exc:
            log.warning("tuning the index without text prompts: %s", exc)
            return None

    def refresh(self) -> int:
        """Take in clips committed by another process (an ingest running beside a server); returns how many.

        New clips have ids above every id the index holds (ids only grow), so this is one range query
        on the primary key. Deleted clips need nothing here: search drops ids the database lacks.
        """
        if self._index is None:
            return 0
        added = 0
        with self.sessions() as session:
            for ids, vectors in repo.iter_embeddings(session, after=self._index.max_id):
                self._index.add(ids, vectors)
                added += len(ids)
        return added

    def save_index(self) -> None:
        """Save the index; rebuild it first when the library crossed the size threshold, has many deletions
        or has outgrown its IVF lists."""
        if self._index is None:
            return
        model, _ = self.built_with
        with self.sessions() as session:
            current = repo.fingerprint(session)
        wanted = spec_for(current.count, self.settings.index_threshold, self.settings.approximate_index)
        index = self._index
        if wanted.kind != index.spec.chosen_kind or index.stale_fraction > 0.1 or index.outgrown(current.count):
            self.reindex()
            return
        index.save(self.index_path, model or "", current)

    def reindex(self) -> ClipIndex:
        model, dim = self.built_with
        if dim is None:
            raise ValueError("the library has no embeddings yet")
        self._index = rebuild_index(self.index_path, self.sessions, model or "", dim, self.settings.index_threshold,
                                    self._tuning_queries, self.settings.approximate_index)
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

    def drop_derived(self, clip_ids) -> None:
        """Deleted clips leave the FAISS index, the feature store and the media cache (the database is
        already updated)."""
        if not clip_ids:
            return
        if self.built_with[1] is not None:
            self.index().remove(clip_ids)
        store = self.features()
        if store is not None:
            store.discard(clip_ids)
        for clip_id in clip_ids:
            thumbnail_path(self.settings.data_dir, int(clip_id)).unlink(missing_ok=True)
            preview_path(self.settings.data_dir, int(clip_id)).unlink(missing_ok=True)

    def forget_everything(self) -> None:
        """Drop every video, clip and the recorded model (before re-embedding with another model)."""
        with self.sessions.begin() as session:
            for video in repo.all_videos(session):
                repo.delete_video(session, video)
            repo.delete_meta(session, repo.MODEL_KEY)
            repo.delete_meta(session, repo.DIM_KEY)
        self.index_path.unlink(missing_ok=True)
        self._index = None
        for media in ("thumbnails", "previews"):  # made from clips that no longer exist
            shutil.rmtree(self.settings.data_dir / media, ignore_errors=True)
        store = FeatureStore.open(self.settings.features_path)
        if store is not None:
            store.clear()
        self._features = None

    def index_info(self) -> dict | None:
        return read_sidecar(self.index_path)

    def close(self) -> None:
        self.sessions.kw["bind"].dispose()
