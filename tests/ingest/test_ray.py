"""Ingest on a real Ray cluster of two nodes on this machine (loopback only), into a real database.

The cluster (a head and a second node, `ray.cluster_utils.Cluster`) is started once for the module and
stopped after it, leaving no Ray process behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import POSTGRES_URL, _new_database, _settings
from tests.videos import BAD, GOOD
from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.media.synthetic import encode
from vsearch.media.thumbnails import thumbnail_path
from vsearch.store import repo
from vsearch.store.models import VideoPrints

ray = pytest.importorskip("ray")
VIDEOS = 10
BACKENDS = ["postgres"] if POSTGRES_URL else ["sqlite"]


def _raylets() -> int:
    found = subprocess.run(["pgrep", "-f", "ray/core/src/ray/raylet"], capture_output=True, text=True)
    return len(found.stdout.split())


@pytest.fixture(scope="module")
def cluster():
    """A head (3 CPUs, room for 2 embedding actors) and a second node (2 CPUs), both on 127.0.0.1; the test
    process is not connected."""
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    # Ray resolves 127.0.0.1 to the machine's primary address unless it believes it runs without a network
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, "0")
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        before = _raylets()
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 3, "resources": {"embedder": 2}, "node_ip_address": "127.0.0.1", "include_dashboard": False})
        try:
            cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")
            cluster.wait_for_nodes()
            yield cluster
        finally:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()
        assert _raylets() == before


def _library(folder: Path, url: str, checkpoint: Path, **changes) -> Library:
    return Library(_settings(folder / "data", url, checkpoint).model_copy(update=changes))


def _contents(library: Library) -> dict[str, dict]:
    """Everything the library keeps of each video, by path: facts, clips, vectors, features, thumbnails, prints."""
    out = {}
    with library.store.session() as session:
        for video in repo.all_videos(session):
            ids = repo.clip_ids_of(session, video.id)
            clips = sorted(((c.ordinal, c) for c, _ in repo.clips_with_videos(session, ids).values()),
                           key=lambda item: item[0])
            prints = session.get(VideoPrints, video.id)
            features = library.features()
            out[video.path] = {
                "facts": (video.status, video.duration, video.width, video.height, video.fps, video.codec,
                          video.decoder, video.num_clips, video.timing, video.recorded_at),
                "spans": [(o, c.start_time, c.end_time, list(c.frame_indices), c.blank) for o, c in clips],
                "vectors": np.stack([np.frombuffer(c.embedding, np.float32) for _, c in clips]) if clips else None,
                "features": features.read([c.id for _, c in clips])[0] if clips and features else None,
                "thumbnails": [thumbnail_path(library.settings.data_dir, c.id).read_bytes() for _, c in clips],
                "prints": (prints.sampled, prints.times, prints.prints) if prints else None,
            }
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_ray_ingest_writes_the_library_a_local_ingest_writes(cluster, backend, tmp_path, checkpoint, library_folder):
    with _new_database(backend, tmp_path / "local") as local_url, _new_database(backend, tmp_path / "ray") as ray_url:
        local = _library(tmp_path / "local", local_url, checkpoint)
        on_ray = _library(tmp_path / "ray", ray_url, checkpoint, ray_address=cluster.address, ray_actors=2)
        try:
            expected = ingest(local, [library_folder])
            summary = ingest(on_ray, [library_folder])
            assert sorted(summary.indexed) == sorted(expected.indexed) and len(summary.indexed) == len(GOOD)
            assert summary.clips == expected.clips
            assert sorted(p for p, _ in summary.failed) == sorted(p for p, _ in expected.failed)
            assert len(summary.failed) == len(BAD)
            # a file that fails says which node tried it
            assert all("(on node " in reason for _, reason in summary.failed if "empty" not in reason), summary.failed
            want, got = _contents(local), _contents(on_ray)
            assert sorted(got) == sorted(want)
            for path in want:
                for key in ("facts", "spans", "thumbnails"):
                    assert got[path][key] == want[path][key], (path, key)
                if want[path]["vectors"] is not None:
                    np.testing.assert_allclose(got[path]["vectors"], want[path]["vectors"], atol=1e-5)
                    np.testing.assert_allclose(got[path]["features"].astype(np.float32),
                                               want[path]["features"].astype(np.float32), atol=2e-3)
                    assert got[path]["prints"][0] == want[path]["prints"][0]
                    assert got[path]["prints"][1:] == want[path]["prints"][1:]
            assert len(on_ray.index()) == len(local.index()) == summary.clips

            # incremental: nothing changed, nothing done; --reembed: everything again, same library
            again = ingest(on_ray, [library_folder])
            assert again.indexed == [] and again.unchanged == len(GOOD) and again.clips == 0
            redone = ingest(on_ray, [library_folder], reembed=True)
            assert sorted(redone.indexed) == sorted(expected.indexed) and redone.clips == expected.clips
        finally:
            local.close()
            on_ray.close()


@pytest.mark.skipif(not POSTGRES_URL, reason="a library shared by a cluster lives in Postgres")
def test_a_node_lost_mid_ingest_costs_time_not_clips(cluster, tmp_path, checkpoint, caplog):
    folder = tmp_path / "media"
    for i in range(VIDEOS):  # long enough that decoding is under way on both nodes when one goes
        encode(folder / f"v{i:02d}.mp4", seconds=30.0 + i, hue=i % 8, fps=25)
    node = next(iter(cluster.worker_nodes))
    removed = threading.Event()

    class RemoveNodeAfterFirstVideo:
        def start(self, total):
            pass

        def update(self, summary):
            if not removed.is_set():
                removed.set()
                cluster.remove_node(node)  # its raylet killed: its decode task and its actor are lost

        def close(self):
            pass

    with _new_database("postgres", tmp_path) as url:
        # the actors on the head: with 3 files decoding and 1 CPU left there, 2 or more are on the lost node
        library = _library(tmp_path, url, checkpoint, ray_address=cluster.address, ray_actors=2,
                           ray_actor_resources={"embedder": 1})
        try:
            summary = ingest(library, [folder], progress=RemoveNodeAfterFirstVideo())
            assert removed.is_set()
            assert "its decode task was lost" in caplog.text  # the node had files under way: they started over
            assert summary.failed == [] and len(summary.indexed) == VIDEOS
            with library.store.session() as session:
                videos = repo.all_videos(session)
                assert len(videos) == VIDEOS and all(v.status == "indexed" for v in videos)
                for video in videos:
                    ordinals = [c.ordinal for c, _ in repo.clips_with_videos(
                        session, repo.clip_ids_of(session, video.id)).values()]
                    assert sorted(ordinals) == list(range(video.num_clips)), video.path  # none lost, none twice
                clips = repo.counts(session).clips
            assert clips == summary.clips and len(library.index()) == clips
        finally:
            library.close()
            cluster.add_node(num_cpus=2, node_ip_address="127.0.0.1")  # for any test after this one
            cluster.wait_for_nodes()


def test_cli_ingest_joins_a_cluster_and_reports_as_json(cluster, tmp_path, checkpoint, video_files):
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(video_files["h264"], folder / "a.mp4")
    shutil.copy(video_files["truncated"], folder / "broken.mp4")
    env = {**os.environ, "VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint),
           "VSEARCH_DEVICE": "cpu", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(folder), "--ray", cluster.address, "--json",
                           "-q"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr  # one file failed
    import json

    report = json.loads(done.stdout)
    assert report["indexed"] == [str(folder / "a.mp4")] and report["clips"] == 3
    assert report["failed"][0]["path"] == str(folder / "broken.mp4") and "(on node " in report["failed"][0]["reason"]


def test_a_sqlite_library_refuses_a_cluster_of_other_machines(monkeypatch, tmp_path, checkpoint):
    """Isolated from a real second machine: the cluster's node list says one is elsewhere."""
    from vsearch.ingest.ray_run import RayDistributor, RayIngestError

    settings = _settings(tmp_path / "data", f"sqlite:///{tmp_path / 'v.db'}", checkpoint)
    monkeypatch.setattr(ray.util, "get_node_ip_address", lambda: "10.0.0.1")
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True, "NodeManagerAddress": "10.0.0.1"},
                                               {"Alive": True, "NodeManagerAddress": "10.0.0.2"}])
    with pytest.raises(RayIngestError, match="SQLite.*10.0.0.2.*Postgres"):
        RayDistributor(settings, None, None)._check_database()


