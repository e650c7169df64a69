"""The HTTP routes: parse the request, call the core, shape the answer.

Routes that read the database are plain functions (FastAPI runs them in its thread pool); search runs
its body in the pool too, after waiting its turn on the event loop. Nothing blocks the event loop. The library comes in through `Depends`, the server's shared state
(metrics, the inference lock) from `app.state`; the project's errors become HTTP answers in one handler (vsearch.api.app).
"""

from __future__ import annotations

import errno
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from importlib import resources
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse
from starlette.background import BackgroundTask

from vsearch.api.schemas import DuplicatesPage, Health, MomentResult, Result, SearchPage, TimelinePage, VideoResult
from vsearch.duplicates.report import library_duplicates
from vsearch.errors import EmptyLibraryError
from vsearch.examples import Example, ExampleError, clip_example
from vsearch.filters import FilterError, SearchFilter
from vsearch.library import Library
from vsearch.media.preview import browser_playable, make_preview, preview_path
from vsearch.media.thumbnails import make_thumbnail, thumbnail_path
from vsearch.relevance import default_min_relevance
from vsearch.search import search
from vsearch.store import repo
from vsearch.timeline import timeline

router = APIRouter()

_CANNOT_CACHE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)
# ids are 32-bit INTEGER keys (Postgres): larger numbers are a 422, not a database error
RowId = Annotated[int, Path(ge=0, le=2**31 - 1)]


async def get_library(request: Request) -> Library:
    return request.app.state.library


LibraryDep = Annotated[Library, Depends(get_library)]


def search_filters(
    folders: Annotated[list[str] | None, Query(alias="in", max_length=1000, description="Only videos under this folder or matching this glob (repeatable: any of them)")] = None,
    after: Annotated[str | None, Query(max_length=40, description="Only videos recorded on or after this date (ISO 8601)")] = None,
    before: Annotated[str | None, Query(max_length=40, description="Only videos recorded before this date (ISO 8601)")] = None,
    min_duration: Annotated[float | None, Query(ge=0, description="Only videos at least this many seconds long")] = None,
    max_duration: Annotated[float | None, Query(ge=0, description="Only videos at most this many seconds long")] = None,
) -> SearchFilter:
    """The filters of /search and /clips/{id}/similar (422 when one cannot be read)."""
    try:
        return SearchFilter.parse(folders or (), after, before, min_duration, max_duration)
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from exc


FiltersDep = Annotated[SearchFilter, Depends(search_filters)]
FoldQuery = Annotated[bool | None, Query(description="Fold results from copies of a video (GET /duplicates) into the best of them, listed in its also_in; false lists every copy (default: the server's setting, on)")]


@router.get("/search", response_model=SearchPage)
async def search_clips(
    request: Request,
    library: LibraryDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for")],
    k: Annotated[int, Query(ge=1, le=1000, description="How many results")] = 10,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Results to skip (paging)")] = 0,
    rerank: Annotated[bool, Query(description="Rank by X-CLIP's exact score")] = True,
    group: Annotated[Literal["moment", "clip", "video"], Query(description="Result unit: moment (the default), clip or video")] = "moment",
    min_relevance: Annotated[float | None, Query(ge=0, le=1, description="Only results at least this relevant (0 to 1; default: the server's setting)")] = None,
    sort: Annotated[Literal["relevance", "date"], Query(description="Best match first, or newest recorded first")] = "relevance",
    include_blank: Annotated[bool, Query(description="Rank blank clips (almost no content) with the others, not after them")] = False,
    fold: FoldQuery = None,
) -> SearchPage:
    if not q.strip():
        raise HTTPException(422, "q is blank")
    state = request.app.state
    # One inference at a time (the model's threads already use every core). Searches wait for their
    # turn here, on the event loop, so waiting ones hold none of the thread pool the other routes use.
    async with state.search_lock:
        cutoff = default_min_relevance(library.settings) if min_relevance is None else min_relevance
        return await run_in_threadpool(_search_page, library, state.metrics, q, k, offset, rerank, group, filters,
                                       cutoff, sort, None, include_blank, fold)


