"""Real faults for tests: a Postgres server of the test's own (to stop and start), a small file system (to
fill up), a read-only view of a folder. Each skips the test where this machine cannot make it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """A Postgres server in a temporary folder, on 127.0.0.1, that a test may stop and start."""

    def __init__(self, folder: Path):
        self.initdb, self.pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            pytest.skip("needs the Postgres server programs (initdb, pg_ctl)")
        self.folder = folder
        self.data = folder / "db"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_owner = []
        if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
            runuser = shutil.which("runuser")
            if not runuser:
                pytest.skip("needs runuser to start a Postgres server as root")
            self._as_owner = [runuser, "-u", "postgres", "--"]
            shutil.chown(folder, "postgres")
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as_owner, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            pytest.skip(f"cannot run a private Postgres server here: {result.stderr.strip()[-300:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        subprocess.run([*self._as_owner, self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)


@contextmanager
def private_postgres():
    """A private server, in a folder of its own that its owner can reach (pytest's are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="vsearch-pg-"))
    try:
        server = PrivatePostgres(folder)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextmanager
def small_filesystem(folder: Path, size_kib: int):
    """A tmpfs of `size_kib` mounted on `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount") or not _mount("-t", "tmpfs", "-o", f"size={size_kib}k",
                                                                      "tmpfs", str(folder)):
        pytest.skip("cannot mount a small file system here (needs root and tmpfs)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@contextmanager
def read_only_view(source: Path, view: Path):
    """`source` seen read-only at `view` (a read-only bind mount: even root cannot write through it)."""
    view.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not _mount("--bind", str(source), str(view)):
        pytest.skip("cannot make a read-only bind mount here (needs root)")
    try:
        if not _mount("-o", "remount,bind,ro", str(view)):
            pytest.skip("cannot remount a bind mount read-only here")
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], capture_output=True)


def vsearch(environment: dict, *args: str, timeout: float = 600) -> tuple[int, str, str]:
    """Run the `vsearch` command; a traceback on stderr fails the test."""
    result = subprocess.run([sys.executable, "-m", "vsearch", *args], env=environment, cwd=ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def clip_rows(environment: dict, root: Path) -> list[tuple[str, float, float]]:
    """Every clip as (path under `root`, start, end), sorted: two libraries of one tree compare equal."""
    code, out, err = vsearch(environment, "export", "--no-embeddings")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    return sorted((str(Path(r["path"]).relative_to(root)), round(r["start"], 4), round(r["end"], 4)) for r in rows)


def child_pids(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
