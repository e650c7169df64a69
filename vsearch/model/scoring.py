"""Exact X-CLIP scoring: the video-conditioned prompt and `logits_per_video`, for one text and many clips.

`XCLIPModel.forward` adds `prompts_generator(text, visual)` to the text embedding before the cosine,
where `visual` are the clip's frame-averaged projected patch tokens. Run as-is, the generator's
cross-attention projects keys and values for all P tokens of every clip (P x D x D per clip and layer),
which is almost all of its cost. Attention is linear in those projections, so the same numbers come
from moving the projections to the single query side:

    scores_h = (q_h W_k,h) · x_j           instead of   q_h · (W_k,h x_j)
    output_h = W_v,h (Σ_j a_hj x_j)        instead of   Σ_j a_hj (W_v,h x_j)

(k_proj and v_proj have no bias), which costs O(H·P·D) per clip instead of O(P·D²).
"""

from __future__ import annotations

import numpy as np

MANY_CHUNK = 16  # clips per call when many texts are scored at once


class ExactScorer:
    """logits_per_video of one text against N clips, from stored clip embeddings and prompt features."""

    def __init__(self, model, cpu_linear: str = "auto"):
        import copy

        import torch

        # a float32 copy on the CPU: small (a few M parameters), and exact whatever the model's device/dtype
        from vsearch.model.cpu_gemm import use_onednn_linears

        generator = copy.deepcopy(model.prompts_generator).float().cpu().eval()
        use_onednn_linears(generator, cpu_linear)
        self.visual_norm = generator.layernorm
        self.alpha = generator.alpha.detach()
        self.layers = []
        for layer in generator.decoder:
            attention = layer.cross_attn
            heads, head_dim = attention.num_heads, attention.head_dim
            dim = heads * head_dim
            self.layers.append(
                (
                    layer.norm1,
                    attention.q_proj,
                    attention.k_proj.weight.detach().view(heads, head_dim, dim),
                    attention.v_proj.weight.detach().view(heads, head_dim, dim),
                    attention.scale,
                    attention.proj,
                    layer.norm3,
                    layer.mlp,
                )
            )
        self.logit_scale = model.logit_scale.detach().float().cpu().exp()
        self.tiny = torch.finfo(torch.float32).tiny
        self._torch = torch

    def prompted_text(self, text, features):
        """text (D,) raw text embedding, features (N, P, D): the N prompted text embeddings (N, D)."""
        return self.prompted_texts(text[None], features)[:, 0]

    def prompted_texts(self, texts, features):
        """texts (T, D) raw text embeddings, features (N, P, D): each text prompted by each clip (N, T, D)."""
        torch = self._torch
        visual = self.visual_norm(features)
        count, width = features.shape[0], texts.shape[0]
        state = texts[None]  # one row per text until the first attention makes them clip-specific
        for norm1, q_proj, w_k, w_v, scale, proj, norm3, mlp in self.layers:
            heads, head_dim = w_k.shape[0], w_k.shape[1]
            queries = q_proj(norm1(state)).view(state.shape[0], width, heads, head_dim)  # (1 or N, T, H, hd)
            keys_side = (torch.einsum("nthd,hdk->nthk", queries, w_k) * scale).expand(count, -1, -1, -1)
            weights = torch.softmax(torch.einsum("nthk,npk->nthp", keys_side, visual), dim=-1)
            # Softmax over real clips' features underflows to denormal floats, which x86 multiplies many
            # times slower; zeroing them changes nothing above 1e-38. (Not set_flush_denormal: that is
            # a per-thread processor flag, and would change the caller's floating point.)
            weights = weights.masked_fill_(weights < self.tiny, 0.0)
            context = torch.einsum("nthp,npk->nthk", weights, visual)  # (N, T, H, D)
            attended = torch.einsum("nthk,hdk->nthd", context, w_v).reshape(count, width, heads * head_dim)
            state = state + proj(attended)
            state = state + mlp(norm3(state))
        return texts[None] + self.alpha * state

    def __call__(self, text: np.ndarray, videos: np.ndarray, features: np.ndarray) -> np.ndarray:
        """text (D,) raw, videos (N, D) L2-normalised clip embeddings, features (N, P, D) → logits (N,).

        Features may be float16 (as stored); they are computed with in float32.
        """
        torch = self._torch
        with torch.inference_mode():
            prompted = self.prompted_text(torch.from_numpy(np.asarray(text, np.float32)),
                                          torch.from_numpy(np.ascontiguousarray(features)).float())
            prompted = prompted / prompted.norm(p=2, dim=-1, keepdim=True)
            videos_t = torch.from_numpy(np.asarray(videos, np.float32))
            return (self.logit_scale * (videos_t * prompted).sum(dim=-1)).numpy()


    def many(self, texts: np.ndarray, videos: np.ndarray, features: np.ndarray) -> np.ndarray:
        """texts (T, D) raw, videos (N, D), features (N, P, D) → logits (N, T): every text against every clip."""
        torch = self._torch
        texts_t = torch.from_numpy(np.ascontiguousarray(texts, np.float32))
        rows = []
        with torch.inference_mode():
            for start in range(0, len(videos), MANY_CHUNK):  # bounded memory: chunk x T x H x D floats
                features_t = torch.from_numpy(np.ascontiguousarray(features[start : start + MANY_CHUNK])).float()
                videos_t = torch.from_numpy(np.asarray(videos[start : start + MANY_CHUNK], np.float32))
                prompted = self.prompted_texts(texts_t, features_t)
                prompted = prompted / prompted.norm(p=2, dim=-1, keepdim=True)
                rows.append(self.logit_scale * torch.einsum("nd,ntd->nt", videos_t, prompted))
        return torch.cat(rows).numpy() if rows else np.zeros((0, len(texts)), np.float32)


def reference_scores(model, text: np.ndarray, videos: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The same logits through `model.prompts_generator` as `XCLIPModel.forward` calls it (for checking)."""
    import torch

    with torch.inference_mode():
        text_t = torch.from_numpy(np.asarray(text, np.float32))
        expanded = text_t.view(1, 1, -1).expand(len(videos), 1, -1)
        prompted = expanded + model.prompts_generator(expanded, torch.from_numpy(np.asarray(features, np.float32)))
        prompted = prompted / prompted.norm(p=2, dim=-1, keepdim=True)
        videos_t = torch.from_numpy(np.asarray(videos, np.float32))
        logits = torch.einsum("bd,bkd->bk", videos_t, model.logit_scale.exp() * prompted)
        return logits[:, 0].numpy()