@pytest.mark.skipif(not POSTGRES_URL, reason="a library shared by a cluster lives in Postgres")
def test_a_killed_ray_ingest_keeps_what_it_committed_and_the_next_run_finishes(cluster, tmp_path, checkpoint):
    import signal
    import time

    folder = tmp_path / "media"
    for i in range(VIDEOS):
        encode(folder / f"v{i:02d}.mp4", seconds=30.0 + i, hue=i % 8, fps=25)
    with _new_database("postgres", tmp_path) as url:
        env = {**os.environ, "VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint),
               "VSEARCH_DEVICE": "cpu", "VSEARCH_DB_URL": url, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
        process = subprocess.Popen([sys.executable, "-m", "vsearch", "ingest", str(folder), "--ray", cluster.address,
                                    "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        library = _library(tmp_path, url, checkpoint, ray_address=cluster.address, ray_actors=2)
        try:
            deadline = time.monotonic() + 300
            committed = 0
            while committed == 0 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                with library.store.session() as session:
                    committed = sum(v.status == "indexed" for v in repo.all_videos(session))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            assert 0 < committed < VIDEOS, process.stderr.read().decode()
            with library.store.session() as session:
                kept = {v.path for v in repo.all_videos(session) if v.status == "indexed"}
            summary = ingest(library, [folder])
            assert summary.failed == [] and summary.unchanged >= len(kept)
            assert sorted(summary.indexed + list(kept)) == sorted(str(p) for p in folder.iterdir())
            with library.store.session() as session:
                for video in repo.all_videos(session):
                    ordinals = [c.ordinal for c, _ in repo.clips_with_videos(
                        session, repo.clip_ids_of(session, video.id)).values()]
                    assert sorted(ordinals) == list(range(video.num_clips)), video.path
        finally:
            library.close()


def test_ray_alone_starts_a_cluster_of_this_machine_on_loopback(tmp_path, checkpoint, video_files):
    """`--ray` with no address (the paths may follow it) starts a cluster of its own, on 127.0.0.1 only,
    and stops it after."""
    import json

    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(video_files["vp9"], folder / "a.webm")
    shutil.copy(video_files["text"], folder / "notes.mp4")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(VSEARCH_DATA_DIR=str(tmp_path / "data"), VSEARCH_MODEL=str(checkpoint), VSEARCH_DEVICE="cpu")
    before = _raylets()
    done = subprocess.run([sys.executable, "-m", "vsearch", "ingest", "--ray", str(folder), "--json", "-q"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["indexed"] == [str(folder / "a.webm")] and report["timings"]["start"] > 0
    assert report["failed"][0]["reason"].endswith("(127.0.0.1))")  # the node's address: loopback
    assert _raylets() == before
