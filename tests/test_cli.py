"""The real `vsearch` commands, in process (CliRunner) and as a subprocess."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.videos import BAD, GOOD
from vsearch.cli import EXIT_ERROR, EXIT_FAILED_FILES, cli


@pytest.fixture
def run(tmp_path, checkpoint, db_url):
    env = {"VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint), "VSEARCH_DB_URL": db_url,
           "VSEARCH_WORKERS": "1", "VSEARCH_PRECISION": "fp32"}

    def invoke(*args, **extra_env):
        return CliRunner().invoke(cli, list(args), env={**env, **extra_env}, catch_exceptions=False)

    return invoke


def test_help_lists_commands_and_exit_codes():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "query", "status", "export", "reindex", "prune"):
        assert command in result.output
    ingest_help = CliRunner().invoke(cli, ["ingest", "--help"]).output
    assert "Exit status" in ingest_help and "VSEARCH_WORKERS" in ingest_help


def test_ingest_query_status_export_reindex(run, library_folder, video_files):
    result = run("ingest", str(library_folder), "--json")
    assert result.exit_code == EXIT_FAILED_FILES  # the library holds broken files on purpose
    summary = json.loads(result.stdout)
    assert len(summary["indexed"]) == len(GOOD) and len(summary["failed"]) == len(BAD)
    assert set(summary["timings"]) == {"start", "decode", "preprocess", "embed", "write", "duplicates"}

    result = run("query", "a white square", "-k", "3", "--json", "--group", "clip")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) >= {"query", "model", "took_ms", "results"} and payload["group"] == "clip"
    assert [r["rank"] for r in payload["results"]] == [1, 2, 3]
    first = payload["results"][0]
    assert set(first) == {"rank", "score", "clip_id", "video_id", "path", "start", "end", "video", "relevance",
                          "also_in"}
    assert 0 <= first["relevance"] <= 1
    assert os.path.isabs(first["path"]) and isinstance(first["start"], float)
    assert set(first["video"]) == {"duration", "width", "height", "fps", "codec", "container", "recorded_at",
                                   "recorded_from", "modified_at"}
    assert first["video"]["recorded_from"] == "file" and first["video"]["recorded_at"].endswith("+00:00")

    moments = json.loads(run("query", "a white square", "-k", "3", "--json").stdout)  # moments by default
    assert moments["group"] == "moment" and len(moments["results"]) == 3
    assert set(moments["results"][0]) == {"rank", "score", "clip_id", "video_id", "path", "start", "end", "peak",
                                          "clip_ids", "video", "relevance", "also_in"}
    assert moments["results"][0]["score"] == payload["results"][0]["score"]  # the best clip leads both
    videos = json.loads(run("query", "a white square", "--json", "--group", "video").stdout)["results"]
    assert len({v["video_id"] for v in videos}) == len(videos) == len(GOOD)
    assert all(1 <= len(v["moments"]) <= min(3, v["total_moments"]) for v in videos)
    assert "moment(s)" in run("query", "a white square", "--group", "video", "-k", "1").stdout

    table = run("query", "a white square", "-k", "2")
    assert table.exit_code == 0 and len(table.stdout.strip().splitlines()) == 2
    assert "0:00:0" in table.stdout

    nothing = run("query", "a white square", "--min-relevance", "1")
    assert nothing.exit_code == 0 and nothing.stdout.strip() == "no good match for 'a white square'"
    assert "below the cut-off 1" in nothing.stderr and "--min-relevance" in nothing.stderr
    below = json.loads(run("query", "a white square", "--min-relevance", "1", "-k", "2", "--json").stdout)
    assert below["results"] == [] and below["no_good_match"] is True and len(below["below_cutoff"]) == 2
    newest = json.loads(run("query", "a white square", "--sort", "date", "--json").stdout)
    assert newest["sort"] == "date"
    dates = [r["video"]["recorded_at"] for r in newest["results"]]
    assert dates == sorted(dates, reverse=True)
    assert run("query", "a white square", "--min-relevance", "2").exit_code == 2

    like = json.loads(run("query", "--like", str(first["clip_id"]), "--group", "clip", "--json").stdout)
    assert like["ranking"] == "video-cosine" and like["query"] == f"clip {first['clip_id']}"
    assert like["results"] and first["clip_id"] not in [r["clip_id"] for r in like["results"]]
    assert all(r["relevance"] is None for r in like["results"])
    shown = run("query", "--video", str(video_files["h264"]), "--at", "1", "-k", "2")
    assert shown.exit_code == 0 and len(shown.stdout.strip().splitlines()) == 2 and "   -  " in shown.stdout
    bad = run("query", "--image", str(video_files["text"]))
    assert bad.exit_code == 2 and "not an image" in bad.stderr and video_files["text"].name in bad.stderr
    assert run("query", "a cat", "--like", "1").exit_code == 2
    assert "no clip 999999" in run("query", "--like", "999999").stderr

    status = json.loads(run("status", "--json").stdout)
    assert status["videos"] == {"indexed": len(GOOD), "failed": len(BAD)}
    assert "failed" in run("status").stdout

    lines = run("export").stdout.strip().splitlines()
    assert len(lines) == status["clips"]
    record = json.loads(lines[0])
    assert set(record) == {"clip_id", "video_id", "path", "start", "end", "frame_indices", "frame_times", "model",
                           "embedding"}
    assert len(record["embedding"]) == 16

    assert run("reindex").exit_code == 0
    again = run("ingest", str(video_files["h264"]), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 1


def test_status_shows_the_approximate_index_and_its_recall(run, video_files):
    assert run("ingest", str(video_files["h264"])).exit_code == 0
    before = json.loads(run("status", "--json", VSEARCH_INDEX_THRESHOLD="2").stdout)["index"]
    assert before["kind"] == "flat" and before["state"].startswith("rebuilt as ivf")
    assert run("reindex", VSEARCH_INDEX_THRESHOLD="2").exit_code == 0  # past the threshold: IVF
    index = json.loads(run("status", "--json").stdout)["index"]
    params = index["params"]
    assert (params.get("planned") or params["kind"]) == "ivf" and params["nlist"] >= 1
    assert params["recall_at_10"] is not None
    assert "IVF" in run("status").stdout
    result = run("query", "a white square", "-k", "2", "--json", VSEARCH_INDEX_THRESHOLD="2")
    assert result.exit_code == 0 and len(json.loads(result.stdout)["results"]) == 2


def test_empty_library_query_is_a_clear_message(run):
    result = run("query", "anything")
    assert result.exit_code == EXIT_ERROR
    assert "vsearch ingest" in result.stderr and "Traceback" not in result.output


def test_bad_model_is_one_line_without_traceback(run, video_files, tmp_path):
    result = run("ingest", str(video_files["short"]), VSEARCH_MODEL=str(tmp_path / "nowhere"))
    assert result.exit_code == EXIT_ERROR
    assert result.stderr.count("\n") == 1 and "--model" in result.stderr


def test_invalid_setting_is_a_usage_error(run, video_files):
    result = run("ingest", str(video_files["short"]), "--clip-seconds", "-1")
    assert result.exit_code == 2 and "clip_seconds" in result.output


def test_real_process(tmp_path, checkpoint, video_files):
    """`python -m vsearch` as a user runs it: exit status, stdout JSON, progress on stderr."""
    env = {**os.environ, "VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint)}
    ingest = subprocess.run([sys.executable, "-m", "vsearch", "ingest", str(video_files["vp9"])], env=env,
                            capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    assert "indexed 1" in ingest.stderr
    query = subprocess.run([sys.executable, "-m", "vsearch", "query", "blue", "--json"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout)["results"][0]["path"] == str(video_files["vp9"])
