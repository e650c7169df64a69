"""Fixtures that build real, tiny things once: an X-CLIP checkpoint, video files, databases."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.videos import make_library

POSTGRES_URL = os.environ.get("VSEARCH_TEST_POSTGRES_URL")
DATABASES = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
SHARED_VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "videos"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path_factory):
    """No VSEARCH_* setting leaks in from the caller; no hub traffic; user dirs are temporary."""
    for key in list(os.environ):
        if key.startswith("VSEARCH_") and key != "VSEARCH_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg")))


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


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path):
    """A new, empty database: a SQLite file, or a fresh schema on the Postgres test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vsearch.db'}"
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


@pytest.fixture
def settings(tmp_path, db_url, checkpoint):
    from vsearch.config import Settings

    return Settings(
        data_dir=tmp_path / "data", db_url=db_url, model=str(checkpoint), device="cpu", precision="fp32", workers=1
    )


@pytest.fixture
def library(settings, xclip):
    from vsearch.library import Library

    lib = Library(settings, model=xclip)
    yield lib
    lib.close()
