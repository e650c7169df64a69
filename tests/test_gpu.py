"""The CUDA path: the same model, ingest and search on a GPU agree with the CPU (skipped without CUDA)."""

import numpy as np
import pytest
import torch

from vsearch.ingest import ingest
from vsearch.library import Library
from vsearch.model.xclip import XClip
from vsearch.search import search

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _cosines(a, b):
    a = a.reshape(len(a), -1)
    b = b.reshape(len(b), -1)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def pixels(xclip):
    size = xclip.model.config.vision_config.image_size
    return np.random.default_rng(0).standard_normal((5, xclip.num_frames, 3, size, size)).astype(np.float32)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_clip_embeddings_on_cuda_match_the_cpu(checkpoint, xclip, pixels, precision):
    gpu = XClip.load(str(checkpoint), str(checkpoint), device="cuda", precision=precision)
    assert next(gpu.model.parameters()).is_cuda
    on_cpu, on_gpu = xclip.embed_clips(pixels), gpu.embed_clips(pixels)
    assert on_gpu.vectors.dtype == np.float32 and on_gpu.vectors.shape == on_cpu.vectors.shape
    tolerance = 1e-5 if precision == "fp32" else 2e-3
    assert _cosines(on_cpu.vectors, on_gpu.vectors).min() > 1 - tolerance
    assert _cosines(on_cpu.prompt_features, on_gpu.prompt_features).min() > 1 - tolerance


def test_text_and_scores_on_cuda_match_the_cpu(checkpoint, xclip, pixels):
    gpu = XClip.load(str(checkpoint), str(checkpoint), device="cuda", precision="auto")
    assert gpu.precision == "fp16"
    texts = ["a dog catching a ball", "eating spaghetti"]
    assert _cosines(xclip.embed_text(texts), gpu.embed_text(texts)).min() > 0.999
    clips = xclip.embed_clips(pixels)
    text = xclip.text_projections(texts[:1])[0]
    expected = xclip.scorer(text, clips.vectors, clips.prompt_features)
    np.testing.assert_allclose(gpu.scorer(text, clips.vectors, clips.prompt_features), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("workers", [0, 2])
def test_ingest_and_search_on_cuda(tmp_path, checkpoint, xclip, library_folder, workers):
    from vsearch.config import Settings

    def library_on(device, precision, name, model=None):
        settings = Settings(data_dir=tmp_path / name, db_url=f"sqlite:///{tmp_path / name}.db", model=str(checkpoint),
                            device=device, precision=precision, workers=workers, batch_size=4)
        return Library(settings, model=model)

    on_cpu = library_on("cpu", "fp32", "cpu", model=xclip)
    on_gpu = library_on("cuda", "fp16", "gpu")
    try:
        assert ingest(on_cpu, [library_folder]).clips == ingest(on_gpu, [library_folder]).clips > 0
        assert on_gpu.model.device == "cuda"
        for query in ("a red square moving", "noise"):
            expected, got = search(on_cpu, query, k=5), search(on_gpu, query, k=5)
            assert got.ranking == expected.ranking
            # half-precision embeddings move scores a little; ties aside, the same clips come first
            assert [r.score for r in got.results] == pytest.approx([r.score for r in expected.results], rel=0.03)
            assert {(r.path, r.start) for r in got.results[:3]} & {(r.path, r.start) for r in expected.results[:3]}
    finally:
        on_cpu.close()
        on_gpu.close()


def test_finetune_on_cuda_trains_saves_and_searches(tmp_path, checkpoint, video_files, library_folder):
    """`vsearch finetune` with the model on the GPU (bf16 autocast where the card has it): it trains, and the
    folder it writes loads, ingests and searches on the GPU."""
    import json

    from click.testing import CliRunner

    from vsearch.cli import cli

    lines = [{"query": f"moment of kind {n}", "path": str(video_files[name]), "start": start, "end": 1.5}
             for n, name in enumerate(("h264", "vp9", "mjpeg", "short")) for start in (0.0, 0.5)]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(line) + "\n" for line in lines))
    env = {"VSEARCH_DATA_DIR": str(tmp_path / "data"), "VSEARCH_MODEL": str(checkpoint), "VSEARCH_DEVICE": "cuda",
           "VSEARCH_PRECISION": "auto", "VSEARCH_WORKERS": "1"}
    out = tmp_path / "tuned"
    result = CliRunner().invoke(cli, ["finetune", str(labels), "--out", str(out), "--epochs", "3", "--lr", "1e-3",
                                      "--train", "all", "--batch-size", "4", "--validation", "0.25", "--json"],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert all(e["loss"] is None or np.isfinite(e["loss"]) for e in report["epochs"])
    assert report["train_clips"] > 0
    found = CliRunner().invoke(cli, ["--model", str(out), "ingest", str(library_folder), "-q"], env=env)
    assert found.exit_code in (0, 1)  # the library folder holds bad files on purpose
    query = CliRunner().invoke(cli, ["--model", str(out), "query", "moment of kind 1", "--json"], env=env)
    assert query.exit_code == 0 and json.loads(query.stdout)["results"]


def test_ray_ingest_puts_a_gpu_actor_on_the_gpu(tmp_path, checkpoint, library_folder):
    """`--ray` on a GPU machine: a cluster of this machine, one embedding actor holding the model on the GPU;
    the same clips as a local GPU ingest."""
    pytest.importorskip("ray")
    from vsearch.config import Settings

    def library_on(name, **changes):
        settings = Settings(data_dir=tmp_path / name, db_url=f"sqlite:///{tmp_path / name}.db", model=str(checkpoint),
                            device="cuda", precision="fp16", workers=1, batch_size=4, **changes)
        return Library(settings)

    local, on_ray = library_on("local"), library_on("ray", ray_address="local")
    try:
        expected, summary = ingest(local, [library_folder]), ingest(on_ray, [library_folder])
        assert summary.clips == expected.clips > 0 and sorted(summary.indexed) == sorted(expected.indexed)
        for query in ("a red square moving", "noise"):
            want, got = search(local, query, k=5), search(on_ray, query, k=5)
            assert [r.score for r in got.results] == pytest.approx([r.score for r in want.results], rel=0.03)
    finally:
        local.close()
        on_ray.close()
