"""Two `vsearch serve` processes over one Postgres library and one data dir (replicas on other machines, in
production) answer the same results, and both take in the clips an ingest beside them commits."""

import time

import pytest

from bench.load import cpu_environment, free_port, get_json, start_ingest, start_server, wait_until_up
from tests.conftest import POSTGRES_URL, _new_database, _settings
from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.media.synthetic import encode

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="replicas share a Postgres library")

QUERY = {"q": "a white square", "k": 1000, "group": "clip"}


def _answer(port: int) -> list[tuple[int, float]]:
    return [(r["clip_id"], round(r["score"], 4)) for r in get_json(port, "/search", QUERY)["results"]]


def test_two_servers_answer_alike_and_both_see_a_running_ingest(tmp_path, checkpoint, video_files):
    with _new_database("postgres", tmp_path) as url:
        settings = _settings(tmp_path / "data", url, checkpoint)
        library = Library(settings)
        ingest(library, [video_files["h264"], video_files["vp9"]])
        library.close()
        env = cpu_environment(settings)
        ports = [free_port(), free_port()]
        servers = [start_server(env, port, tmp_path / f"serve{n}.log") for n, port in enumerate(ports)]
        try:
            for server, port, n in zip(servers, ports, range(2)):
                wait_until_up(server, port, tmp_path / f"serve{n}.log")
            first = [_answer(port) for port in ports]
            assert first[0] == first[1] and len(first[0]) == 5  # 3 clips of 9 s, 2 of 5 s

            folder = tmp_path / "incoming"
            for number in range(3):
                encode(folder / f"new{number}.mp4", seconds=9.0, hue=30 + number)
            process = start_ingest(env, [folder], tmp_path / "ingest.log")
            assert process.wait(timeout=300) == 0, (tmp_path / "ingest.log").read_text()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                answers = [_answer(port) for port in ports]
                if all(len(answer) == 5 + 9 for answer in answers):
                    break
                time.sleep(0.2)
            assert answers[0] == answers[1] and len(answers[0]) == 14
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=60)
