"""Settings: one object, read from VSEARCH_* environment variables and overridden by CLI flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "microsoft/xclip-base-patch32"


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("vsearch", appauthor=False))


class Settings(BaseSettings):
    """Everything vsearch can be configured with. Each field `foo` is `VSEARCH_FOO` in the environment."""

    model_config = SettingsConfigDict(env_prefix="VSEARCH_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    db_url: str | None = None
    model: str = DEFAULT_MODEL
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    clip_seconds: float = Field(default=4.0, gt=0)
    stride_seconds: float | None = Field(default=None, gt=0)
    batch_size: int = Field(default=8, ge=1)
    workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=0)
    # let the decoder scale frames down to twice the model's input before the exact PIL resize: decoding
    # 1080p is about 1.5x faster; embeddings within cosine 0.99997 of full-resolution frames (measured)
    decoder_prescale: bool = True
    # keep each clip's prompt features for exact X-CLIP ranking (about 50 KB a clip for base-patch32)
    prompt_features: bool = True
    # stage 1 fetches k x overfetch candidates for the exact rerank; see bench/overfetch.py
    overfetch: int = Field(default=50, ge=1)  # from bench/overfetch.py: see README, Ranking
    # a moment's clips score at most this many of the query's score spreads (standard deviations of its
    # candidates' exact scores) below the moment's best clip; see vsearch.moments and README, Moments
    moment_tolerance: float = Field(default=0.5, ge=0)
    # results whose relevance (in [0, 1], the same scale for every query; see vsearch.relevance and README,
    # Relevance) is below this are dropped; none left: "no good match". 0 keeps everything. None: a fine-tuned
    # checkpoint's calibrated cut-off, else 0.2 (vsearch.relevance.default_min_relevance)
    min_relevance: float | None = Field(default=None, ge=0, le=1)
    # a file of extra relevance bank prompts, one a line (descriptions of what the library holds)
    relevance_prompts: Path | None = None
    # the bank's everyday prompts (off for a checkpoint whose vocabulary cannot spell them)
    relevance_everyday: bool = True
    # the logit of relevance's "no description" competitor (vsearch.relevance); None: the checkpoint's own
    # (relevance_calibration.json, written by `vsearch finetune`), else no such competitor
    relevance_match_level: float | None = None
    # two frames show the same picture when their fingerprints' cosine reaches this (vsearch.duplicates;
    # bench/duplicates.py measures precision and recall around it)
    duplicate_threshold: float = Field(default=0.85, gt=0, le=1)
    # results from copies of a video already listed join its also_in (vsearch.duplicates.fold); false lists
    # every copy (`query --fold/--no-fold` and `fold=` choose per query)
    fold_copies: bool = True
    # the largest image or video POST /search accepts as a query, in bytes
    upload_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    # exact (flat) search below this many clips, an approximate index from here on; see bench/query.py
    index_threshold: int = Field(default=50_000, ge=1)
    # the approximate index: "ivf" (k-means inverted lists; holds its recall for text queries at 1M
    # clips) or "hnsw" (a graph; fast, but needs a very wide search for text queries past ~500k clips)
    approximate_index: Literal["ivf", "hnsw"] = "ivf"
    # -- process-wide settings, applied by vsearch.runtime.configure_process (CLI and server entry points)
    # fp32 linear layers on the CPU: oneDNN or the default BLAS (MKL); "auto": configure_process measures
    # which is faster here (a model given "auto" that was never resolved keeps the default BLAS)
    cpu_linear: Literal["auto", "onednn", "blas"] = "auto"
    # keep freed large blocks in the heap (no page faults on every inference call); the process keeps its peak
    keep_freed_memory: bool = True
    # OpenMP threads between operations: "auto" lets them sleep during ingest (the decoders need the cores)
    omp_wait_policy: Literal["auto", "passive", "active"] = "auto"
    # decode workers at the lowest scheduling priority, so decoding fills the time the model leaves
    decode_nice: bool = True
    # a decode worker that makes no progress on a file for this many seconds, plus so many per second of
    # video it decodes before its next message, is killed and the file tried with the other decoder
    # (vsearch.ingest.workers.DecodeBudget)
    decode_budget_seconds: float = Field(default=60.0, gt=0)
    decode_budget_per_video_second: float = Field(default=10.0, ge=0)
    # an ingest whose database server stops answering waits this long for it to come back, then stops
    db_retry_seconds: float = Field(default=120.0, ge=0)
    # ingest on a Ray cluster (vsearch.ingest.ray_run): "local" starts one on this machine, "auto" joins the
    # one running here, or a cluster's address (host:port); unset: decode workers on this machine
    ray_address: str | None = None
    # Ray embedding actors: None is one per GPU of the cluster, or one per node where it has none
    ray_actors: int | None = Field(default=None, ge=1)
    # CPUs a Ray actor takes on a node without GPUs (its model's threads)
    ray_actor_cpus: int = Field(default=1, ge=1)
    # custom Ray resources each actor asks for besides its CPUs or GPU, to place the models on chosen nodes
    # (JSON in VSEARCH_RAY_ACTOR_RESOURCES, e.g. {"embedder": 1} with `ray start --resources '{"embedder": 4}'`)
    ray_actor_resources: dict[str, float] = Field(default_factory=dict)
    # at most this many files decode at once on the cluster (None: as many as it has CPUs left by the actors);
    # the writer holds each one's clips until the whole video is embedded, so this bounds its memory
    ray_decode_tasks: int | None = Field(default=None, ge=1)
    # a decode task whose node is lost, or whose worker dies, is tried this many times more
    ray_decode_retries: int = Field(default=3, ge=0)
    # the HTTP server: origins allowed by CORS (JSON list in VSEARCH_CORS_ORIGINS)
    cors_origins: list[str] = Field(default_factory=list)
    # when set, every endpoint but /health requires it (Bearer header, or ?key= on media URLs)
    api_key: str | None = None

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _default_stride(self) -> "Settings":
        if self.stride_seconds is None:
            self.stride_seconds = self.clip_seconds
        return self

    @property
    def database_url(self) -> str:
        """The configured database, or a SQLite file in the data directory."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'vsearch.db'}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index.faiss"

    @property
    def features_path(self) -> Path:
        return self.data_dir / "prompt_features.f16"

    @property
    def model_id(self) -> str:
        """How the model is recorded in the library: a local directory by its absolute path."""
        local = Path(self.model).expanduser()
        if local.is_dir():
            return str(local.resolve())
        return self.model