@router.get("/clips/{clip_id}/similar", response_model=SearchPage)
async def similar_clips(
    request: Request,
    library: LibraryDep,
    filters: FiltersDep,
    clip_id: RowId,
    k: Annotated[int, Query(ge=1, le=1000, description="How many results")] = 10,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Results to skip (paging)")] = 0,
    group: Annotated[Literal["moment", "clip", "video"], Query(description="Result unit: moment (the default), clip or video")] = "moment",
    sort: Annotated[Literal["relevance", "date"], Query(description="Most similar first, or newest recorded first")] = "relevance",
    fold: FoldQuery = None,
) -> SearchPage:
    """More like this clip: ranked by the cosine of X-CLIP video embeddings (`ranking`: video-cosine), the
    clip itself left out."""
    state = request.app.state
    async with state.search_lock:
        return await run_in_threadpool(_search_page, library, state.metrics, "", k, offset, False, group, filters,
                                       0.0, sort, partial(_library_clip, clip_id), fold=fold)


def _library_clip(clip_id: int, library: Library) -> Example:
    try:
        return clip_example(library, clip_id)
    except ExampleError as exc:
        raise HTTPException(404, str(exc)) from exc


def _search_page(library: Library, metrics, q: str, k: int, offset: int, rerank: bool, group: str,
                 filters: SearchFilter, min_relevance: float, sort: str,
                 example_of: Callable[[Library], Example] | None = None, include_blank: bool = False,
                 fold: bool | None = None) -> SearchPage:
    """One page of a search by `q`, or by the example `example_of` makes (an HTTPException when it cannot)."""
    started = time.perf_counter()
    example = example_of(library) if example_of is not None else None
    try:
        library.refresh()
        response = search(library, q, k, rerank=rerank, offset=offset, group=group, filters=filters,
                          min_relevance=min_relevance, sort=sort, example=example, include_blank=include_blank,
                          fold=fold)
    except EmptyLibraryError as exc:
        metrics.observe(time.perf_counter() - started)
        return SearchPage(query=example.description if example else q, model=library.settings.model_id, took_ms=0.0, ranking="none", group=group,
                          candidates=0, notice=str(exc), results=[], offset=offset, next_offset=None)
    metrics.observe(time.perf_counter() - started)
    results = _results(response.results, group)
    return SearchPage(**{**response.as_json(), "results": results, "below_cutoff": _results(response.below_cutoff, group),
                         "no_good_match": response.no_good_match},
                      offset=offset, next_offset=offset + k if response.more and len(results) == k else None)


def _results(found: list, group: str) -> list:
    playable = {r.video_id: browser_playable(r.video.container, r.video.codec) for r in found}
    if group == "video":
        return [VideoResult(**{**asdict(r), "moments": [_result(m, playable[r.video_id]) for m in r.moments]},
                            video_url=f"/videos/{r.video_id}/file",
                            thumbnail_url=f"/clips/{r.moments[0].clip_id}/thumbnail", playable=playable[r.video_id])
                for r in found]
    return [_result(r, playable[r.video_id]) for r in found]


def _result(r, playable: bool) -> Result:
    shape = MomentResult if hasattr(r, "clip_ids") else Result
    return shape(**asdict(r), thumbnail_url=f"/clips/{r.clip_id}/thumbnail", video_url=f"/videos/{r.video_id}/file",
                  preview_url=f"/clips/{r.clip_id}/preview", playable=playable)


@router.get("/videos/{video_id}/timeline", response_model=TimelinePage)
async def video_timeline(
    request: Request,
    library: LibraryDep,
    video_id: RowId,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="What to look for")],
    rerank: Annotated[bool, Query(description="Score by X-CLIP's exact score")] = True,
) -> TimelinePage:
    """Every clip of the video with its score for `q`, in time order: where in the video the query matches."""
    if not q.strip():
        raise HTTPException(422, "q is blank")
    async with request.app.state.search_lock:  # it runs the text encoder, as a search does
        found = await run_in_threadpool(_timeline, library, video_id, q, rerank)
    if found is None:
        raise HTTPException(404, "no such video")
    return TimelinePage(**found.as_json())


