"""The HTTP API over a real ingested tiny library, in process."""

import pytest
from fastapi.testclient import TestClient

from vsearch.api import create_app
from vsearch.ingest import ingest
from vsearch.library import Library


@pytest.fixture
def client(ingested):
    """A server over the module's shared library (read only)."""
    with TestClient(create_app(ingested.library.settings, library=ingested.library)) as test_client:
        yield test_client


def test_search_returns_the_cli_shape_with_media_urls(client):
    response = client.get("/search", params={"q": "a white square", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["ranking"] == "xclip" and len(body["results"]) == 3
    first = body["results"][0]
    assert first["thumbnail_url"] == f"/clips/{first['clip_id']}/thumbnail"
    assert first["video_url"] == f"/videos/{first['video_id']}/file"
    assert body["next_offset"] == 3
    page2 = client.get("/search", params={"q": "a white square", "k": 3, "offset": 3}).json()
    assert [r["rank"] for r in page2["results"]] == [4, 5, 6]
    assert not {r["clip_id"] for r in page2["results"]} & {r["clip_id"] for r in body["results"]}


def test_moments_by_default_clips_and_videos_on_request(client):
    moments = client.get("/search", params={"q": "a white square", "k": 3}).json()
    assert moments["group"] == "moment"
    first = moments["results"][0]
    assert first["clip_id"] in first["clip_ids"] and first["start"] <= first["peak"] <= first["end"]
    assert first["preview_url"] == f"/clips/{first['clip_id']}/preview" and first["video"]["duration"] > 0
    clips = client.get("/search", params={"q": "a white square", "k": 3, "group": "clip"}).json()
    assert clips["group"] == "clip" and "clip_ids" not in clips["results"][0]
    assert clips["results"][0]["score"] == first["score"]
    videos = client.get("/search", params={"q": "a white square", "k": 2, "group": "video"}).json()
    assert videos["group"] == "video" and len(videos["results"]) == 2
    best = videos["results"][0]
    assert best["video_id"] == first["video_id"] and best["moments"][0]["clip_id"] == first["clip_id"]
    assert best["total_moments"] >= len(best["moments"]) >= 1 and best["video_url"].endswith("/file")
    page2 = client.get("/search", params={"q": "a white square", "k": 2, "group": "video", "offset": 2}).json()
    assert not {r["video_id"] for r in page2["results"]} & {r["video_id"] for r in videos["results"]}
    assert client.get("/search", params={"q": "a", "group": "scene"}).status_code == 422


def test_a_timeline_scores_every_clip_of_the_video(client):
    clips = client.get("/search", params={"q": "a white square", "k": 1000, "group": "clip"}).json()["results"]
    video = clips[0]["video_id"]
    line = client.get(f"/videos/{video}/timeline", params={"q": "a white square"}).json()
    assert line["video_id"] == video and line["ranking"] == "xclip" and line["video"]["duration"] > 0
    mine = sorted((r for r in clips if r["video_id"] == video), key=lambda r: r["start"])
    assert [c["clip_id"] for c in line["clips"]] == [r["clip_id"] for r in mine]
    assert [c["score"] for c in line["clips"]] == pytest.approx([r["score"] for r in mine], rel=1e-5)
    assert [c["relevance"] for c in line["clips"]] == pytest.approx([r["relevance"] for r in mine], abs=1e-5)
    assert client.get("/videos/999999/timeline", params={"q": "a"}).status_code == 404
    assert client.get(f"/videos/{video}/timeline", params={"q": " "}).status_code == 422


def test_relevance_cut_off_and_date_sort(client):
    found = client.get("/search", params={"q": "a white square", "k": 3}).json()
    assert found["min_relevance"] == 0 and not found["no_good_match"] and found["below_cutoff"] == []
    assert all(0 <= r["relevance"] <= 1 for r in found["results"])
    nothing = client.get("/search", params={"q": "a white square", "k": 3, "min_relevance": 1}).json()
    assert nothing["results"] == [] and nothing["no_good_match"] is True and nothing["next_offset"] is None
    assert [r["clip_id"] for r in nothing["below_cutoff"]] == [r["clip_id"] for r in found["results"]]
    assert nothing["below_cutoff"][0]["thumbnail_url"].endswith("/thumbnail")
    newest = client.get("/search", params={"q": "a white square", "sort": "date", "group": "video"}).json()
    dates = [r["video"]["recorded_at"] for r in newest["results"]]
    assert newest["sort"] == "date" and dates == sorted(dates, reverse=True)


def test_more_like_a_clip(client):
    first = client.get("/search", params={"q": "a white square", "k": 1, "group": "clip"}).json()["results"][0]
    similar = client.get(f"/clips/{first['clip_id']}/similar", params={"k": 5, "group": "clip"}).json()
    assert similar["ranking"] == "video-cosine" and len(similar["results"]) == 5
    assert first["clip_id"] not in [r["clip_id"] for r in similar["results"]]
    scores = [r["score"] for r in similar["results"]]
    assert scores == sorted(scores, reverse=True) and similar["next_offset"] == 5
    assert similar["results"][0]["thumbnail_url"].endswith("/thumbnail")
    moments = client.get(f"/clips/{first['clip_id']}/similar").json()
    assert moments["group"] == "moment" and moments["results"]
    assert client.get("/clips/999999/similar").status_code == 404
    assert client.get(f"/clips/{first['clip_id']}/similar", params={"after": "someday"}).status_code == 422


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "x" * 1001}, {"q": "a", "k": 0}, {"q": "a", "k": 1001}, {},
                                    {"q": "a", "min_relevance": 1.5}, {"q": "a", "sort": "size"}])
