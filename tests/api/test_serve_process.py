"""`vsearch serve` as a real process: a SIGTERM (or Ctrl+C) while searches are in flight lets every one of
them finish, queued ones included, and the server exits 0."""

import http.client
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.load import cpu_environment, free_port, start_server, wait_until_up

SEARCHES = 8
EXIT_BOUND_SECONDS = 60.0

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts the server's sockets in /proc")


def accepted_connections(pid: int, port: int) -> int:
    """Established connections to `port` that process `pid` has accepted (its sockets, matched in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()  # sl, local address:port (hex), remote, state (01: established), ..., inode
        if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
            count += 1
    return count


def search(port: int, text: str, answers: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=EXIT_BOUND_SECONDS)
    try:
        connection.request("GET", f"/search?q={text.replace(' ', '+')}&k=1000")
        response = connection.getresponse()
        body = response.read()
        answers.append((response.status, time.perf_counter(), body))
    except (OSError, http.client.HTTPException) as exc:
        answers.append((type(exc).__name__, time.perf_counter(), b""))
    finally:
        connection.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_the_searches_in_flight_finish_then_exits_0(ingested, tmp_path, sig):
    settings = ingested.library.settings
    env = cpu_environment(settings)
    port, log = free_port(), tmp_path / "serve.log"
    server = start_server(env, port, log)
    answers: list = []
    threads = []
    try:
        wait_until_up(server, port, log)
        # Nothing has searched yet: the first search loads the model (about a second), and the others
        # wait for it on the inference lock, so all are in flight when the signal comes.
        threads = [
            threading.Thread(target=search, args=(port, f"a white square {n}", answers)) for n in range(SEARCHES)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while accepted_connections(server.pid, port) < SEARCHES and time.monotonic() < deadline:
            time.sleep(0.01)
        assert accepted_connections(server.pid, port) >= SEARCHES, "the server did not accept every search"
        time.sleep(0.2)  # for the server to read the requests it has accepted
        signalled = time.perf_counter()
        server.send_signal(sig)
        status = server.wait(EXIT_BOUND_SECONDS)
        exit_seconds = time.perf_counter() - signalled
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for thread in threads:
            thread.join(EXIT_BOUND_SECONDS)
    output = log.read_text()

    assert status == 0, output
    assert exit_seconds < EXIT_BOUND_SECONDS
    assert [answer[0] for answer in answers] == [200] * SEARCHES, output
    assert all(b'"results":[{' in body for _, _, body in answers)
    assert sum(finished > signalled for _, finished, _ in answers) >= 1, (
        "every search was answered before the signal: the test no longer proves anything"
    )
    assert f"vsearch: {sig.name}: not accepting new connections" in output
