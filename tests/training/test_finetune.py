"""`vsearch finetune` on a tiny checkpoint: the loss falls, the folder it writes loads with --model and
ingests and searches, an interrupted run resumes from its last epoch."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vsearch.cli import cli
from vsearch.evaluation.labels import Moment
from vsearch.training.data import TrainingClip, clip_window
from vsearch.training.finetune import TrainingPlan, batches, offset_slots, split

NAMES = ("h264", "vp9", "mjpeg", "short", "vfr", "rotated", "raw_mpeg1")


@pytest.fixture
def labels(video_files, tmp_path):
    lines = []
    for number, name in enumerate(NAMES):
        lines.append({"query": f"moment of kind {number}", "path": str(video_files[name]), "start": 0.0, "end": 1.5})
        lines.append({"query": f"moment of kind {number}", "path": str(video_files[name]), "start": 0.5, "end": 1.5})
    lines.append({"query": "broken", "path": str(video_files["truncated"]), "start": 30.0, "end": 31.0})
    source = tmp_path / "labels.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return source


@pytest.fixture
def run(tmp_path, checkpoint):
    env = {"VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint), "VSEARCH_DEVICE": "cpu",
           "VSEARCH_PRECISION": "fp32", "VSEARCH_WORKERS": "1", "VSEARCH_CPU_LINEAR": "blas"}

    def invoke(*args, **extra):
        return CliRunner().invoke(cli, list(args), env={**env, **extra}, catch_exceptions=False)

    return invoke


def _train(run, labels, out, epochs, *extra):
    return run("finetune", str(labels), "--out", str(out), "--epochs", str(epochs), "--lr", "1e-3", "--train",
               "all", "--batch-size", "4", "--validation", "0.3", "--json", *extra)


def test_loss_falls_and_the_checkpoint_ingests_and_searches(run, labels, tmp_path, library_folder):
    out = tmp_path / "tuned"
    result = _train(run, labels, out, 10, "--lr", "3e-3", "--frame-order", "0.5")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    losses = [e["loss"] for e in report["epochs"][1:]]
    assert report["plan"]["frame_order"] == 0.5
    assert report["epochs"][0]["epoch"] == 0 and report["epochs"][0]["validation_recall_at_1"] is not None
    assert sum(losses[-3:]) < sum(losses[:3])  # per-epoch losses are noisy: batches hold 2 to 4 queries
    assert report["validation_clips"] > 0 and report["train_clips"] + report["validation_clips"] == 2 * len(NAMES)
    assert "cannot decode" in result.stderr and "labels line 15" in result.stderr
    bank = (out / "relevance_prompts.txt").read_text().splitlines()
    assert bank[0].startswith("#") and "moment of kind 1" in bank and len(bank) == len(set(bank))
    calibration = json.loads((out / "relevance_calibration.json").read_text())
    assert calibration["matches"]["clips"] == report["train_clips"] and calibration["queries"] > 1
    low, high = calibration["matches"]["percentile_1"], calibration["non_matches"]["percentile_99"]
    assert calibration["match_level"] == pytest.approx((low + high) / 2, abs=1e-3)
    assert 0.2 <= calibration["min_relevance"] <= 0.999
    assert calibration["min_relevance"] == pytest.approx(
        min(max(calibration["relevance"]["matches_percentile_5"], 0.2), 0.999), abs=1e-3)
    assert report["merged_queries"] == calibration["merged_queries"]  # a list of pairs; the tiny model's vary

    assert run("--model", str(out), "ingest", str(library_folder), "-q").exit_code == 1  # bad files on purpose
    found = run("--model", str(out), "query", "moment of kind 1", "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["results"]

    again = _train(run, labels, out, 4)
    assert again.exit_code == 3 and "--resume" in again.stderr


def test_an_interrupted_run_resumes_after_its_last_epoch(run, labels, tmp_path):
    out = tmp_path / "tuned"
    first = _train(run, labels, out, 1, "--shift", "0.25", "--offset-negatives", "0.5", "--offset-windows", "1",
                   "--background-negatives", "2")
    assert first.exit_code == 0, first.output  # as if stopped after its first epoch
    result = _train(run, labels, out, 3, "--resume")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [e["epoch"] for e in report["epochs"]] == [0, 1, 2, 3]
    assert report["plan"]["shift"] == 0.25 and report["plan"]["offset_negatives"] == 0.5
    assert report["plan"]["offset_windows"] == 1  # the resumed run keeps the saved plan
    assert all(e["loss"] is None or np.isfinite(e["loss"]) for e in report["epochs"])
    non_matches = json.loads((out / "relevance_calibration.json").read_text())["non_matches"]
    assert non_matches["other_queries"] > 0 and non_matches["moved_windows"] > 0 and non_matches["backgrounds"] > 0


def _clip(query: str) -> TrainingClip:
    return TrainingClip(Moment(query, "/v.mp4", 0.0, 1.0), None)


def test_batches_cover_every_clip_once_and_splits_hold_out_whole_queries():
    import random

    clips = [_clip(q) for q in "aabbccddeeff"]
    out = batches(clips, 4, random.Random(0))
    assert sorted(id(c) for batch in out for c in batch) == sorted(id(c) for c in clips)
    assert all(len(batch) <= 4 and len({c.moment.query for c in batch}) >= 2 for batch in out)
    assert batches([_clip("a"), _clip("a")], 4, random.Random(0)) == []  # one query: nothing to contrast
    train, held = split(clips, 0.34, seed=1)
    assert {c.moment.query for c in train}.isdisjoint({c.moment.query for c in held})
    assert len({c.moment.query for c in held}) == 2
    assert clip_window(Moment("q", "/v", 10.0, 30.0), 4.0) == (18.0, 22.0)
    assert clip_window(Moment("q", "/v", 10.0, 12.0), 4.0) == (10.0, 12.0)


def test_the_finetune_benchmark_runs(tmp_path):
    """bench/finetune.py's figures come from the same training step (here on the tiny checkpoint)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "bench" / "finetune.py"), "--tiny", "--steps", "1",
                          "--batch-size", "2", "--precision", "fp32"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert [r["parts"] for r in results] == ["light", "all"]
    assert results[0]["trainable_parameters"] < results[1]["trainable_parameters"]
    assert all(r["clips_per_second"] > 0 and r["peak_rss_mb"] > 0 for r in results)


