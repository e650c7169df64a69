"""POST /search: an uploaded image or video clip as the query (search by example). The upload goes to a
temporary folder outside the library, is sniffed by its content (an image if Pillow reads it, else a
video), embedded, and always removed; nothing of it is written into the library."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool

from vsearch.api.routes import FiltersDep, FoldQuery, LibraryDep, _search_page
from vsearch.api.schemas import SearchPage
from vsearch.examples import Example, ExampleError, image_example, video_example
from vsearch.library import Library

router = APIRouter()
CHUNK = 1 << 20  # bytes read from the upload at a time


@router.post("/search", response_model=SearchPage)
async def search_by_upload(
    request: Request,
    library: LibraryDep,
    filters: FiltersDep,
    image: Annotated[UploadFile | None, File(description="An image: results look like it")] = None,
    video: Annotated[UploadFile | None, File(description="A video: results look like its clip at `at`")] = None,
    at: Annotated[float, Query(ge=0, le=1e7, description="Where the video's clip starts, in seconds")] = 0.0,
    k: Annotated[int, Query(ge=1, le=1000, description="How many results")] = 10,
    offset: Annotated[int, Query(ge=0, le=100_000, description="Results to skip (paging)")] = 0,
    group: Annotated[Literal["moment", "clip", "video"], Query(description="Result unit")] = "moment",
    sort: Annotated[Literal["relevance", "date"], Query(description="Most similar first, or newest recorded first")] = "relevance",
    fold: FoldQuery = None,
) -> SearchPage:
    """Search by an uploaded image or video (multipart field `image` or `video`; the kind is read from the
    content). Ranked by the cosine of X-CLIP video embeddings, as `vsearch query --image/--video`."""
    uploads = [u for u in (image, video) if u is not None]
    if len(uploads) != 1:
        raise HTTPException(422, "upload one file, as the multipart field `image` or `video`")
    upload = uploads[0]
    name = Path(upload.filename or "upload").name
    folder = Path(tempfile.mkdtemp(prefix="vsearch-upload-"))
    try:
        path = folder / "upload"
        await _save(upload, path, library.settings.upload_max_bytes, name)
        state = request.app.state
        async with state.search_lock:
            return await run_in_threadpool(_search_page, library, state.metrics, "", k, offset, False, group,
                                           filters, 0.0, sort, partial(_uploaded, path, name, at), fold=fold)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _save(upload: UploadFile, path: Path, limit: int, name: str) -> None:
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"{name} is larger than the upload limit of {limit} bytes "
                                         "(VSEARCH_UPLOAD_MAX_BYTES)")
            out.write(chunk)
    if size == 0:
        raise HTTPException(422, f"{name} is empty")


def _uploaded(path: Path, name: str, at: float, library: Library) -> Example:
    """The upload as an example: an image if Pillow can read it, else a clip of a video."""
    from PIL import Image

    try:
        with Image.open(path) as probe:
            probe.verify()
        is_image = True
    except Exception:  # noqa: BLE001 - anything Pillow cannot read is tried as a video
        is_image = False
    try:
        if is_image:
            return replace(image_example(library, path), description=f"image {name}")
        return replace(video_example(library, path, at), description=f"video {name} at {at:g} s")
    except ExampleError as exc:
        reason = str(exc).split(": ", 1)[-1].replace(str(path), name)
        if not is_image and "not a readable video" in reason:
            reason = f"neither an image nor a video this can read ({reason})"
        raise HTTPException(422, f"{name}: {reason}") from exc
