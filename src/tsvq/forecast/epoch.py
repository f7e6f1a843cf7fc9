"""One epoch of a forecaster's training or validation, and the loss it is trained with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tsvq.data.windows import count_batches, epoch_order
from tsvq.forecast.config import FitConfig
from tsvq.forecast.inputs import Batch, Split, batches
from tsvq.forecast.model import Forecast, Forecaster, targets
from tsvq.runtime.device import autocast
from tsvq.runtime.distributed import all_reduce_sum, is_main, rank, world_size
from tsvq.runtime.progress import show_progress, tqdm

SMOOTH_L1_BETA = 0.1  # TOTEM's forecaster loss


@dataclass
class Run:
    core: Forecaster
    model: torch.nn.Module  # `core`, wrapped for DDP under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    grad_scaler: torch.amp.GradScaler
    device: torch.device
    dtype: torch.dtype | None
    fcfg: FitConfig
    tick: Callable[[], None] | None  # the CPU thread governor, after every batch
    limit: int | None  # series drawn per epoch under max_steps_per_epoch


def loss_of(fc: Forecast, b: Batch, kind: str) -> torch.Tensor:
    """TOTEM's four terms, here in the context's RevIN space: the horizon's shape, its mean and
    std, and the whole forecast in scaled units through the shape alone (the statistics held
    fixed there, as TOTEM holds them)."""
    want = targets((b.target - b.mean[:, None]) / b.std[:, None])
    fc = Forecast(*(t.float() for t in fc))
    whole = Forecast(fc.shape, fc.mean.detach(), fc.std.detach()).scaled(b.mean, b.std)
    pairs = ((fc.shape, want.shape), (fc.mean, want.mean), (fc.std, want.std), (whole, b.target))
    if kind == "mse":
        return sum(F.mse_loss(a, t) for a, t in pairs)  # type: ignore[return-value]
    return sum(F.smooth_l1_loss(a, t, beta=SMOOTH_L1_BETA) for a, t in pairs)  # type: ignore[return-value]


def train_epoch(run: Run, split: Split, epoch: int) -> float:
    """One epoch of updates over a fresh order of the training series; the mean loss."""
    fcfg = run.fcfg
    order = _shard(epoch_order(split.n_series, fcfg.seed, epoch, limit=run.limit))
    n = count_batches(len(order), fcfg.batch_size, fcfg.max_steps_per_epoch)
    context = run.core.cfg.context_points
    run.model.train()
    totals = torch.zeros(2, dtype=torch.float64)
    show = is_main() and show_progress()
    todo = batches(split.windows, order, fcfg.batch_size, context, split.codes, n)
    for b in tqdm(todo, total=n, desc=f"epoch {epoch}", leave=False, disable=not show):
        b = b.to(run.device)
        with autocast(run.device, run.dtype):
            loss = loss_of(run.model(b.context, b.mean, b.std, b.ids), b, fcfg.loss)
        run.optimizer.zero_grad(set_to_none=True)
        run.grad_scaler.scale(loss).backward()
        run.grad_scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.core.parameters(), fcfg.grad_clip)
        run.grad_scaler.step(run.optimizer)
        run.grad_scaler.update()
        run.scheduler.step()
        totals += torch.tensor(
            [float(loss.detach()) * len(b.mean), len(b.mean)], dtype=torch.float64
        )
        if run.tick is not None:
            run.tick()
    all_reduce_sum(totals)
    return float(totals[0] / max(float(totals[1]), 1.0))


@torch.inference_mode()
def validate(run: Run, split: Split) -> dict[str, float]:
    """The loss, MSE and MAE (scaled units) over the same validation series every epoch."""
    fcfg = run.fcfg
    order = epoch_order(split.n_series, 0, 0, shuffle=False, limit=run.limit)
    order = order[rank() :: world_size()]  # exact shards: no collective per batch here
    run.model.eval()
    totals = torch.zeros(4, dtype=torch.float64)  # [loss*n, squared error, |error|, n values]
    context = run.core.cfg.context_points
    for b in batches(split.windows, order, fcfg.batch_size, context, split.codes):
        b = b.to(run.device)
        with autocast(run.device, run.dtype):
            fc = run.core(b.context, b.mean, b.std, b.ids)
        err = (fc.scaled(b.mean, b.std) - b.target).double()
        loss = loss_of(fc, b, fcfg.loss)
        totals += torch.stack(
            [
                loss.double() * len(b.mean),
                err.pow(2).sum(),
                err.abs().sum(),
                torch.tensor(float(err.numel())),
            ]
        ).cpu()
        if run.tick is not None:
            run.tick()
    all_reduce_sum(totals)
    n = max(float(totals[3]), 1.0)
    horizon = run.core.cfg.horizon
    return {
        "loss": float(totals[0]) / (n / horizon),
        "mse": float(totals[1]) / n,
        "mae": float(totals[2]) / n,
    }


def _shard(order: np.ndarray) -> np.ndarray:
    """This process's part of a training epoch: equal parts (wrapping around), since DDP's
    backward is a collective that a process running short would hang."""
    world = world_size()
    if world == 1:
        return order
    per = -(-len(order) // world)
    return np.resize(order, per * world)[rank() :: world]
