"""`create_app(settings)`: the FastAPI application. The library (model, index, store) is opened once."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from vsearch.api.metrics import Metrics
from vsearch.api.routes import router
from vsearch.api.uploads import router as upload_router
from vsearch.config import Settings
from vsearch.errors import ModelLoadError, ModelMismatchError, VsearchError
from vsearch.faults import DatabaseUnavailableError, ReadOnlyError, StorageFullError, explain
from vsearch.library import Library

# The project's errors as HTTP answers, with the sentence the CLI prints. A library built with another
# model is a conflict with the server's settings; a model that cannot be loaded makes search unavailable.
ERROR_STATUS = {ModelMismatchError: 409, ModelLoadError: 503, DatabaseUnavailableError: 503, ReadOnlyError: 503,
                StorageFullError: 507}


def create_app(settings: Settings, library: Library | None = None) -> FastAPI:
    """The API over the library in `settings.data_dir` (or over `library`, already open)."""

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
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.search_lock = asyncio.Lock()
    if library is not None:
        app.state.library = library
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"])
    app.add_exception_handler(VsearchError, _vsearch_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
    app.include_router(router)
    app.include_router(upload_router)
    return app


async def _vsearch_error(request: Request, exc: VsearchError) -> JSONResponse:
    status = next((code for kind, code in ERROR_STATUS.items() if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
    """A database that went away is a 503 (try again), told in one line; anything else stays a 500."""
    fault = explain(exc)
    if fault is None:
        raise exc
    return await _vsearch_error(request, fault)


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
