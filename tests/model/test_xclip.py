import numpy as np
import pytest
import torch

from vsearch.errors import ModelLoadError
from vsearch.model.preprocess import preprocess_frames
from vsearch.model.xclip import XClip, resolve_precision


def _unwrap(output):
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def test_clip_embeddings_equal_get_video_features(xclip, checkpoint):
    from transformers import XCLIPProcessor

    processor = XCLIPProcessor.from_pretrained(checkpoint)
    rng = np.random.default_rng(0)
    clips = [[rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(xclip.num_frames)] for _ in range(3)]
    ours = xclip.embed_clips(np.stack([preprocess_frames(c, xclip.spec) for c in clips]))
    with torch.inference_mode():
        reference = _unwrap(
            xclip.model.get_video_features(pixel_values=processor(videos=clips, return_tensors="pt").pixel_values)
        )
    reference = torch.nn.functional.normalize(reference, dim=-1).numpy()
    cosine = (ours.vectors * reference).sum(axis=1)
    assert cosine.min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(ours.vectors, axis=1), 1.0, atol=1e-5)


def test_prompt_features_are_what_forward_feeds_the_prompt_generator(xclip):
    pixels = np.random.default_rng(1).standard_normal((2, xclip.num_frames, 3, 32, 32)).astype(np.float32)
    features = xclip.embed_clips(pixels).prompt_features
    model = xclip.model
    with torch.inference_mode():
        vision = model.vision_model(pixel_values=torch.from_numpy(pixels).flatten(0, 1))
        patches = model.prompts_visual_layernorm(vision[0][:, 1:, :]) @ model.prompts_visual_projection
        expected = patches.view(2, xclip.num_frames, -1, model.config.projection_dim).mean(dim=1).numpy()
    np.testing.assert_allclose(features, expected, atol=1e-5)


def test_text_embeddings_equal_get_text_features(xclip):
    texts = ["eating spaghetti", "a red car on the street"]
    ours = xclip.embed_text(texts)
    tokens = xclip.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        reference = _unwrap(xclip.model.get_text_features(**tokens))
    reference = torch.nn.functional.normalize(reference, dim=-1).numpy()
    assert (ours * reference).sum(axis=1).min() >= 0.9999


def test_sizes_come_from_the_config(xclip):
    assert xclip.num_frames == 4 and xclip.embed_dim == 16


def test_unloadable_model_is_one_clear_error(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        XClip.load(str(tmp_path / "no-such-checkpoint"), device="cpu")
    assert "--model" in str(error.value) and "VSEARCH_MODEL" in str(error.value)
    assert "\n" not in str(error.value)


def test_offline_hub_id_is_one_clear_error():
    with pytest.raises(ModelLoadError, match="Offline, download it"):
        XClip.load("microsoft/xclip-does-not-exist", device="cpu")


def test_precision_auto():
    assert resolve_precision("auto", "cuda") == "fp16"
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") in ("fp32", "bf16")


def test_bf16_stays_close_to_fp32(checkpoint, xclip):
    fast = XClip.load(str(checkpoint), device="cpu", precision="bf16")
    pixels = np.random.default_rng(2).standard_normal((2, xclip.num_frames, 3, 32, 32)).astype(np.float32)
    a, b = xclip.embed_clips(pixels).vectors, fast.embed_clips(pixels).vectors
    assert (a * b).sum(axis=1).min() >= 0.99


def test_bf16_text_embeddings_stay_close_to_fp32(checkpoint, xclip):
    fast = XClip.load(str(checkpoint), device="cpu", precision="bf16")
    texts = ["a dog running on the beach", "eating spaghetti", "x"]
    a, b = xclip.embed_text(texts), fast.embed_text(texts)
    assert b.dtype == np.float32 and (a * b).sum(axis=1).min() >= 0.99
    # the rerank keeps its own float32 copy of the prompt generator: scores stay exact for a given text
    assert str(fast.scorer.layers[0][1].weight.dtype) == "torch.float32"
