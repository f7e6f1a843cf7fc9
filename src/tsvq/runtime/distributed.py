"""Distributed training under torchrun: the process group, DDP, and the few collectives tsvq
needs. Every collective is a no-op outside a distributed run, so one code path serves both."""

from __future__ import annotations

import contextlib
import datetime
import gc
import inspect
import os
import re
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from tsvq.errors import TsvqError
from tsvq.runtime.signals import stop_within

TIMEOUT_ENV = "TSVQ_DIST_TIMEOUT"
TIMEOUT_S = 600.0  # a collective waiting longer for a peer gives up (seconds; TSVQ_DIST_TIMEOUT)
STOP_GRACE_S = 10.0  # after SIGTERM, a process waiting inside a collective exits this much later


class PeersLost(TsvqError):
    """A collective failed: another process of the run stopped, or hangs past the timeout."""

    exit_status = 1  # the run failed; not a usage error


class RanksDisagree(TsvqError):
    """The processes of one run were started with other settings or data; every process raises
    it, process 0 alone says it (`quiet` elsewhere)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.quiet = not is_main()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def timeout_s() -> float:
    """How long a collective waits for the other processes: $TSVQ_DIST_TIMEOUT, else 600 s."""
    text = os.environ.get(TIMEOUT_ENV, "")
    if not text:
        return TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise TsvqError(f"{TIMEOUT_ENV}={text!r} must be a positive number of seconds")
    return value


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
    timeout = timeout_s()
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        timeout=datetime.timedelta(seconds=timeout),
    )
    # a process blocked inside a collective (C++ code, where Python's handler cannot run) still
    # ends within STOP_GRACE_S of SIGTERM, so torchrun (and a scheduler) can stop every process
    try:
        with stop_within(STOP_GRACE_S, "tsvq train", "while it waited for another process"):
            yield
            # Leave together, with nothing of the run left: gloo aborts a process ("terminate
            # called without an active exception") whose peer still uses the group, or whose
            # DDP reducer outlives it. Not on an error: the peer may never arrive.
            gc.collect()
            dist.barrier()
    except RuntimeError as exc:
        if not _COLLECTIVE_FAILED.search(str(exc)):
            raise
        raise PeersLost(
            f"process {rank()} of {world_size()}: a collective failed ({_gist(exc)}); another "
            f"process of this run stopped, or hangs (a collective waits {timeout:g} s, "
            f"${TIMEOUT_ENV})"
        ) from None
    finally:
        dist.destroy_process_group()


# what gloo and NCCL say when a peer is gone or late
_COLLECTIVE_FAILED = re.compile(
    r"gloo|nccl|timed out|connection (closed|reset|refused)|broken pipe", re.IGNORECASE
)


def _gist(exc: BaseException) -> str:
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc).strip().splitlines()[0] if str(exc) else "")
    return text.split(". ")[0][:160] or type(exc).__name__


def agree(values: dict[str, Any]) -> None:
    """Every process compares `values` (its settings and a digest of its data) with process
    0's, before any work: processes started with other flags, data or seeds would train apart
    or wait in a collective the others never reach. All of them stop with one line naming the
    first difference (`RanksDisagree`); outside a distributed run, nothing happens."""
    if not is_distributed():
        return
    everyone: list[Any] = [None] * world_size()
    dist.all_gather_object(everyone, values)
    first = everyone[0]
    for r, theirs in enumerate(everyone[1:], 1):
        for key in [*first, *(k for k in theirs if k not in first)]:
            if first.get(key) != theirs.get(key):
                raise RanksDisagree(
                    f"the {world_size()} processes of this run were not started alike: "
                    f"{key} is {theirs.get(key)!r} in process {r}, {first.get(key)!r} in "
                    "process 0; start every process with the same flags, data and seed"
                )


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
