"""Where a run computes and in which precision: the device, the AMP dtype, the autocast context."""

from __future__ import annotations

import contextlib

import torch

from tsvq.config import DEVICES
from tsvq.errors import TsvqError
from tsvq.runtime.distributed import local_rank

__all__ = ["DEVICES", "amp_dtype", "autocast", "pick_device"]


def pick_device(name: str) -> torch.device:
    """ "auto": CUDA when a GPU is available, else the CPU; under torchrun each process takes
    the GPU of its local rank. A device this machine does not have (`cuda:3` on a machine with
    one GPU, `cuda` without CUDA) or that tsvq does not compute on (`meta`, `mps`, ...) is one
    line saying so, never torch's error at the first tensor moved there."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise TsvqError(
            f"device={name!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:N' or 'auto'"
        ) from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise TsvqError(
            f"device={name!r}: tsvq computes on the CPU or on CUDA GPUs; use 'cpu', 'cuda', "
            "'cuda:N' or 'auto'"
        )
    if not torch.cuda.is_available():
        raise TsvqError(f"device={name} was asked for but no CUDA device is available")
    n_gpus = torch.cuda.device_count()
    if device.index is not None:
        if device.index >= n_gpus:
            raise TsvqError(
                f"device={name!r} does not exist: this machine has {n_gpus} CUDA device(s), "
                f"cuda:0 to cuda:{n_gpus - 1}"
            )
        return device
    index = local_rank()  # one GPU per process (torchrun)
    if index >= n_gpus:
        raise TsvqError(
            f"process {index} on this machine has no GPU of its own: the machine "
            f"has {n_gpus}; start at most {n_gpus} with torchrun --nproc_per_node"
        )
    return torch.device("cuda", index)


def amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """bf16 where the hardware has it (CUDA or a CPU with bf16 support), fp16 on older GPUs."""
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision in `dtype` on `device`; no change when `dtype` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
