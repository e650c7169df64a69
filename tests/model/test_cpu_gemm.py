"""oneDNN fp32 linears: the same numbers as nn.Linear, used only where measured faster."""

import pytest
import torch

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


def test_use_onednn_linears_switches_only_when_measured_faster():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 8))
    count = use_onednn_linears(model)
    assert count == (2 if onednn_is_faster() else 0)
    assert all(isinstance(m, torch.nn.Linear) for m in (model[0], model[2]))


def test_keep_freed_memory_is_safe_to_call_twice():
    from vsearch.model.cpu_memory import keep_freed_memory

    assert keep_freed_memory() == keep_freed_memory()
