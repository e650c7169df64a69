"""Ingest on a Ray cluster: decode tasks on the cluster's CPUs, the model in a pool of Ray actors.

The same stages as a local ingest (vsearch.ingest.distributors): discovery, change detection, assembly
and writing stay in the process that runs the command; only decoding and embedding move out.
- Decoding: one streaming Ray task per file (`_decode_file`, which runs `produce_clips` as a local decode
  worker does). At most as many run as the cluster has CPUs left over by the actors, and each holds at
  most a few unread chunks (Ray's generator backpressure): memory stays flat however large the library.
- Embedding: `EmbedActor`s, each holding the model: one per GPU, or `ray_actor_cpus` CPUs each on nodes
  without one. Batches, made across videos, go to the least loaded actor, at most two in flight each.
- Faults: a file whose node is lost (its raylet gone) starts over elsewhere, up to `ray_decode_retries`
  times; one whose worker process crashed (a decoder in native code) is tried with the other decoder, as
  locally. What it had sent is dropped (VideoReset), so no clip is written twice. Actors restart on a live
  node and Ray runs their lost batches again. A file a node cannot read fails with that node's name.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vsearch.errors import VsearchError, first_line
from vsearch.ingest.assemble import ClipKey
from vsearch.ingest.ray_decode import RayDecoder
from vsearch.media.clips import ClipJob

if TYPE_CHECKING:
    from vsearch.config import Settings

log = logging.getLogger(__name__)

ACTOR_START_SECONDS = 600.0  # a model load from a slow shared disk, and a GPU node's start, take minutes
BATCHES_PER_ACTOR = 2  # one embedding, one waiting: an actor never idles between batches


class RayIngestError(VsearchError):
    pass


def _normal_priority() -> None:
    """Ray starts its workers at a low priority (niceness 15), barely above the decode tasks (19): the model
    then loses cores to decoding on a shared node. Back to normal where this process may (CAP_SYS_NICE)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except (AttributeError, OSError):
        pass


