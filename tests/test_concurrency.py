"""Several vsearch processes on one library: ingests started together embed every video once; a writer
waits for another (or exits 75 under --no-wait) and takes over from one that was killed."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.videos import GOOD
from vsearch.cli import EXIT_BUSY, EXIT_FAILED_FILES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def environment(tmp_path, checkpoint, db_url):
    return {**os.environ, "VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint),
            "VSEARCH_DB_URL": db_url, "VSEARCH_WORKERS": "1", "VSEARCH_PRECISION": "fp32", "HF_HUB_OFFLINE": "1"}


def _start(environment, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vsearch", *args], env=environment, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    assert "Traceback" not in err, err
    return process.returncode, out, err


def _status(environment) -> dict:
    process = _start(environment, "status", "--json")
    code, out, err = _finish(process)
    assert code == 0, err
    return json.loads(out)


def _clip_rows(environment) -> list[tuple[str, float]]:
    process = _start(environment, "export", "--no-embeddings")
    code, out, err = _finish(process)
    assert code == 0, err
    return sorted((r["path"], r["start"]) for r in map(json.loads, out.splitlines()))


def test_two_ingests_of_one_tree_started_together_embed_it_once(environment, library_folder):
    first = _start(environment, "ingest", str(library_folder), "--json", "-q")
    second = _start(environment, "ingest", str(library_folder), "--json", "-q")
    results = [_finish(first), _finish(second)]
    indexed = []
    for code, out, _ in results:
        assert code in (0, EXIT_FAILED_FILES)
        indexed += json.loads(out)["indexed"]
    assert len(indexed) == len(set(indexed)) == len(GOOD)  # every video embedded by one of them, once
    assert any("waiting for `vsearch ingest`" in err for _, _, err in results)
    status = _status(environment)
    assert status["videos"]["indexed"] == len(GOOD)
    rows = _clip_rows(environment)
    assert len(rows) == len(set(rows)) == status["clips"]


def test_overlapping_and_separate_trees_together(environment, library_folder, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder, names in ((one, ["h264.mp4", "short.mp4"]), (two, ["mjpeg.avi", "vfr.mp4"])):
        folder.mkdir()
        for name in names:
            shutil.copy(library_folder / name, folder / name)
    shared = library_folder / "sub"  # both runs walk it too
    first = _start(environment, "ingest", str(one), str(shared), "--json", "-q")
    second = _start(environment, "ingest", str(two), str(shared), "--json", "-q")
    indexed = []
    for process in (first, second):
        code, out, _ = _finish(process)
        assert code == 0
        indexed += json.loads(out)["indexed"]
    assert len(indexed) == len(set(indexed)) == 6
    status = _status(environment)
    assert status["videos"]["indexed"] == 6
    rows = _clip_rows(environment)
    assert len(rows) == len(set(rows)) == status["clips"]


def _settings(environment):
    from vsearch.config import Settings

    return Settings(data_dir=environment["VSEARCH_DATA_DIR"], db_url=environment["VSEARCH_DB_URL"],
                    model=environment["VSEARCH_MODEL"])


def test_no_wait_exits_75_naming_the_holder(environment, video_files):
    from vsearch.library import Library

    library = Library(_settings(environment))
    try:
        library.writer.acquire("prune")
        code, _, err = _finish(_start(environment, "ingest", str(video_files["short"]), "--no-wait"))
        assert code == EXIT_BUSY
        assert f"pid {os.getpid()} on {socket.gethostname()}" in err and "vsearch prune" in err

        log = Path(environment["VSEARCH_DATA_DIR"]).parent / "waiting.log"
        with open(log, "w") as stderr:  # a file, read while it runs: on a loaded machine it may start slowly
            waiting = subprocess.Popen([sys.executable, "-m", "vsearch", "ingest", str(video_files["short"]),
                                        "--json", "-q"], env=environment, cwd=ROOT, stdout=subprocess.PIPE,
                                       stderr=stderr, text=True)
            deadline = time.monotonic() + 120
            while "waiting for" not in log.read_text() and waiting.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
            assert waiting.poll() is None  # it waits for us
            library.writer.release()
            out, _ = waiting.communicate(timeout=300)
        err = log.read_text()
        assert waiting.returncode == 0 and "Traceback" not in err
        assert f"waiting for `vsearch prune` (pid {os.getpid()}" in err
        assert json.loads(out)["indexed"] == [str(video_files["short"])]
    finally:
        library.close()


_HOLD_THE_LOCK = """
import sys, time
from vsearch.config import Settings
from vsearch.library import Library
library = Library(Settings(data_dir=sys.argv[1], db_url=sys.argv[2], model=sys.argv[3]))
library.writer.acquire("ingest")
print("held", flush=True)
time.sleep(600)
"""


def test_a_killed_holder_leaves_no_lock_behind(environment, video_files):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_THE_LOCK, environment["VSEARCH_DATA_DIR"], environment["VSEARCH_DB_URL"],
         environment["VSEARCH_MODEL"]], env=environment, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, _ = _finish(_start(environment, "ingest", str(video_files["short"]), "--no-wait"))
        assert code == EXIT_BUSY
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30  # Postgres ends the killed session's lock at once (socket closed)
        while True:
            code, _, err = _finish(_start(environment, "ingest", str(video_files["short"]), "--no-wait", "-q"))
            if code != EXIT_BUSY or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert code == 0, err
    finally:
        if holder.poll() is None:
            holder.kill()
