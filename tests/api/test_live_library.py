"""A server keeps answering while `vsearch ingest` runs in another process on the same data dir."""

import os
import subprocess
import sys
import time

from fastapi.testclient import TestClient

from vsearch.api import create_app
from vsearch.ingest import ingest
from vsearch.media.synthetic import encode

NEW_VIDEOS = 8
CLIPS_PER_VIDEO = 3  # 9-second videos in 4-second windows


def _ingest_process(settings, folder, tmp_path) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        VSEARCH_DATA_DIR=str(settings.data_dir),
        VSEARCH_DB_URL=settings.db_url,
        VSEARCH_MODEL=settings.model,
        VSEARCH_DEVICE="cpu",
        VSEARCH_PRECISION="fp32",
        VSEARCH_WORKERS="1",
        VSEARCH_BATCH_SIZE="1",
    )
    log = open(tmp_path / "ingest.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "vsearch", "ingest", str(folder), "--json"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def test_clips_committed_by_another_process_become_searchable(library, video_files, tmp_path):
    ingest(library, [video_files["h264"]])
    folder = tmp_path / "incoming"
    for number in range(NEW_VIDEOS):
        encode(folder / f"new{number}.mp4", seconds=9.0, hue=20 + number)

    with TestClient(create_app(library.settings, library=library)) as client:
        initial = client.get("/health").json()["clips"]
        process = _ingest_process(library.settings, folder, tmp_path)
        seen, statuses = [], []
        try:
            while process.poll() is None:
                response = client.get("/search", params={"q": "a white square", "k": 1000, "group": "clip"})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    seen.append(len(response.json()["results"]))
                statuses.append(client.get("/health").status_code)
                time.sleep(0.02)
        finally:
            process.wait(timeout=300)
        log = (tmp_path / "ingest.log").read_text()
        assert process.returncode == 0, log

        assert set(statuses) == {200}
        assert seen == sorted(seen), "a clip, once searchable, stays searchable"
        assert any(initial < count < initial + NEW_VIDEOS * CLIPS_PER_VIDEO for count in seen), (
            f"no query saw the ingest half done: {seen}"
        )
        final = client.get("/search", params={"q": "a white square", "k": 1000, "group": "clip"}).json()
        assert len(final["results"]) == initial + NEW_VIDEOS * CLIPS_PER_VIDEO
        assert final["ranking"] == "xclip"
        paths = {r["path"] for r in final["results"]}
        assert {str(folder / f"new{n}.mp4") for n in range(NEW_VIDEOS)} <= paths
        thumbnail = client.get(final["results"][0]["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