def test_offset_windows_start_beyond_the_shift():
    # 4 frames a clip: a shift of 0.25 moves a positive one slot, so offsets take 2 or 3 slots (at most 0.75)
    assert offset_slots(TrainingPlan(shift=0.25, offset_negatives=0.75), 4) == (2, 3)
    assert offset_slots(TrainingPlan(shift=0.25, offset_negatives=0.5), 4) == (2, 2)
    assert offset_slots(TrainingPlan(offset_negatives=0.5), 8) == (1, 4)  # no shift: from one slot
    assert offset_slots(TrainingPlan(shift=0.5, offset_negatives=0.5), 4) == (2, 2)  # never beyond the furthest


def test_weight_decay_spares_biases_norms_and_the_logit_scale(checkpoint):
    from vsearch.media.resize import PreprocessSpec
    from vsearch.model.xclip import load_pretrained
    from vsearch.training.finetune import Trainer

    processor, model = load_pretrained(str(checkpoint))
    spec = PreprocessSpec.from_image_processor(processor.image_processor)
    trainer = Trainer(model, processor, spec, TrainingPlan(parts="all", weight_decay=0.3))
    decay = {id(p): group["weight_decay"] for group in trainer.optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert len(decay) == len(named)  # every trained weight in exactly one group
    assert decay[id(named["logit_scale"])] == 0.0
    assert decay[id(named["prompts_generator.alpha"])] == 0.0
    assert decay[id(named["text_projection.weight"])] == 0.3
    assert decay[id(named["text_model.embeddings.token_embedding.weight"])] == 0.3
    assert all(rate == 0.0 for name, rate in ((n, decay[id(p)]) for n, p in named.items())
               if name.endswith(".bias") or "layer_norm" in name or "layernorm" in name)