class EmbedActor:
    """A Ray actor holding the model: (n, T, h, w, 3) uint8 frames in, vectors and prompt features out."""

    def __init__(self, settings: Settings, threads: int | None):
        from vsearch.runtime import configure_process

        # this process runs the model as an ingest's does (allocator, OpenMP; before torch loads)
        settings = configure_process(settings, ingest=True)
        _normal_priority()
        import ray
        import torch

        from vsearch.model.xclip import XClip

        if threads:
            torch.set_num_threads(threads)
        device = settings.device
        if device == "auto":
            device = "cuda" if ray.get_gpu_ids() else "cpu"
        self.model = XClip.load(settings.model, settings.model_id, device, settings.precision,
                                cpu_linear=settings.cpu_linear)

    def ready(self) -> str:
        """The actor's node, once its model is loaded."""
        return f"{socket.gethostname()} ({self.model.device})"

    def embed(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        from vsearch.model.preprocess import normalize

        started = time.perf_counter()
        embedded = self.model.embed_clips(normalize(frames, self.model.spec))
        # prompt features as the library stores them (float16): half the bytes through the object store
        features = embedded.prompt_features.astype(np.float16)
        return embedded.vectors, features, time.perf_counter() - started


class RayEmbedder:
    """Batches to a pool of EmbedActors; results come back as they finish."""

    def __init__(self, actors: list, timings: dict[str, float]):
        self.actors = actors
        self.timings = timings
        self.load = [0] * len(actors)
        self.in_flight: dict[object, tuple[list[ClipKey], int]] = {}
        self._done: list[tuple[list[ClipKey], np.ndarray, np.ndarray]] = []

    def submit(self, keys: list[ClipKey], frames: np.ndarray) -> None:
        while len(self.in_flight) >= BATCHES_PER_ACTOR * len(self.actors):
            self._take(block=True)
        actor = min(range(len(self.actors)), key=self.load.__getitem__)
        self.in_flight[self.actors[actor].embed.remote(frames)] = (keys, actor)
        self.load[actor] += 1

    def _take(self, block: bool) -> None:
        import ray

        if not self.in_flight:
            return
        refs = list(self.in_flight)
        ready, _ = ray.wait(refs, num_returns=1 if block else len(refs), timeout=None if block else 0)
        for ref in ready:
            keys, actor = self.in_flight.pop(ref)
            self.load[actor] -= 1
            try:
                vectors, features, seconds = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise RayIngestError(f"an embedding actor failed: {first_line(exc)}") from exc
            self.timings["embed"] += seconds
            self._done.append((keys, vectors, features))

    def results(self, wait: bool) -> list[tuple[list[ClipKey], np.ndarray, np.ndarray]]:
        self._take(block=wait and not self._done)
        done, self._done = self._done, []
        return done

    @property
    def busy(self) -> bool:
        return bool(self.in_flight)


class RayDistributor:
    """Decode tasks and embedding actors on a Ray cluster (see the module)."""

    name = "ray"

    def __init__(self, settings: Settings, model, job: ClipJob):
        self.settings, self.model, self.job = settings, model, job
        self._started_ray = False
        self._actors: list = []
        self._slots = 1

    def __enter__(self) -> RayDistributor:
        self._started_ray = connect(self.settings.ray_address, self.settings.ray_actor_cpus)
        try:
            self._check_database()
            self._start_actors()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def _check_database(self) -> None:
        """SQLite lives on this machine: only a cluster of this machine alone may ingest into it."""
        import ray

        if not self.settings.database_url.startswith("sqlite"):
            return
        here = ray.util.get_node_ip_address()
        elsewhere = sorted({n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]} - {here})
        if elsewhere:
            raise RayIngestError(
                f"this library's database is SQLite, which only this machine can reach, but the Ray cluster has "
                f"nodes on {', '.join(elsewhere)}. Put the library in Postgres (VSEARCH_DB_URL="
                "postgresql+psycopg://user@host/db) for a cluster of several machines, or use --ray local.")

    def _start_actors(self) -> None:
        import ray

        settings = self.settings
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if settings.device != "cpu" else 0
        nodes = [n for n in ray.nodes() if n["Alive"]]
        count = settings.ray_actors or gpus or len(nodes)
        if gpus:
            options = {"num_gpus": 1, "num_cpus": 1}
            threads = None
        else:
            options = {"num_cpus": settings.ray_actor_cpus}
            threads = settings.ray_actor_cpus
        if settings.ray_actor_resources:
            options["resources"] = dict(settings.ray_actor_resources)
        used = count * options["num_cpus"]
        self._slots = int(resources.get("CPU", 0) - used)
        if settings.ray_decode_tasks:
            self._slots = min(self._slots, settings.ray_decode_tasks)
        if self._slots < 1:
            raise RayIngestError(
                f"the {count} embedding actor(s) take all {resources.get('CPU', 0):g} CPU(s) of the Ray cluster: "
                "none is left to decode on. Lower VSEARCH_RAY_ACTORS or VSEARCH_RAY_ACTOR_CPUS, or add CPU nodes.")
        actor = ray.remote(EmbedActor).options(max_restarts=-1, max_task_retries=-1, **options)
        self._actors = [actor.remote(settings, threads) for _ in range(count)]
        # every model loaded before decoding starts: a checkpoint a node cannot load, or actors the cluster
        # has no room for, stop the run here with the reason, not after the whole library was decoded
        waiting = {actor.ready.remote(): actor for actor in self._actors}
        ready, late = ray.wait(list(waiting), num_returns=len(waiting), timeout=ACTOR_START_SECONDS)
        if late:
            raise RayIngestError(
                f"{len(late)} of {count} embedding actor(s) did not start within {ACTOR_START_SECONDS:.0f} s: the "
                f"cluster has {resources.get('CPU', 0):g} CPU(s) and {gpus} GPU(s) and each actor asks for "
                f"{options}. Lower VSEARCH_RAY_ACTORS or VSEARCH_RAY_ACTOR_CPUS, or add nodes.")
        try:
            ray.get(ready)
        except ray.exceptions.RayError as exc:
            raise RayIngestError(f"an embedding actor could not load the model: {first_line(exc)}") from exc
        log.info("Ray: %d node(s), %d embedding actor(s) (%s), %d decode task(s) at a time", len(nodes), count,
                 f"{gpus} GPU(s)" if gpus else f"{settings.ray_actor_cpus} CPU(s) each", self._slots)

    def embedder(self, timings: dict[str, float]) -> RayEmbedder:
        return RayEmbedder(self._actors, timings)

    def decode(self, items: list[tuple[int, Path]]) -> Iterator[object]:
        return RayDecoder(self.job, self._slots, self.settings).run(items)


def connect(address: str, actor_cpus: int = 1) -> bool:
    """Join the cluster at `address` ("auto": the one running on this machine) or, for "local", start one
    here, on the loopback interface; returns whether this call started Ray (and should shut it down).

    A local cluster counts the machine's cores plus the actor's CPUs: the model's threads share the cores
    with the decode tasks, as a local ingest's model shares them with its decode workers (which, here as
    there, run at the lowest priority)."""
    if address == "local" and "ray" not in sys.modules:
        # a cluster of this machine alone listens on the loopback interface only: Ray takes the machine's
        # network address, even when asked for 127.0.0.1, unless it believes it has no network (this setting,
        # read when Ray loads and inherited by the processes it starts)
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise RayIngestError("--ray needs Ray: pip install 'vsearch[ray]'") from exc

    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}  # failures come back as messages
    try:
        if address == "local":
            ray.init(address="local", include_dashboard=False, num_cpus=(os.cpu_count() or 1) + actor_cpus, **quiet)
        else:
            ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayIngestError(f"could not join the Ray cluster at '{address}': {first_line(exc)}. Start one "
                             "with `ray start --head`, or use --ray local for a cluster of this machine alone.") from exc
    return True
