"""tsvq.device: the device a run asks for, the AMP dtype the hardware gives, the autocast
context. (`--device` on the command line: the device rows of tests/robustness/test_bad_input.py.)"""

from __future__ import annotations

import pytest
import torch

from tsvq.errors import TsvqError
from tsvq.runtime.device import amp_dtype, autocast, pick_device


def test_cpu_and_auto() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused() -> None:
    with pytest.raises(TsvqError, match="device=cuda was asked for but no CUDA device"):
        pick_device("cuda")


def test_amp_dtype_on_the_cpu() -> None:
    cpu = torch.device("cpu")
    assert amp_dtype(cpu, False) is None
    has_bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert amp_dtype(cpu, True) == (torch.bfloat16 if has_bf16 else None)


def test_autocast_changes_the_dtype_only_when_given_one() -> None:
    cpu = torch.device("cpu")
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast(cpu, None):
        assert (a @ b).dtype == torch.float32
    with autocast(cpu, torch.bfloat16):
        assert (a @ b).dtype == torch.bfloat16
