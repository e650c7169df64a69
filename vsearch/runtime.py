"""Process-wide settings, applied once by the entry points (the CLI's commands, the server).

Some of what makes vsearch fast is not a property of one object but of the process: the C
library's allocator, OpenMP's idle threads, which library multiplies fp32 matrices (measured once
here, then passed to the model through the settings); transformers' logging is the process's too.
Those are set here, from `Settings`, by the program that owns the process; importing vsearch as a
library, or constructing a model, changes nothing global.
"""

from __future__ import annotations

import os
import sys

from vsearch.config import Settings


def configure_process(settings: Settings, *, ingest: bool = False, runs_model: bool = True) -> Settings:
    """Apply the process-wide settings; returns the settings with "auto" choices resolved.

    `ingest`: this process embeds while decode workers run beside it. `runs_model`: this process may
    run X-CLIP (commands that only read the database skip the measurement and torch's import).
    """
    policy = settings.omp_wait_policy
    if policy == "auto":
        # Model threads that spin between operations take the cores the decode workers need; sleeping
        # instead raised 2-core ingest by about 12 %. Elsewhere spinning keeps latency low.
        policy = "passive" if ingest else None
    if policy and "torch" not in sys.modules:  # OpenMP reads it once, when torch loads
        os.environ.setdefault("OMP_WAIT_POLICY", policy.upper())
    if settings.keep_freed_memory:
        from vsearch.model.cpu_memory import keep_freed_memory

        keep_freed_memory()
    if runs_model:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # no weight-loading chatter on the user's terminal
        hf_logging.disable_progress_bar()
    if runs_model and settings.cpu_linear == "auto":
        from vsearch.model.cpu_gemm import onednn_is_faster

        settings = settings.model_copy(update={"cpu_linear": "onednn" if onednn_is_faster() else "blas"})
    return settings
