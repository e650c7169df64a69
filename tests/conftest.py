"""Fixtures that build real, tiny things once: an X-CLIP checkpoint, video files, databases."""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.videos import make_library

POSTGRES_URL = os.environ.get("VSEARCH_TEST_POSTGRES_URL")
DATABASES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """No VSEARCH_* setting leaks in from the caller; no hub traffic; user dirs are temporary.
    Session-wide, so fixtures shared by a module see it too; a test's own monkeypatch is undone after it."""
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("VSEARCH_") and key != "VSEARCH_TEST_POSTGRES_URL":
                patch.delenv(key)
        patch.setenv("HF_HUB_OFFLINE", "1")
        # a tiny random checkpoint knows no relevance: its results would all fall below the default cut-off
        # (tests of the cut-off set their own)
        patch.setenv("VSEARCH_MIN_RELEVANCE", "0")
        # the test videos are one moving white square in different colours: as footage, copies of one another,
        # which would fold into one result (tests of folding turn it on, with footage that differs)
        patch.setenv("VSEARCH_FOLD_COPIES", "false")
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))
        yield


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny X-CLIP (random weights, 4 frames of 32 px) with a real CLIPTokenizer and processor."""
    from vsearch.model.random_checkpoint import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("xclip-tiny"))


@pytest.fixture(scope="session")
def xclip(checkpoint):
    from vsearch.model.xclip import XClip

    return XClip.load(str(checkpoint), str(checkpoint), device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def video_files(tmp_path_factory) -> dict[str, Path]:
    return make_library(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def library_folder(video_files) -> Path:
    return video_files["h264"].parent


@pytest.fixture
def fresh_library_folder(library_folder, tmp_path) -> Path:
    """A private copy of the test library, for tests that change files."""
    target = tmp_path / "library"
    shutil.copytree(library_folder, target)
    return target


def _postgres_schema_url(base: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@contextmanager
def _new_database(backend: str, folder: Path):
    """A new, empty database: a SQLite file, or a fresh schema on the Postgres test server."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'vsearch.db'}"
        return
    from sqlalchemy import create_engine, text

    schema = f"vsearch_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    with _new_database(request.param, tmp_path) as url:
        yield url


def _settings(data_dir: Path, db_url: str, checkpoint: Path):
    from vsearch.config import Settings

    return Settings(data_dir=data_dir, db_url=db_url, model=str(checkpoint), device="cpu", precision="fp32", workers=1)


@pytest.fixture
def settings(tmp_path, db_url, checkpoint):
    return _settings(tmp_path / "data", db_url, checkpoint)


@dataclass
class Ingested:
    library: object  # vsearch.library.Library
    summary: object  # vsearch.ingest.IngestSummary


@pytest.fixture(scope="module", params=DATABASES)
def ingested(request, tmp_path_factory, checkpoint, xclip, library_folder) -> Ingested:
    """The whole test library (good and bad files) ingested once per test module and database backend,
    for tests that only read it: they must not change it."""
    with ingested_once(request.param, tmp_path_factory.mktemp("ingested"), checkpoint, xclip, [library_folder]) as once:
        yield once


@contextmanager
def ingested_once(backend: str, folder: Path, checkpoint: Path, xclip, paths, **settings):
    """A library of `paths` in a new database of `backend`, with `settings` changed, for a module to share."""
    from vsearch.ingest import ingest
    from vsearch.library import Library

    with _new_database(backend, folder) as url:
        library = Library(_settings(folder / "data", url, checkpoint).model_copy(update=settings), model=xclip)
        try:
            yield Ingested(library, ingest(library, paths))
        finally:
            library.close()


@pytest.fixture
def library(settings, xclip):
    from vsearch.library import Library

    lib = Library(settings, model=xclip)
    yield lib
    lib.close()
