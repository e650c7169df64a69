"""Run code in a fresh Python process that can tell whether glibc serves large blocks with their own mmap
(what `keep_freed_memory` turns off): for tests of process-wide settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    '''True when an 8 MB block gets its own mmap (unmapped on free, page-faulted again next time).'''
    before = libc.mallinfo2().hblks
    libc.malloc(8 << 20)
    return libc.mallinfo2().hblks > before
"""


def run_probe(code: str, *args: str) -> list[str]:
    """`code` after the probe's definitions, in a new process without OMP_WAIT_POLICY; its printed words."""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's allocator")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", _PROBE + code, *args], capture_output=True, text=True, env=env,
                         cwd=ROOT)
    if run.returncode != 0 and "mallinfo2" in run.stderr:
        pytest.skip("this C library has no mallinfo2")
    assert run.returncode == 0, run.stderr
    return run.stdout.split()