def test_bad_parameters_are_422(client, params):
    assert client.get("/search", params=params).status_code == 422


def test_video_file_supports_range_requests(client, video_files):
    result = client.get("/search", params={"q": "a", "k": 1}).json()["results"][0]
    full = client.get(result["video_url"])
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    assert full.content == open(result["path"], "rb").read()
    part = client.get(result["video_url"], headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and len(part.content) == 90
    assert part.headers["content-range"].startswith("bytes 10-99/")


def test_thumbnail_is_a_jpeg(client):
    result = client.get("/search", params={"q": "a", "k": 1}).json()["results"][0]
    response = client.get(result["thumbnail_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content[:2] == b"\xff\xd8"


def test_unknown_ids_are_404(client):
    assert client.get("/videos/999999/file").status_code == 404
    assert client.get("/clips/999999/thumbnail").status_code == 404


def test_health_and_metrics(client):
    assert client.get("/health").json()["clips"] > 0
    client.get("/search", params={"q": "a"})
    text = client.get("/metrics").text
    assert "vsearch_queries_total 1" in text and "vsearch_clips " in text


def test_openapi(client):
    assert "/search" in client.get("/openapi.json").json()["paths"]


def test_new_clips_become_searchable_without_restart(library, video_files, tmp_path):
    from vsearch.media.synthetic import encode

    ingest(library, [video_files["short"]])
    client = TestClient(create_app(library.settings, library=library))

    def everything():
        return client.get("/search", params={"q": "a", "k": 1000, "rerank": "false", "group": "clip"}).json()["results"]

    before = len(everything())
    other = Library(library.settings, model=library.model)  # another process's view of the same data dir
    ingest(other, [encode(tmp_path / "new.mp4", seconds=9.0, hue=11)])
    other.close()
    results = everything()
    assert len(results) == before + 3 == client.get("/health").json()["clips"]
    assert str(tmp_path / "new.mp4") in {r["path"] for r in results}


def test_the_page_is_served_with_no_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<form id="search">' in page.text and 'name="q"' in page.text
    assert '"/search?"' in page.text and "/similar?" in page.text and "card.dataset.clipId = result.clip_id" in page.text
    assert "http://" not in page.text and "https://" not in page.text


def test_api_key_guards_everything_but_health(ingested):
    library = ingested.library
    settings = library.settings.model_copy(update={"api_key": "s3cret"})
    with TestClient(create_app(settings, library=library)) as guarded:
        assert guarded.get("/health").status_code == 200
        assert guarded.get("/search", params={"q": "a"}).status_code == 401
        assert guarded.get("/", params={}).status_code == 401
        assert guarded.get("/search", params={"q": "a"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = guarded.get("/search", params={"q": "a"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        video_url = ok.json()["results"][0]["video_url"]
        assert guarded.get(video_url, params={"key": "s3cret"}).status_code == 200


def test_preview_of_a_file_browsers_cannot_play(client, video_files):
    import av

    results = client.get("/search", params={"q": "a", "k": 100, "rerank": "false", "group": "clip"}).json()["results"]
    avi = next(r for r in results if r["path"].endswith("mjpeg.avi"))
    webm = next(r for r in results if r["path"].endswith("vp9.webm"))
    assert avi["playable"] is False and webm["playable"] is True
    response = client.get(avi["preview_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "video/webm"
    with av.open(__import__("io").BytesIO(response.content)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert times[0] == 0.0 and times[-1] == pytest.approx(avi["end"] - avi["start"] - 0.1, abs=0.15)
    assert client.get(avi["preview_url"]).content == response.content  # cached


def test_routes_run_off_the_event_loop():
    """Routes that read the database are plain functions, run in the thread pool; searches and the timeline (they
    run the model) wait for their turn on the loop and run their bodies in the pool."""
    import inspect

    from vsearch.api import routes

    on_the_loop = {r.path for r in routes.router.routes if inspect.iscoroutinefunction(r.endpoint)}
    assert routes.router.routes and on_the_loop == {"/search", "/videos/{video_id}/timeline", "/clips/{clip_id}/similar"}
    assert "run_in_threadpool(_search_page" in inspect.getsource(routes.search_clips)
    assert "run_in_threadpool(_search_page" in inspect.getsource(routes.similar_clips)
    assert "run_in_threadpool(_timeline" in inspect.getsource(routes.video_timeline)


def test_health_answers_while_searches_wait(ingested, monkeypatch):
    """Searches queue for the model without holding threads: /health answers meanwhile."""
    import threading
    import time

    from vsearch.api import routes

    release = threading.Event()
    slow = routes.search

    def waiting_search(*args, **kwargs):
        release.wait(10)
        return slow(*args, **kwargs)

    monkeypatch.setattr(routes, "search", waiting_search)
    with TestClient(create_app(ingested.library.settings, library=ingested.library)) as client:
        searches = [threading.Thread(target=client.get, args=("/search",), kwargs={"params": {"q": "a"}})
                    for _ in range(50)]
        for thread in searches:
            thread.start()
        time.sleep(0.5)
        started = time.perf_counter()
        assert client.get("/health").status_code == 200
        waited = time.perf_counter() - started
        release.set()
        for thread in searches:
            thread.join()
    assert waited < 2


def test_a_library_built_with_another_model_is_a_409_with_the_cli_sentence(ingested, tmp_path):
    from vsearch.errors import ModelMismatchError

    other = ingested.library.settings.model_copy(update={"model": str(tmp_path)})
    with TestClient(create_app(other)) as client:
        response = client.get("/search", params={"q": "a"})
        assert client.get("/health").status_code == 200
    assert response.status_code == 409
    with pytest.raises(ModelMismatchError) as cli_error:
        Library(other).check_model()
    assert response.json()["detail"] == str(cli_error.value)


def test_a_model_that_cannot_be_loaded_is_a_503_with_the_reason(settings, checkpoint, video_files, tmp_path):
    import shutil

    copy = tmp_path / "checkpoint"
    shutil.copytree(checkpoint, copy)
    settings = settings.model_copy(update={"model": str(copy)})
    ingesting = Library(settings)
    ingest(ingesting, [video_files["short"]])
    ingesting.close()
    (copy / "config.json").unlink()  # the checkpoint the library was built with is broken now
    with TestClient(create_app(settings)) as client:
        response = client.get("/search", params={"q": "a"})
    assert response.status_code == 503 and "Cannot load an X-CLIP model" in response.json()["detail"]


def test_an_empty_library_answers_200_with_a_notice(settings):
    with TestClient(create_app(settings)) as client:
        response = client.get("/search", params={"q": "a"})
    assert response.status_code == 200 and response.json()["results"] == []
    assert "empty" in response.json()["notice"]
