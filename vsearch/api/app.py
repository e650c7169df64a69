"""`create_app(settings)`: the FastAPI application. The library (model, index, store) is opened once."""

from __future__ import annotations

import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated

import secrets
from importlib import resources

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse

from vsearch.api.metrics import Metrics
from vsearch.api.schemas import Health, Result, SearchPage
from vsearch.config import Settings
from vsearch.errors import EmptyLibraryError
from vsearch.store import repo
from vsearch.store.models import Clip, Video


# ids are 32-bit INTEGER keys (Postgres): larger numbers are a 422, not a database error
RowId = Annotated[int, Path(ge=0, le=2**31 - 1)]


def create_app(settings: Settings, library=None) -> FastAPI:
    """The API over the library in `settings.data_dir` (or over `library`, already open)."""
    from vsearch.library import Library

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if library is None:
            app.state.library = Library(settings)
        yield
        if library is None:
            app.state.library.close()

    app = FastAPI(
        title="vsearch",
        summary="Semantic search over a video library with X-CLIP",
        lifespan=lifespan,
        dependencies=[Depends(_key_checker(settings.api_key))],
    )
    if library is not None:
        app.state.library = library
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"])
    lock = threading.Lock()  # one inference at a time: the model's threads already use every core
    metrics = Metrics()

    def _search(lib, q: str, k: int, offset: int, rerank: bool):
        from vsearch.search import search

        with lock:
            lib.refresh()
            return search(lib, q, k, rerank=rerank, offset=offset)

    @app.get("/search", response_model=SearchPage)
    async def search_clips(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for")],
        k: Annotated[int, Query(ge=1, le=1000, description="How many results")] = 10,
        offset: Annotated[int, Query(ge=0, le=100_000, description="Results to skip (paging)")] = 0,
        rerank: Annotated[bool, Query(description="Rank by X-CLIP's exact score")] = True,
    ) -> SearchPage:
        if not q.strip():
            raise HTTPException(422, "q is blank")
        started = time.perf_counter()
        try:
            response = await run_in_threadpool(_search, request.app.state.library, q, k, offset, rerank)
        except EmptyLibraryError as exc:
            response = None
            notice = str(exc)
        metrics.observe(time.perf_counter() - started)
        if response is None:
            return SearchPage(query=q, model=settings.model_id, took_ms=0.0, ranking="none", candidates=0,
                              notice=notice, results=[], offset=offset, next_offset=None)
        playable = _playable(request.app.state.library, {r.video_id for r in response.results})
        results = [
            Result(**r.__dict__, thumbnail_url=f"/clips/{r.clip_id}/thumbnail", video_url=f"/videos/{r.video_id}/file",
                   preview_url=f"/clips/{r.clip_id}/preview", playable=playable.get(r.video_id, False))
            for r in response.results
        ]
        more = response.candidates > offset + len(results) and len(results) == k
        return SearchPage(**{**response.as_json(), "results": results}, offset=offset,
                          next_offset=offset + k if more else None)

    @app.get("/videos/{video_id}/file", response_class=FileResponse)
    async def video_file(request: Request, video_id: RowId):
        """The original file, by id only (never by a path from the request); supports Range requests."""
        with request.app.state.library.sessions() as session:
            video = session.get(Video, video_id)
        if video is None or video.status != "indexed":
            raise HTTPException(404, "no such video")
        from pathlib import Path as FilePath

        if not FilePath(video.path).is_file():
            raise HTTPException(404, "the video file is gone")
        return FileResponse(video.path, media_type=_media_type(video.path))

    async def cached_clip_media(request: Request, clip_id: int, what: str, target, make, media_type: str):
        """Serve a file derived from a clip, making it first (off the event loop) when it is not cached."""
        with request.app.state.library.sessions() as session:
            clip = session.get(Clip, clip_id)
            video = clip.video if clip is not None else None
        if clip is None:
            raise HTTPException(404, "no such clip")
        path = target(settings.data_dir, clip_id)
        if not path.exists():
            try:
                await run_in_threadpool(make, clip, video, path)
            except Exception as exc:  # noqa: BLE001 - the file changed or vanished since ingest
                raise HTTPException(404, f"cannot make a {what}: {exc}") from exc
        return FileResponse(path, media_type=media_type)

    @app.get("/clips/{clip_id}/thumbnail", response_class=FileResponse)
    async def clip_thumbnail(request: Request, clip_id: RowId):
        """A JPEG of the clip's middle sampled frame (made once, cached in the data dir)."""
        from vsearch.thumbnails import make_thumbnail, thumbnail_path

        def make(clip, video, path):
            make_thumbnail(video.path, clip.frame_indices, path)

        return await cached_clip_media(request, clip_id, "thumbnail", thumbnail_path, make, "image/jpeg")

    @app.get("/clips/{clip_id}/preview", response_class=FileResponse)
    async def clip_preview(request: Request, clip_id: RowId):
        """The clip's span as a browser-playable VP9 WebM (made once, cached in the data dir)."""
        from vsearch.preview import make_preview, preview_path

        def make(clip, video, path):
            make_preview(video.path, clip.start_time, clip.end_time, path)

        return await cached_clip_media(request, clip_id, "preview", preview_path, make, "video/webm")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        """The search page: a box, a grid of results, a player (every asset served from here)."""
        return (resources.files("vsearch.api") / "static" / "index.html").read_text()

    @app.get("/health", response_model=Health)
    async def health(request: Request) -> Health:
        with request.app.state.library.sessions() as session:
            counts = repo.counts(session)
        return Health(status="ok", videos=counts.indexed, clips=counts.clips)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus(request: Request) -> str:
        with request.app.state.library.sessions() as session:
            counts = repo.counts(session)
        return metrics.render(counts)

    return app


def _playable(library, video_ids: set[int]) -> dict[int, bool]:
    from sqlalchemy import select

    from vsearch.preview import browser_playable

    with library.sessions() as session:
        rows = session.execute(select(Video.id, Video.container, Video.codec).where(Video.id.in_(video_ids))).all()
    return {video_id: browser_playable(container, codec) for video_id, container, codec in rows}


def _key_checker(api_key: str | None):
    """With VSEARCH_API_KEY set, every endpoint but /health needs it: a Bearer header, or ?key= for media URLs."""

    async def check(request: Request) -> None:
        if not api_key or request.url.path == "/health":
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("key", "")
        if not secrets.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    return check


def _media_type(path: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"
