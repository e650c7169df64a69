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
                       clip_seconds=2.0, stride_seconds=2.0, fold_copies=True) as once:
        assert not once.summary.failed
        yield once.library


def _env(settings) -> dict[str, str]:
    """The environment that points the `vsearch` command at the library of `settings`."""
    return {"VSEARCH_DATA_DIR": str(settings.data_dir), "VSEARCH_DB_URL": settings.database_url,
            "VSEARCH_MODEL": settings.model, "VSEARCH_FOLD_COPIES": "true"}


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
    assert shared and all(names == {"title-a.mp4", "title-b.mp4"} for names in shared)  # one group per clip
    starts = sorted(c["start"] for group in found["shared_clips"] for c in group["clips"])
    assert starts[0] == 0.0 and starts[-1] < 3.0  # the 3 s title only


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
    env = _env(settings)
    run = CliRunner().invoke(cli, ["duplicates", "--json"], env=env, catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert [_names(g) for g in json.loads(run.stdout)["copies"]] == [COPIES]
    text = CliRunner().invoke(cli, ["duplicates"], env=env, catch_exceptions=False)
    assert text.exit_code == 0 and "1 group(s) of copies" in text.output
    assert "trimmed.mp4" in text.output
    with TestClient(create_app(settings, library=with_copies)) as client:
        page = client.get("/duplicates").json()
        assert [_names(g) for g in page["copies"]] == [COPIES]
        assert client.get("/duplicates", params={"threshold": 2}).status_code == 422


def _copy_names(results) -> list[str]:
    return [Path(r.path).name for r in results if Path(r.path).name in COPIES]


@pytest.mark.parametrize("group", ["clip", "moment", "video"])
def test_results_from_copies_fold_into_the_best_of_them(with_copies, group):
    from vsearch.search import search

    folded = search(with_copies, "a red circle", k=100, group=group).results
    every = search(with_copies, "a red circle", k=100, group=group, fold=False).results
    assert len(set(_copy_names(every))) == len(COPIES)  # unfolded, every copy has results of its own
    if group == "video":  # one row for the six files (each lists its best moments only)
        assert len(_copy_names(folded)) == 1
        row = next(r for r in folded if Path(r.path).name in COPIES)
        assert {Path(e["path"]).name for e in row.also_in} | {Path(row.path).name} == COPIES
        return
    # what was folded is exactly what is missing: every unfolded result is listed or in an also_in
    listed = {(r.video_id, r.clip_id) for r in _units(folded)}
    also = {(e["video_id"], e["clip_id"]) for r in _units(folded) for e in r.also_in}
    assert listed | also == {(r.video_id, r.clip_id) for r in _units(every)}
    assert not listed & also
    copies = [r for r in _units(folded) if r.also_in]
    assert copies and all(Path(e["path"]).name in COPIES for r in copies for e in r.also_in)
    assert all(r.score >= max(_score_of(every, e["clip_id"]) for e in r.also_in) - 1e-6 for r in copies)


def _units(results):
    return [m for r in results for m in (r.moments if hasattr(r, "moments") else [r])]


def _score_of(results, clip_id):
    return next(u.score for u in _units(results) if u.clip_id == clip_id)


@pytest.mark.parametrize("group", ["clip", "moment"])
def test_folded_pages_never_repeat_or_skip(with_copies, group):
    from vsearch.search import search

    whole = [r.clip_id for r in search(with_copies, "a blue square", k=40, group=group).results]
    paged = [r.clip_id for offset in range(0, 40, 7)
             for r in search(with_copies, "a blue square", k=7, offset=offset, group=group).results]
    assert paged[: len(whole)] == whole


def test_folding_on_the_command_line_and_over_http(with_copies):
    from vsearch.api import create_app
    from vsearch.cli import cli

    settings = with_copies.settings
    env = _env(settings)
    text = CliRunner().invoke(cli, ["query", "a red circle", "--group", "video", "-k", "20"], env=env,
                              catch_exceptions=False)
    assert text.exit_code == 0 and "(also in 5 other files)" in text.output
    unfolded = CliRunner().invoke(cli, ["query", "a red circle", "--group", "video", "-k", "20", "--no-fold",
                                        "--json"], env=env, catch_exceptions=False)
    rows = json.loads(unfolded.stdout)["results"]
    assert {Path(r["path"]).name for r in rows} >= COPIES and not any(r["also_in"] for r in rows)
    with TestClient(create_app(settings, library=with_copies)) as client:
        page = client.get("/search", params={"q": "a red circle", "group": "video", "k": 20}).json()
        assert sum(Path(r["path"]).name in COPIES for r in page["results"]) == 1
        row = next(r for r in page["results"] if r["also_in"])
        assert {Path(c["path"]).name for c in row["also_in"]} | {Path(row["path"]).name} == COPIES
        page = client.get("/search", params={"q": "a red circle", "group": "video", "k": 20, "fold": False}).json()
        assert sum(Path(r["path"]).name in COPIES for r in page["results"]) == len(COPIES)



@pytest.mark.parametrize("group", ["clip", "moment"])
def test_eval_counts_a_labelled_copy_folded_into_a_result(with_copies, tmp_path, group):
    from vsearch.evaluation.labels import read_labels
    from vsearch.evaluation.run import SearchSettings, evaluate
    from vsearch.search import search

    results = search(with_copies, "a red circle", k=10, group=group).results
    rank, result = next((n, r) for n, r in enumerate(results, start=1) if r.also_in)
    copy = result.also_in[0]  # shown only as "also in" this result
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"query": "a red circle", "path": copy["path"], "start": copy["start"],
                                  "end": copy["end"]}) + "\n")
    run = evaluate(with_copies, read_labels(labels), k=10, runs=[SearchSettings(group=group)]).runs[0]
    assert run["queries"][0]["first_hit_rank"] == rank

def _forget_prints(library) -> None:
    """As a library indexed before fingerprints were kept (migration 0005) holds them: none."""
    from sqlalchemy import delete

    from vsearch.store.models import DuplicateSpan, VideoPrints

    with library.store.begin() as session:
        session.execute(delete(DuplicateSpan))
        session.execute(delete(VideoPrints))


def test_videos_indexed_before_prints_get_them_without_embedding_again(tmp_path, checkpoint, xclip, copies_folder):
    from vsearch.cli import cli

    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("master.mp4", "trimmed.mp4", "other.mp4"):
        shutil.copy(copies_folder / name, folder / name)
    with ingested_once("sqlite", tmp_path, checkpoint, xclip, [folder], clip_seconds=2.0, stride_seconds=2.0) as once:
        library = once.library
        before = library_duplicates(library)["copies"]
        _forget_prints(library)
        lacking = library_duplicates(library)
        assert lacking["copies"] == [] and len(lacking["videos_without_prints"]) == 3
        env = _env(library.settings)
        run = CliRunner().invoke(cli, ["db", "upgrade"], env=env, catch_exceptions=False)
        assert run.exit_code == 0 and "fingerprinted 3 video(s)" in run.output
        after = library_duplicates(library)
        assert after["copies"] == before and after["videos_without_prints"] == []
        _forget_prints(library)  # the next ingest of the folder prints them too, embedding nothing
        summary = ingest(library, [folder])
        assert summary.clips == 0 and library_duplicates(library)["copies"] == before
