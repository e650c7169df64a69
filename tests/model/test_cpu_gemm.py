"""oneDNN fp32 linears: the same numbers as nn.Linear, used only where measured faster."""

import pytest
import torch

from tests.process_probe import run_probe
from vsearch.model.cpu_gemm import OneDnnLinear, onednn_is_faster, use_onednn_linears

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def _pair(bias: bool = True):
    torch.manual_seed(0)
    plain = torch.nn.Linear(96, 40, bias=bias)
    switched = torch.nn.Linear(96, 40, bias=bias)
    switched.load_state_dict(plain.state_dict())
    switched.__class__ = OneDnnLinear
    return plain, switched


@pytest.mark.parametrize("shape", [(5, 96), (2, 7, 96), (3, 2, 4, 96)])
@pytest.mark.parametrize("bias", [True, False])
def test_onednn_linear_equals_nn_linear(shape, bias):
    plain, switched = _pair(bias)
    x = torch.randn(*shape)
    with torch.inference_mode():
        torch.testing.assert_close(switched(x), plain(x), rtol=1e-5, atol=1e-5)


def test_other_dtypes_autocast_and_training_take_the_plain_path():
    plain, switched = _pair()
    x = torch.randn(4, 96)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert switched(x).dtype == torch.bfloat16
    y = switched(x.requires_grad_())  # grad enabled: nn.Linear's autograd path
    y.sum().backward()
    assert switched.weight.grad is not None


def _plain_model():
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 8))


def test_use_onednn_linears_follows_the_choice():
    onednn, blas = _plain_model(), _plain_model()
    assert use_onednn_linears(onednn, "onednn") == 2 and use_onednn_linears(blas, "blas") == 0
    assert type(onednn[0]) is OneDnnLinear and type(onednn[2]) is OneDnnLinear
    assert type(blas[0]) is torch.nn.Linear and type(blas[2]) is torch.nn.Linear
    assert use_onednn_linears(onednn, "onednn") == 0  # already switched: nothing plain is left


def test_auto_switches_only_where_measured_faster():
    model = _plain_model()
    expected = OneDnnLinear if onednn_is_faster() else torch.nn.Linear
    assert use_onednn_linears(model, "auto") == (2 if expected is OneDnnLinear else 0)
    assert type(model[0]) is expected and type(model[2]) is expected


def test_keep_freed_memory_serves_large_blocks_from_the_heap():
    """Without it glibc maps an 8 MB block on its own (unmapped on free, page-faulted again next time)."""
    code = """
from vsearch.model.cpu_memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
print(large_blocks_mmapped())
"""
    assert run_probe(code, "default") == ["True"]
    assert run_probe(code, "keep") == ["False"]
