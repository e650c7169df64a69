"""Copies and shared footage on a real library of generated re-encodes: found at ingest, kept current by it,
reported by `vsearch duplicates` and GET /duplicates."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from tests.conftest import DATABASES, ingested_once
from vsearch.duplicates.report import library_duplicates
from vsearch.ingest import ingest
from vsearch.media.synthetic import after_opening, encode, footage, reencode

SECONDS, FPS = 12, 10
COPIES = {"master.mp4", "container.mkv", "quality.mp4", "small.mp4", "trimmed.mp4", "vp9.webm"}


def _opening_then(seed: int, opening_seed: int | None):
    """Footage of `seed` after a 3 s opening: another footage's (a shared title) or black (None)."""
    return after_opening(footage(seed, FPS), footage(opening_seed, FPS) if opening_seed is not None else None, 3 * FPS)


def make_copies(folder: Path) -> Path:
    """A master, five copies of it as users make them, and videos that are not copies of anything."""
    size = dict(seconds=SECONDS, fps=FPS, width=160, height=120)
    master = encode(folder / "master.mp4", painter=footage(1, FPS), **size)
    reencode(master, folder / "container.mkv")
    reencode(master, folder / "quality.mp4", crf=40)
    reencode(master, folder / "small.mp4", scale=0.5)
    reencode(master, folder / "trimmed.mp4", start=2.3)
    reencode(master, folder / "vp9.webm", codec="libvpx-vp9", crf=45)
    encode(folder / "other.mp4", painter=footage(2, FPS), **size)
    encode(folder / "title-a.mp4", painter=_opening_then(3, 9), **size)  # the same opening title ...
    encode(folder / "title-b.mp4", painter=_opening_then(4, 9), **size)  # ... then other footage
    encode(folder / "black-a.mp4", painter=_opening_then(5, None), **size)  # black, then other footage
    encode(folder / "black-b.mp4", painter=_opening_then(6, None), **size)
    return folder


@pytest.fixture(scope="module")
def copies_folder(tmp_path_factory) -> Path:
    return make_copies(tmp_path_factory.mktemp("copies"))


@pytest.fixture(scope="module", params=DATABASES)
def with_copies(request, tmp_path_factory, checkpoint, xclip, copies_folder):
    with ingested_once(request.param, tmp_path_factory.mktemp("dups"), checkpoint, xclip, [copies_folder],
                       clip_seconds=2.0, stride_seconds=2.0) as once:
        assert not once.summary.failed
        yield once.library


def _names(group) -> set[str]:
    return {Path(v["path"]).name for v in group["videos"]}


def test_copies_are_one_group_and_nothing_else_is_a_copy(with_copies):
    found = library_duplicates(with_copies)
    assert [_names(g) for g in found["copies"]] == [COPIES]
    trimmed = [m for m in found["copies"][0]["matches"] if "trimmed.mp4" in (Path(m["a"]).name, Path(m["b"]).name)]
    assert len(trimmed) == len(COPIES) - 1
    for match in trimmed:  # the trimmed copy starts 2.3 s into the others (to within the 0.5 s between prints)
        sign = 1 if Path(match["a"]).name == "trimmed.mp4" else -1
        assert match["offset"] == pytest.approx(2.3 * sign, abs=0.3)
        assert match["coverage"] >= 0.9


def test_a_shared_opening_title_is_shared_clips_and_black_frames_are_nothing(with_copies):
    found = library_duplicates(with_copies)
    shared = [{Path(c["path"]).name for c in group["clips"]} for group in found["shared_clips"]]
    assert shared == [{"title-a.mp4", "title-b.mp4"}]
    clip = found["shared_clips"][0]["clips"][0]
    assert clip["start"] == 0.0 and clip["end"] <= 4.0


def test_ingest_keeps_duplicates_current(tmp_path, checkpoint, xclip, copies_folder):
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("master.mp4", "small.mp4", "other.mp4"):
        shutil.copy(copies_folder / name, folder / name)
    with ingested_once("sqlite", tmp_path, checkpoint, xclip, [folder], clip_seconds=2.0, stride_seconds=2.0) as once:
        library = once.library
        assert [_names(g) for g in library_duplicates(library)["copies"]] == [{"master.mp4", "small.mp4"}]
        shutil.copy(copies_folder / "trimmed.mp4", folder / "trimmed.mp4")
        (folder / "small.mp4").unlink()
        ingest(library, [folder])
        assert [_names(g) for g in library_duplicates(library)["copies"]] == [{"master.mp4", "trimmed.mp4"}]


def test_another_threshold_is_computed_for_the_run_only(with_copies):
    strict = library_duplicates(with_copies, threshold=0.999)
    assert strict["threshold"] == 0.999
    assert not any("quality.mp4" in _names(g) for g in strict["copies"])  # crf 40 is not that close
    assert [_names(g) for g in library_duplicates(with_copies)["copies"]] == [COPIES]


def test_duplicates_on_the_command_line_and_over_http(with_copies):
    from vsearch.api import create_app
    from vsearch.cli import cli

    settings = with_copies.settings
    env = {"VSEARCH_DATA_DIR": str(settings.data_dir), "VSEARCH_DB_URL": settings.database_url,
           "VSEARCH_MODEL": settings.model}
    run = CliRunner().invoke(cli, ["duplicates", "--json"], env=env, catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert [_names(g) for g in json.loads(run.stdout)["copies"]] == [COPIES]
    text = CliRunner().invoke(cli, ["duplicates"], env=env, catch_exceptions=False)
    assert text.exit_code == 0 and "1 group(s) of copies, 1 group(s) of shared clips" in text.output
    assert "trimmed.mp4" in text.output
    with TestClient(create_app(settings, library=with_copies)) as client:
        page = client.get("/duplicates").json()
        assert [_names(g) for g in page["copies"]] == [COPIES]
        assert client.get("/duplicates", params={"threshold": 2}).status_code == 422
