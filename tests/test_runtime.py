"""Process-wide settings: applied by the entry points, and only there."""

from tests.process_probe import run_probe
from vsearch.config import Settings
from vsearch.runtime import configure_process


def test_using_vsearch_as_a_library_changes_nothing_global(checkpoint, tmp_path):
    """Opening a library, loading the model on the CPU and running it leave the allocator, OpenMP,
    transformers' logging and the choice of linear algebra library as they were."""
    out = run_probe("""
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
    out = run_probe("""
from vsearch.config import Settings
from vsearch.runtime import configure_process
configure_process(Settings(), ingest=True, runs_model=False)
print(large_blocks_mmapped(), os.environ.get("OMP_WAIT_POLICY"))
""")
    assert out == ["False", "PASSIVE"]


def test_settings_turn_the_process_settings_off():
    out = run_probe("""
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
