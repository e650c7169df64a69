"""bench/temporal.py end to end at a toy size: generate, ingest before, fine-tune, ingest after, control."""

import json
import subprocess
import sys
from pathlib import Path


def test_the_temporal_benchmark_runs_and_reports(tmp_path):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "bench" / "temporal.py"), "--videos-per-sentence", "1",
                          "--test-videos-per-sentence", "1", "--epochs", "1", "--reversed-negatives",
                          "--offset-negatives", "0.5", "--background-negatives", "2", "--frames", "4",
                          "--work", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["test_after_training"]["queries"] == 20
    assert report["held_out_colour_motion_pairs"]["after_training"]["queries"] == 4
    assert set(report["time_order_control"]) >= {"motion_queries_in_order", "motion_queries_frames_shuffled",
                                                 "motion_queries_frames_reversed", "frames_reversed"}
    probe = report["frame_position_probe"]["after_training"]
    assert set(probe) == {"x", "y", "side"} and all(value <= 1 for value in probe.values())
    assert json.loads((tmp_path / "xclip-tuned" / "config.json").read_text())["vision_config"]["num_frames"] == 4
    assert len(report["loss_curve"]) == 1 and report["seconds"]["total"] > 0
    relevance = report["relevance_no_good_match"]
    # each sentence is absent from one of the four libraries and present in the other three
    assert (relevance["test_split"]["absent_queries"], relevance["test_split"]["present_queries"]) == (20, 60)
    assert (relevance["with_held_out_pairs"]["absent_queries"],
            relevance["with_held_out_pairs"]["present_queries"]) == (24, 72)
    assert isinstance(relevance["test_split"]["meets_targets_at_default"], bool)
    assert relevance["search_agrees_with_the_sweep"]
    assert len(json.loads((tmp_path / "relevance.json").read_text())["test_split"]["sweep"]) > 10