def _timeline(library: Library, video_id: int, q: str, rerank: bool):
    library.refresh()
    return timeline(library, video_id, q, rerank)


@router.get("/videos/{video_id}/file", response_class=FileResponse)
def video_file(library: LibraryDep, video_id: RowId):
    """The original file, by id only (never by a path from the request); supports Range requests."""
    with library.store.session() as session:
        video = repo.indexed_video(session, video_id)
    if video is None:
        raise HTTPException(404, "no such video")
    if not FilePath(video.path).is_file():
        raise HTTPException(404, "the video file is gone")
    return FileResponse(video.path, media_type=_media_type(video.path))


def _cached_clip_media(library: Library, clip_id: int, what: str, target, make, media_type: str) -> FileResponse:
    """Serve a file derived from a clip, making it first when it is not cached."""
    with library.store.session() as session:
        found = repo.clip_with_video(session, clip_id)
    if found is None:
        raise HTTPException(404, "no such clip")
    clip, video = found
    path = target(library.settings.data_dir, clip_id)
    if path.exists():
        return FileResponse(path, media_type=media_type)
    try:
        make(clip, video, path)
        return FileResponse(path, media_type=media_type)
    except OSError as exc:
        if exc.errno not in _CANNOT_CACHE or not FilePath(video.path).is_file():
            raise HTTPException(404, f"cannot make a {what}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - the file changed or vanished since ingest
        raise HTTPException(404, f"cannot make a {what}: {exc}") from exc
    # the data dir is read-only or full: made in a temporary folder, served once, removed
    scratch = FilePath(tempfile.mkdtemp(prefix="vsearch-media-"))
    try:
        made = scratch / path.name
        make(clip, video, made)
    except Exception as exc:  # noqa: BLE001
        shutil.rmtree(scratch, ignore_errors=True)
        raise HTTPException(404, f"cannot make a {what}: {exc}") from exc
    return FileResponse(made, media_type=media_type,
                        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))


@router.get("/clips/{clip_id}/thumbnail", response_class=FileResponse)
def clip_thumbnail(library: LibraryDep, clip_id: RowId):
    """A JPEG of the clip's middle sampled frame (made at ingest; made again if deleted)."""
    return _cached_clip_media(library, clip_id, "thumbnail", thumbnail_path,
                              lambda clip, video, path: make_thumbnail(video.path, clip.frame_indices, path, video.decoder),
                              "image/jpeg")


@router.get("/clips/{clip_id}/preview", response_class=FileResponse)
def clip_preview(library: LibraryDep, clip_id: RowId):
    """The clip's span as a browser-playable VP9 WebM (made once, cached in the data dir)."""
    return _cached_clip_media(library, clip_id, "preview", preview_path,
                              lambda clip, video, path: make_preview(video.path, clip.start_time, clip.end_time, path,
                                                                    by_order=video.timing is not None),
                              "video/webm")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page() -> str:
    """The search page: a box, a grid of results, a player (every asset served from here)."""
    return (resources.files("vsearch.api") / "static" / "index.html").read_text()


@router.get("/duplicates", response_model=DuplicatesPage)
def duplicates(
    library: LibraryDep,
    threshold: Annotated[float | None, Query(gt=0, le=1, description="Fingerprint cosine at which two frames count as the same picture (default: the library's setting, read as stored; another value is computed for this request)")] = None,
) -> DuplicatesPage:
    """Copies of one video (another container, codec, resolution, quality, or trimmed) and clips that different
    videos share, as `vsearch duplicates` reports them."""
    return DuplicatesPage(**library_duplicates(library, threshold))


@router.get("/health", response_model=Health)
def health(library: LibraryDep) -> Health:
    with library.store.session() as session:
        counts = repo.counts(session)
    return Health(status="ok", videos=counts.indexed, clips=counts.clips)


@router.get("/metrics", response_class=PlainTextResponse)
def prometheus(request: Request, library: LibraryDep) -> str:
    with library.store.session() as session:
        counts = repo.counts(session)
    return request.app.state.metrics.render(counts)


def _media_type(path: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"
