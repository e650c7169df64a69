"""The cheap exact scorer gives the numbers of X-CLIP's own prompt generator."""

import numpy as np
import pytest
import torch

from vsearch.model.scoring import reference_scores
from vsearch.model.xclip import normalize_rows


@pytest.mark.parametrize("clips", [1, 7, 100])
def test_scorer_equals_prompts_generator(xclip, clips):
    rng = np.random.default_rng(clips)
    features = rng.standard_normal((clips, xclip.prompt_tokens, xclip.embed_dim)).astype(np.float32)
    videos = normalize_rows(rng.standard_normal((clips, xclip.embed_dim))).astype(np.float32)
    text = xclip.text_projections(["a dog playing with a ball"])[0]
    ours = xclip.scorer(text, videos, features)
    reference = reference_scores(xclip.model, text, videos, features)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)


def test_reference_scores_equal_forward(xclip):
    """reference_scores is XCLIPModel.forward's logits_per_video for the same clips and text."""
    pixels = torch.from_numpy(
        np.random.default_rng(5).standard_normal((3, xclip.num_frames, 3, 32, 32)).astype(np.float32))
    tokens = xclip.tokenizer(["eating spaghetti"], return_tensors="pt")
    with torch.inference_mode():
        forward = xclip.model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                              pixel_values=pixels).logits_per_video[:, 0].numpy()
    embedded = xclip.embed_clips(pixels.numpy())
    text = xclip.text_projections(["eating spaghetti"])[0]
    np.testing.assert_allclose(reference_scores(xclip.model, text, embedded.vectors, embedded.prompt_features),
                               forward, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xclip.scorer(text, embedded.vectors, embedded.prompt_features), forward,
                               rtol=1e-5, atol=1e-5)
