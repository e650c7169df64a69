"""POST /search with an uploaded image or video as the query: sniffed by content, bad uploads are 422 with the
reason, the size limit holds, temporary files are removed and nothing enters the library."""

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from vsearch.api import create_app
from vsearch.examples import image_example, video_example


@pytest.fixture(scope="module")
def client(ingested):
    with TestClient(create_app(ingested.library.settings, library=ingested.library)) as test_client:
        yield test_client


def _png() -> bytes:
    from PIL import Image

    frame = np.zeros((40, 60, 3), np.uint8)
    frame[5:25, 10:30] = (250, 250, 250)
    data = io.BytesIO()
    Image.fromarray(frame).save(data, format="PNG")
    return data.getvalue()


def _uploads() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("vsearch-upload-*")}


def test_an_uploaded_image_searches_like_the_cli(client, ingested, tmp_path):
    before = _uploads()
    found = client.post("/search", params={"k": 3, "group": "clip"}, files={"image": ("still.png", _png())})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["ranking"] == "video-cosine" and body["query"] == "image still.png" and len(body["results"]) == 3
    (tmp_path / "still.png").write_bytes(_png())
    example = image_example(ingested.library, tmp_path / "still.png")
    from vsearch.search import search

    expected = search(ingested.library, "", k=3, group="clip", example=example).results
    assert [r["clip_id"] for r in body["results"]] == [r.clip_id for r in expected]
    assert _uploads() == before  # the temporary folder is gone


def test_an_uploaded_video_is_sniffed_by_content_whatever_its_field(client, ingested, video_files):
    data = video_files["h264"].read_bytes()
    found = client.post("/search", params={"k": 2, "group": "clip", "at": 1},
                        files={"image": ("clip.bin", data)}).json()  # the field says image; the content says video
    assert found["query"] == "video clip.bin at 1 s"
    expected = video_example(ingested.library, video_files["h264"], at=1.0)
    from vsearch.search import search

    top = search(ingested.library, "", k=2, group="clip", example=expected).results
    assert [r["clip_id"] for r in found["results"]] == [r.clip_id for r in top]


@pytest.mark.parametrize("files, why", [
    ({"video": ("notes.txt", b"just some text, not a video")}, "notes.txt: neither an image nor a video"),
    ({"image": ("empty.png", b"")}, "empty.png is empty"),
    ({}, "upload one file"),
])
def test_bad_uploads_are_422_with_the_reason(client, files, why):
    before = _uploads()
    answer = client.post("/search", files=files or {"other": ("x", b"x")})
    assert answer.status_code == 422 and why in answer.json()["detail"]
    assert _uploads() == before


def test_the_size_limit_holds(ingested):
    settings = ingested.library.settings
    ingested.library.settings = settings.model_copy(update={"upload_max_bytes": 100})
    try:
        with TestClient(create_app(ingested.library.settings, library=ingested.library)) as small:
            answer = small.post("/search", files={"image": ("big.png", _png() + b"\0" * 200)})
        assert answer.status_code == 413 and "VSEARCH_UPLOAD_MAX_BYTES" in answer.json()["detail"]
    finally:
        ingested.library.settings = settings


def test_nothing_enters_the_library(client, ingested):
    from vsearch.status import library_status

    before = library_status(ingested.library)
    client.post("/search", files={"image": ("still.png", _png())})
    after = library_status(ingested.library)
    assert (after["videos"], after["clips"]) == (before["videos"], before["clips"])
