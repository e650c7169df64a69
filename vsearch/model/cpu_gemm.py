"""fp32 linear layers through oneDNN where it beats the default BLAS on this CPU.

PyTorch's CPU wheels run fp32 `nn.Linear` on MKL's sgemm, and MKL picks AVX2 kernels on AMD
processors even when they have AVX-512: there oneDNN's fp32 GEMM (the same IEEE fp32 arithmetic,
only another summation order) is about twice as fast. Which library wins depends on the CPU, so
the choice is measured once per process on a GEMM of the model's own shape, not guessed from flags.
"""

from __future__ import annotations

import functools
import logging
import time

import torch

log = logging.getLogger(__name__)

# below this the difference is noise, and MKL is the well-trodden path (oneDNN measured 1.25-1.3x
# faster on a Zen 4 EPYC, 2.2x on Zen 5: a threshold of 1.2 let noise flip the choice between processes)
_MIN_SPEEDUP = 1.1


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDnnLinear(torch.nn.Linear):
    """nn.Linear whose fp32 CPU inference runs on oneDNN; anything else takes nn.Linear's own path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.dtype is torch.float32
            and self.weight.dtype is torch.float32
            and x.device.type == "cpu"
            and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu")
        ):
            return _onednn_linear(x, self.weight, self.bias)
        return super().forward(x)


def best_seconds(fn, repeats: int = 5) -> float:
    """The fastest of `repeats` timed calls, in seconds, after one untimed call."""
    fn()  # the first call builds oneDNN's kernel for the shape
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


@functools.cache
def onednn_is_faster() -> bool:
    """Measure both libraries on a (256 x 768) @ (768 x 3072) fp32 product, as in a ViT-B MLP."""
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 768, generator=generator)
    weight = torch.randn(3072, 768, generator=generator)
    bias = torch.randn(3072, generator=generator)
    try:
        with torch.inference_mode():
            expected = torch.nn.functional.linear(x, weight, bias)
            if not torch.allclose(_onednn_linear(x, weight, bias), expected, rtol=1e-4, atol=1e-3):
                return False
            # interleaved rounds: a burst of load from elsewhere on the machine hits both libraries
            blas = onednn = float("inf")
            for _ in range(4):
                blas = min(blas, best_seconds(lambda: torch.nn.functional.linear(x, weight, bias), 2))
                onednn = min(onednn, best_seconds(lambda: _onednn_linear(x, weight, bias), 2))
    except (RuntimeError, AttributeError):  # a build without the op
        return False
    log.debug("fp32 GEMM: default BLAS %.2f ms, oneDNN %.2f ms", blas * 1e3, onednn * 1e3)
    return blas > _MIN_SPEEDUP * onednn


def use_onednn_linears(module: torch.nn.Module, choice: str = "auto") -> int:
    """Switch every plain nn.Linear in `module` to OneDnnLinear where oneDNN is chosen ("onednn") or
    measured faster ("auto"); returns how many. "blas" keeps them all."""
    if choice == "blas" or not torch.backends.mkldnn.is_available():
        return 0
    if choice == "auto" and not onednn_is_faster():
        return 0
    switched = 0
    for child in module.modules():
        if type(child) is torch.nn.Linear:
            child.__class__ = OneDnnLinear
            switched += 1
    return switched
