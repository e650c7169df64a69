"""Process-wide settings: applied by the entry points, and only there."""

import os
import subprocess
import sys
from pathlib import Path

from vsearch.config import Settings
from vsearch.runtime import configure_process

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import ctypes, os, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
def large_blocks_mmapped():
    before = libc.mallinfo2().hblks
    libc.malloc(8 << 20)
    return libc.mallinfo2().hblks > before
"""


def _run(code: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", _PROBE + code, *args], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_using_vsearch_as_a_library_changes_nothing_global(checkpoint, tmp_path):
    """Opening a library, loading the model on the CPU and running it leave the allocator, OpenMP,
    transformers' logging and the choice of linear algebra library as they were."""
    out = _run("""
from transformers.utils import logging as hf_logging
verbosity = hf_logging.get_verbosity()
from vsearch.config import Settings
from vsearch.library import Library
from vsearch.model import cpu_gemm, cpu_memory
library = Library(Settings(data_dir=sys.argv[2], model=sys.argv[1], device="cpu", precision="fp32"))
library.model.embed_text(["a dog"])
library.close()
print(cpu_memory.keep_freed_memory.cache_info().currsize, cpu_gemm.onednn_is_faster.cache_info().currsize,
      hf_logging.get_verbosity() == verbosity, os.environ.get("OMP_WAIT_POLICY"), library.model.cpu_linear)
""", str(checkpoint), str(tmp_path / "data"))
    assert out == ["0", "0", "True", "None", "blas"]


def test_an_ingest_process_lets_openmp_sleep_and_keeps_freed_memory():
    out = _run("""
from vsearch.config import Settings
from vsearch.runtime import configure_process
configure_process(Settings(), ingest=True, runs_model=False)
print(large_blocks_mmapped(), os.environ.get("OMP_WAIT_POLICY"))
""")
    assert out == ["False", "PASSIVE"]


def test_settings_turn_the_process_settings_off():
    out = _run("""
from vsearch.config import Settings
from vsearch.runtime import configure_process
configure_process(Settings(keep_freed_memory=False, omp_wait_policy="active"), runs_model=False)
print(large_blocks_mmapped(), os.environ.get("OMP_WAIT_POLICY"))
""")
    assert out == ["True", "ACTIVE"]


def test_the_linear_algebra_choice_is_resolved_once_for_processes_that_run_the_model():
    from vsearch.model.cpu_gemm import onednn_is_faster

    assert configure_process(Settings(keep_freed_memory=False), runs_model=False).cpu_linear == "auto"
    resolved = configure_process(Settings(keep_freed_memory=False)).cpu_linear
    assert resolved == ("onednn" if onednn_is_faster() else "blas")
    assert configure_process(Settings(cpu_linear="blas", keep_freed_memory=False)).cpu_linear == "blas"
