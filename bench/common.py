"""Shared bits of the benchmark scripts: the machine's description and a full-size random checkpoint."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def configure_process():
    """The process-wide settings the CLI applies (allocator, oneDNN choice), so in-process figures match
    it; returns the resolved settings (pass `cpu_linear` on to the models built here)."""
    from vsearch.config import Settings
    from vsearch.runtime import configure_process as configure

    return configure(Settings())


def machine() -> dict:
    import torch

    model = "unknown"
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "amx_bf16": "amx_bf16" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }


def full_size_checkpoint(directory: Path | None) -> Path:
    """A random-weight X-CLIP with xclip-base-patch32's architecture (XCLIPConfig() defaults), built once."""
    from transformers import XCLIPConfig

    from vsearch.model.random_checkpoint import build_checkpoint

    directory = Path(directory or Path.home() / ".cache" / "vsearch-bench" / "xclip-base-random")
    if not (directory / "config.json").exists():
        build_checkpoint(directory, XCLIPConfig())
    return directory
