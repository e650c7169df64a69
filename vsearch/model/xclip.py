"""Embed: the X-CLIP model from transformers, loaded by hub id or local directory.

One vision forward pass per batch gives both the clip embedding (exactly what
`get_video_features` returns) and the clip's frame-averaged projected patch features, which
`XCLIPModel.forward` feeds to its prompt generator; keeping them lets search score a clip
exactly as the model does without decoding the video again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from vsearch.errors import ModelLoadError, first_line
from vsearch.media.resize import PreprocessSpec

log = logging.getLogger(__name__)

def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX or AVX512-BF16, where bf16 matmuls beat fp32 severalfold."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))


def resolve_device(setting: str) -> str:
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("VSEARCH_DEVICE=cuda, but torch sees no CUDA device; use --device cpu.")
    return setting


def resolve_precision(setting: str, device: str) -> str:
    if setting != "auto":
        return setting
    if device == "cuda":
        return "fp16"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def _from_pretrained(model: str, local_files_only: bool):
    from transformers import XCLIPModel, XCLIPProcessor

    processor = XCLIPProcessor.from_pretrained(model, local_files_only=local_files_only)
    return processor, XCLIPModel.from_pretrained(model, local_files_only=local_files_only)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick look before a download: offline, the hub client would retry for minutes."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _load_error(model: str, exc: Exception, hub_reached: bool = False) -> ModelLoadError:
    """One line that says what failed and what to do next."""
    reason = first_line(exc)[:150]
    if model.startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
        return ModelLoadError(
            f"Cannot load the X-CLIP model: there is no folder {model}. Point --model (or VSEARCH_MODEL) at a "
            "folder holding an X-CLIP checkpoint, or give a hub id such as microsoft/xclip-base-patch32."
        )
    if Path(model).expanduser().is_dir():
        return ModelLoadError(
            f"Cannot load an X-CLIP model from the folder {model}: {reason}. Point --model (or VSEARCH_MODEL) "
            "at a folder holding an X-CLIP checkpoint: config.json, weights, tokenizer and preprocessor files."
        )
    if hub_reached:
        return ModelLoadError(
            f"Cannot load the X-CLIP model '{model}' from the hub: {reason}. Check the id, or pass a local "
            "checkpoint folder with --model (or VSEARCH_MODEL)."
        )
    return ModelLoadError(
        f"Cannot load the X-CLIP model '{model}': it is not in the local Hugging Face cache and the hub cannot "
        f"be reached. Offline, download it on a connected machine (`hf download {model} --local-dir xclip`), "
        "copy the folder here and pass --model /path/to/xclip (or set VSEARCH_MODEL=/path/to/xclip)."
    )


def load_pretrained(model: str):
    """(XCLIPProcessor, XCLIPModel in float32) by hub id or local directory: the local cache first, the hub
    when it can be reached; a failure is one clear ModelLoadError."""
    try:
        return _from_pretrained(model, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - hub, file and config errors all mean "cannot load"
        if model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir() or not _hub_reachable():
            raise _load_error(model, exc) from exc
        try:
            return _from_pretrained(model, local_files_only=False)
        except Exception as online_exc:  # noqa: BLE001
            raise _load_error(model, online_exc, hub_reached=True) from online_exc


@dataclass(frozen=True)
class ClipEmbeddings:
    vectors: np.ndarray  # (B, D) float32, L2-normalised
    prompt_features: np.ndarray  # (B, P, D) float32: patch tokens for the prompt generator


class XClip:
    """An X-CLIP checkpoint ready for inference: clip and text embeddings."""

    def __init__(self, model, processor, model_id: str, device: str = "cpu", precision: str = "fp32",
                 cpu_linear: str = "auto"):
        """`cpu_linear`: fp32 linear layers on oneDNN ("onednn") or PyTorch's default BLAS ("blas"). The
        choice is measured by vsearch.runtime.configure_process; "auto" (not resolved) keeps the default."""
        if cpu_linear == "auto":
            cpu_linear = "blas"
        import torch

        self._scorer = None
        self.model = model.eval().to(device)
        if device == "cuda" and precision == "fp16":
            # The exact scorer keeps its own float32 copy of the prompt generator: taken before the
            # weights are halved, so scores on the GPU equal those on the CPU for the same features.
            from vsearch.model.scoring import ExactScorer

            self._scorer = ExactScorer(self.model, cpu_linear)
            self.model.half()  # fp16 weights on the GPU: half the memory traffic, tensor cores
        if device == "cpu":  # fp32 products (all of them in fp32 mode, the text tower always) via oneDNN if faster
            from vsearch.model.cpu_gemm import use_onednn_linears

            use_onednn_linears(self.model, cpu_linear)
            if precision == "bf16":
                # One query at a time, the text tower streams all its linear weights (145 MB in fp32):
                # bf16 weights halve that (measured 28 -> 15 ms a query; cosine to fp32 >= 0.9999).
                # Autocast would keep the fp32 weights and convert them on every call.
                self.model.text_model.to(torch.bfloat16)
                self.model.text_projection.to(torch.bfloat16)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.model_id = model_id
        self.device = device
        self.precision = precision
        self.cpu_linear = cpu_linear
        self.spec = PreprocessSpec.from_image_processor(processor.image_processor)
        self.num_frames = int(model.config.vision_config.num_frames)
        self.embed_dim = int(model.config.projection_dim)
        self.max_text_tokens = int(model.config.text_config.max_position_embeddings)

    @classmethod
    def load(cls, model: str, model_id: str | None = None, device: str = "auto", precision: str = "auto",
             cpu_linear: str = "auto") -> "XClip":
        """Load by hub id or local directory; a failure is one clear ModelLoadError."""
        processor, network = load_pretrained(model)
        resolved = resolve_device(device)
        return cls(network, processor, model_id or model, resolved, resolve_precision(precision, resolved), cpu_linear)

    def _autocast(self):
        import torch

        if self.device == "cuda" and self.precision == "fp16":
            return contextlib.nullcontext()  # the weights themselves are fp16
        if self.precision == "bf16":
            return torch.autocast(self.device, dtype=torch.bfloat16)
        if self.precision == "fp16":
            return torch.autocast(self.device, dtype=torch.float16)
        return contextlib.nullcontext()

    def embed_clips(self, pixel_values: np.ndarray) -> ClipEmbeddings:
        """(B, T, 3, H, W) pixel values to clip embeddings and prompt features, in one vision pass."""
        import torch

        model = self.model
        with torch.inference_mode(), self._autocast():
            values = torch.from_numpy(pixel_values)
            if self.device == "cuda":  # pinned host memory: the copy overlaps with the GPU's work
                values = values.pin_memory().to(self.device, non_blocking=True).to(self.model.dtype)
            batch, frames = values.shape[:2]
            vision = model.vision_model(pixel_values=values.flatten(0, 1))
            frame_embeds = model.visual_projection(vision[1]).view(batch, frames, -1)
            video = model.mit(frame_embeds)[1].float()
            patches = model.prompts_visual_layernorm(vision[0][:, 1:, :]) @ model.prompts_visual_projection
            patches = patches.view(batch, frames, -1, video.shape[-1]).mean(dim=1).float()
        video = video / video.norm(p=2, dim=-1, keepdim=True)
        return ClipEmbeddings(video.cpu().numpy(), patches.cpu().numpy())

    def text_projections(self, texts: list[str]) -> np.ndarray:
        """Texts to their (N, D) projected embeddings, before normalisation (what the prompt generator takes)."""
        import torch

        tokens = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_text_tokens, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            text = self.model.text_model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
            return self.model.text_projection(text[1]).float().cpu().numpy()

    def embed_text(self, texts: list[str]) -> np.ndarray:
        """Texts to (N, D) L2-normalised embeddings, as `get_text_features` computes them."""
        return normalize_rows(self.text_projections(texts))

    @property
    def scorer(self):
        """The exact X-CLIP scorer over stored clip features (built on first use)."""
        if self._scorer is None:
            from vsearch.model.scoring import ExactScorer

            self._scorer = ExactScorer(self.model, self.cpu_linear)
        return self._scorer

    @property
    def prompt_tokens(self) -> int:
        vision = self.model.config.vision_config
        return (vision.image_size // vision.patch_size) ** 2


def normalize_rows(values: np.ndarray) -> np.ndarray:
    return values / np.linalg.norm(values, axis=-1, keepdims=True)
