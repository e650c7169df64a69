"""`vsearch eval` on a real ingested library, with labels made from its own rankings so that the right
numbers are known before it runs."""

import json

import pytest
from click.testing import CliRunner

from vsearch.cli import cli
from vsearch.evaluation.labels import read_labels
from vsearch.evaluation.metrics import Span, overlaps
from vsearch.evaluation.run import SearchSettings, evaluate
from vsearch.search import search

K = 5


def _span(result) -> Span:
    return Span(result.path, result.start, result.end)


@pytest.fixture(scope="module", params=["clip", "moment"])
def labelled(request, ingested, tmp_path_factory):
    """Four queries: q1's label is its top result (rank 1, IoU 1); q2's is a video missing from its top k (no
    hit); q3's is the first of its results that overlaps none above it (rank r, top IoU 0); q4's is its top
    result shifted by 30 % of its length (rank 1, IoU 0.7/1.3). Plus a file the library lacks."""
    library = ingested.library
    ranked = {q: search(library, q, K, group=request.param).results for q in ("q1 a square", "q2 a circle", "q3 stripes", "q4 red")}
    top = ranked["q1 a square"][0]
    lines = [{"query": "q1 a square", "path": top.path, "start": top.start, "end": top.end}]
    shown = {r.path for r in ranked["q2 a circle"]}
    absent = next(path for path in ingested.summary.indexed if path not in shown)
    lines.append({"query": "q2 a circle", "path": absent, "start": 0.0, "end": 1.0})
    results = ranked["q3 stripes"]
    rank = next(n for n in range(2, K + 1)
                if not any(overlaps(_span(results[n - 1]), _span(r)) for r in results[: n - 1]))
    third = results[rank - 1]
    lines.append({"query": "q3 stripes", "path": third.path, "start": third.start, "end": third.end})
    fourth = ranked["q4 red"][0]
    shift = 0.3 * (fourth.end - fourth.start)
    lines.append({"query": "q4 red", "path": fourth.path, "start": fourth.start + shift, "end": fourth.end + shift})
    lines.append({"query": "q5 gone", "path": "/nowhere/gone.mp4", "start": 0, "end": 1})
    source = tmp_path_factory.mktemp("labels") / "labels.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    return source, rank, request.param


def test_measures_match_the_known_answers(ingested, labelled):
    source, rank, group = labelled
    evaluation = evaluate(ingested.library, read_labels(source), K, [SearchSettings(group=group)])
    metrics = evaluation.runs[0]["metrics"]
    assert metrics["queries"] == 4
    assert metrics["recall@1"] == 0.5 and metrics["recall@5"] == 0.75 and metrics["recall@10"] is None
    assert metrics["first_hit_median_rank"] == 1
    assert metrics["first_hit_mean_rank"] == pytest.approx((2 + rank) / 3, abs=1e-3)
    assert metrics["no_hit_in_top_k"] == 1
    assert metrics["moment_recall@1_iou0.5"] == 0.5 and metrics["moment_recall@1_iou0.7"] == 0.25
    rows = {row["query"]: row for row in evaluation.runs[0]["queries"]}
    assert rows["q3 stripes"]["first_hit_rank"] == rank and rows["q2 a circle"]["first_hit_rank"] is None
    assert rows["q4 red"]["top_iou"] == pytest.approx(0.7 / 1.3, abs=1e-3)
    assert evaluation.missing == {"/nowhere/gone.mp4": [5]}
    assert evaluation.unanswerable == ["q5 gone"]
    assert evaluation.labels.problems == [(6, "not JSON (Expecting value)")]


def test_the_command_compares_settings_side_by_side(ingested, labelled):
    source, _, group = labelled
    settings = ingested.library.settings
    env = {"VSEARCH_DATA_DIR": str(settings.data_dir), "VSEARCH_DB_URL": settings.db_url,
           "VSEARCH_MODEL": settings.model, "VSEARCH_DEVICE": "cpu", "VSEARCH_PRECISION": "fp32",
           "VSEARCH_CPU_LINEAR": "blas"}
    other = "clip" if group == "moment" else "moment"
    result = CliRunner().invoke(cli, ["eval", str(source), "-k", str(K), "--json", "--group", group, "--compare",
                                      "rerank=off", "--compare", f"overfetch=2,group={other}"], env=env,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(run["name"], run["rerank"], run["overfetch"], run["group"]) for run in report["runs"]] == [
        ("default", True, settings.overfetch, group), ("rerank=off", False, settings.overfetch, group),
        (f"overfetch=2,group={other}", True, 2, other)]
    assert report["runs"][0]["metrics"]["recall@1"] == 0.5  # the labels' known answer in their own unit
    assert report["runs"][1]["ranking"] == "embedding-cosine" and report["runs"][0]["ranking"] == "xclip"
    assert report["missing_files"] == [{"path": "/nowhere/gone.mp4", "lines": [5]}]
    assert "not in the library (lines 5): /nowhere/gone.mp4" in result.stderr
    assert "labels line 6: not JSON" in result.stderr

    table = CliRunner().invoke(cli, ["eval", str(source), "-k", str(K)], env=env, catch_exceptions=False)
    assert table.exit_code == 0
    assert "recall@1" in table.stdout and "moment recall@1, IoU>=0.5" in table.stdout

    bad = CliRunner().invoke(cli, ["eval", str(source), "--compare", "speed=11"], env=env)
    assert bad.exit_code == 2 and "rerank=on|off, overfetch=N" in bad.output
