"""Distributed training under torchrun: the process group, DDP, and the few collectives tsvq
needs. Every collective is a no-op outside a distributed run, so one code path serves both."""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def local_rank() -> int:
    """This process's index on its own machine (torchrun's LOCAL_RANK): the GPU it uses."""
    return int(os.environ.get("LOCAL_RANK", 0))


@contextlib.contextmanager
def process_group(device: torch.device) -> Iterator[None]:
    """Join torchrun's process group for the block (nccl on GPU, gloo on CPU), leave it after,
    also on error; outside torchrun, or when a group already exists, do nothing."""
    if not launched_by_torchrun() or is_distributed():
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        yield
        # Leave together, with nothing of the run left: gloo aborts a process ("terminate
        # called without an active exception") whose peer still uses the group, or whose DDP
        # reducer outlives it. Not on an error: the peer may never arrive.
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module) -> nn.Module:
    """DistributedDataParallel: backward averages the gradients over all processes.

    DDP's copy of process 0's buffers before every forward is turned off: the only buffers are
    the quantizer's, and it keeps them identical on every process with its own collectives
    (code counts summed over processes each step, new code vectors broadcast from process 0),
    so the copy would be a broadcast per step for nothing. The test suite checks that they
    stay identical.
    """
    no_buffer_sync: dict[str, Any] = {_NO_BUFFER_SYNC: False}
    return DistributedDataParallel(model, **no_buffer_sync)


# The flag that turns DDP's per-forward buffer copy off; torch 2.13 renamed it.
_NO_BUFFER_SYNC = "forward_sync_buffers"
if _NO_BUFFER_SYNC not in inspect.signature(DistributedDataParallel).parameters:
    _NO_BUFFER_SYNC = "broadcast_buffers"


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over all processes in place and return it."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Copy process `src`'s `t` to every process in place and return it."""
    if is_distributed():
        dist.broadcast(t, src=src)
    return t
