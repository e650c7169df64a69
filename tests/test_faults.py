"""Faults a real library meets, each met with one clear message, a consistent library and a next run that
finishes the job: a full disk, a Postgres server that stops and comes back, damaged or deleted index and
feature files, a read-only data dir. Real processes, real file systems, a real Postgres server."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.load import free_port, get_json, start_server, stop, wait_until_up
from tests.faults import ROOT, alive, child_pids, clip_rows, private_postgres, read_only_view, small_filesystem, vsearch
from vsearch.cli import EXIT_ERROR, EXIT_TERMINATED

TREE_FILES = ("h264", "vp9", "mjpeg", "short", "vfr")
COPIES = 4


@pytest.fixture(scope="module")
def tree(tmp_path_factory, video_files) -> Path:
    """A few kinds of video, several copies of each: an ingest long enough to interrupt."""
    root = tmp_path_factory.mktemp("tree")
    for copy in range(COPIES):
        for name in TREE_FILES:
            source = video_files[name]
            shutil.copy(source, root / f"{copy}-{name}{source.suffix}")
    return root


def _environment(data_dir: Path, checkpoint: Path, **extra) -> dict:
    return {**os.environ, "VSEARCH_DATA_DIR": str(data_dir), "VSEARCH_MODEL": str(checkpoint),
            "VSEARCH_WORKERS": "1", "VSEARCH_PRECISION": "fp32", "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture(scope="module")
def clean(tmp_path_factory, tree, checkpoint) -> tuple[list, int, Path]:
    """The library a clean ingest of the tree makes: its clips, the bytes its data dir takes, the data dir
    (tests that damage it work on a copy)."""
    data = tmp_path_factory.mktemp("clean") / "data"
    environment = _environment(data, checkpoint)
    code, _, err = vsearch(environment, "ingest", str(tree), "-q")
    assert code == 0, err
    size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    return clip_rows(environment, tree), size, data


def test_a_full_disk_stops_the_ingest_and_the_next_run_finishes(tmp_path, tree, clean, checkpoint):
    rows, size, _ = clean
    with small_filesystem(tmp_path / "small", size_kib=4 * size // 1024 + 2048) as data_dir:
        environment = _environment(data_dir / "data", checkpoint)
        first = next(tree.glob("0-short.*"))
        assert vsearch(environment, "ingest", str(first), "-q")[0] == 0  # a library, with room for about half
        filler = data_dir / "filler"
        free = os.statvfs(data_dir).f_bavail * os.statvfs(data_dir).f_frsize
        with open(filler, "wb") as handle:
            handle.write(b"\0" * (free - 2 * size))
        code, _, err = vsearch(environment, "ingest", str(tree), "-q")
        assert code == EXIT_ERROR
        assert err.strip().splitlines()[-1].startswith("error: no space left on the disk"), err
        code, _, err = vsearch(environment, "status")  # SQLite needs room for its shared memory even to read
        assert code == 0 or (code == EXIT_ERROR and err.startswith("error: no space left on the disk")), err

        filler.unlink()
        code, out, err = vsearch(environment, "status", "--json")
        assert code == 0, err
        indexed = json.loads(out)["videos"]["indexed"]
        assert 1 < indexed < len(TREE_FILES) * COPIES  # what was indexed before the disk filled stays
        code, _, err = vsearch(environment, "ingest", str(tree), "-q")
        assert code == 0, err
        assert clip_rows(environment, tree) == rows
        code, out, _ = vsearch(environment, "query", "a white square", "-k", "3", "--json")
        assert code == 0 and len(json.loads(out)["results"]) == 3


def _indexed_videos(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM videos WHERE status = 'indexed'")).scalar()
    except Exception:  # noqa: BLE001 - the schema is not there yet
        return 0
    finally:
        engine.dispose()


def _start_ingest(environment: dict, tree: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vsearch", "ingest", str(tree), "-q"], env=environment, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _when_some_are_indexed(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while _indexed_videos(url) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the ingest ended before the fault"
        time.sleep(0.1)


def _ingest_until_the_server_stops(server, data_dir: Path, checkpoint, tree: Path, retry_seconds: str):
    """An ingest into `server`, which is stopped once some videos are indexed: (environment, ingest)."""
    environment = _environment(data_dir, checkpoint, VSEARCH_DB_URL=server.url, VSEARCH_DB_RETRY_SECONDS=retry_seconds)
    ingest = _start_ingest(environment, tree)
    _when_some_are_indexed(server.url, ingest)
    server.stop()
    return environment, ingest


def test_postgres_stops_in_the_middle_and_comes_back(tmp_path, tree, clean, checkpoint):
    with private_postgres() as server:
        environment, ingest = _ingest_until_the_server_stops(server, tmp_path / "data", checkpoint, tree, "120")
        time.sleep(3)
        server.start()
        _, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 0 and "Traceback" not in err, err
        assert "the database stopped answering" in err and "the database is back" in err
        assert clip_rows(environment, tree) == clean[0]


def test_postgres_gone_for_good_ends_the_ingest_and_the_next_run_finishes(tmp_path, tree, clean, checkpoint):
    with private_postgres() as server:
        environment, ingest = _ingest_until_the_server_stops(server, tmp_path / "data", checkpoint, tree, "2")
        _, err = ingest.communicate(timeout=600)
        assert ingest.returncode == EXIT_ERROR and "Traceback" not in err, err
        assert err.strip().splitlines()[-1].startswith("error: cannot reach the database")
        server.start()
        code, _, err = vsearch(environment, "ingest", str(tree), "-q")
        assert code == 0, err
        assert clip_rows(environment, tree) == clean[0]


@pytest.mark.parametrize("damage", ["index truncated", "index deleted", "sidecar truncated", "sidecar deleted",
                                    "features truncated", "features deleted"])
def test_damaged_or_deleted_files_are_rebuilt(tmp_path, tree, clean, checkpoint, damage):
    shutil.copytree(clean[2], tmp_path / "data")
    environment = _environment(tmp_path / "data", checkpoint)
    code, out, _ = vsearch(environment, "query", "a white square", "-k", "5", "--json")
    before = json.loads(out)
    data = tmp_path / "data"
    target = {"index": data / "index.faiss", "sidecar": data / "index.json",
              "features": data / "prompt_features.f16"}[damage.split()[0]]
    if damage.endswith("deleted"):
        target.unlink()
    else:
        with open(target, "r+b") as handle:
            handle.truncate(target.stat().st_size // 2)

    code, out, err = vsearch(environment, "query", "a white square", "-k", "5", "--json")
    assert code == 0, err
    after = json.loads(out)
    assert [r["clip_id"] for r in after["results"]] != [] and after["ranking"] in ("xclip", "embedding-cosine")
    if damage.startswith("features"):  # told, ranked by cosine where features are missing, mended by ingest
        assert after.get("notice") and "vsearch ingest" in after["notice"]
        code, _, err = vsearch(environment, "ingest", str(tree), "-q")
        assert code == 0, err
        code, out, _ = vsearch(environment, "query", "a white square", "-k", "5", "--json")
        after = json.loads(out)
        assert not after.get("notice")
    assert [r["clip_id"] for r in after["results"]] == [r["clip_id"] for r in before["results"]] or \
        damage.startswith("features")
    assert [round(r["score"], 4) for r in after["results"]] == [round(r["score"], 4) for r in before["results"]]
    assert clip_rows(environment, tree) == clean[0]


def test_a_read_only_library_answers_queries_and_refuses_writes_in_one_line(tmp_path, library_folder, checkpoint):
    environment = _environment(tmp_path / "data", checkpoint)
    assert vsearch(environment, "ingest", str(library_folder), "-q")[0] == 1  # the test library has bad files
    with read_only_view(tmp_path / "data", tmp_path / "read-only") as view:
        environment = _environment(view, checkpoint)
        code, out, err = vsearch(environment, "query", "a white square", "-k", "3", "--json")
        assert code == 0, err
        assert len(json.loads(out)["results"]) == 3
        code, out, err = vsearch(environment, "status", "--json")
        assert code == 0, err
        for command in (["ingest", str(library_folder)], ["prune"], ["reindex"]):
            code, _, err = vsearch(environment, *command)
            assert code == EXIT_ERROR
            assert "read-only" in err and len(err.strip().splitlines()) == 1, err

        port, log = free_port(), tmp_path / "serve.log"
        server = start_server(environment, port, log)
        try:
            wait_until_up(server, port, log)
            page = get_json(port, "/search", {"q": "a white square", "k": 3})
            assert len(page["results"]) == 3
            for result in page["results"]:  # thumbnails were cached by the ingest; previews are made on the fly
                for url in (result["thumbnail_url"], result["preview_url"]):
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{url}", timeout=120) as response:
                        assert response.status == 200 and len(response.read()) > 100
        finally:
            code, _ = stop(server)
        assert code == 0, log.read_text()
        assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_ingest_takes_its_workers_along_and_the_next_run_finishes(tmp_path, tree, clean, checkpoint, how):
    environment = _environment(tmp_path / "data", checkpoint, VSEARCH_WORKERS="2")
    ingest = _start_ingest(environment, tree)
    url = f"sqlite:///{tmp_path / 'data' / 'vsearch.db'}"
    _when_some_are_indexed(url, ingest)
    workers = child_pids(ingest.pid)
    assert workers
    ingest.send_signal(how)
    _, err = ingest.communicate(timeout=120)
    assert ingest.returncode == (EXIT_TERMINATED if how == signal.SIGTERM else -signal.SIGKILL)
    assert "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers)
    code, _, err = vsearch(environment, "ingest", str(tree), "-q")
    assert code == 0, err
    assert clip_rows(environment, tree) == clean[0]


def test_a_read_only_library_of_an_older_schema_says_how_to_upgrade(tmp_path, library_folder, checkpoint):
    from vsearch.store.db import downgrade, make_engine

    environment = _environment(tmp_path / "data", checkpoint)
    assert vsearch(environment, "status")[0] == 0
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'vsearch.db'}")
    downgrade(engine, "0001")
    engine.dispose()
    with read_only_view(tmp_path / "data", tmp_path / "read-only") as view:
        code, _, err = vsearch(_environment(view, checkpoint), "status")
        assert code == EXIT_ERROR and "made by an earlier vsearch" in err and "vsearch status" in err


def test_only_files_of_the_library_make_it_read_only(tmp_path):
    """A permission error on a model folder or a video is not a read-only library."""
    from vsearch.faults import ReadOnlyError, StorageFullError, explain

    data = tmp_path / "data"
    inside = PermissionError(errno.EACCES, "Permission denied", str(data / "writer.lock"))
    outside = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "model" / "config.json"))
    assert isinstance(explain(inside, data), ReadOnlyError)
    assert explain(outside, data) is None
    assert isinstance(explain(OSError(errno.EROFS, "Read-only file system", "/anywhere")), ReadOnlyError)
    assert isinstance(explain(OSError(errno.ENOSPC, "No space left on device")), StorageFullError)
    try:
        try:
            raise PermissionError(errno.EACCES, "Permission denied", str(data / "x"))
        except PermissionError:
            raise ValueError("unrelated") from None
    except ValueError as exc:
        assert explain(exc, data) is None  # the permission error was handled: not the cause
