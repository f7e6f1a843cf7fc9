"""What a run computes with: the model on its device, AdamW, the cosine schedule, AMP, the
update step, and this process's share of the series (`shard`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import numpy as np
import torch

from tsvq.config import TrainConfig
from tsvq.data.record import DataRecord
from tsvq.data.registry import CUSTOM, resolve_path, split_rule
from tsvq.data.windows import SeriesData, epoch_order
from tsvq.model.memory import check_fits
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run.record import RunRecord
from tsvq.runtime import cpu
from tsvq.runtime.device import amp_dtype, pick_device
from tsvq.runtime.distributed import rank, world_size
from tsvq.train.start import begin


@dataclass
class Run:
    """What a run computes with: the model (`core`, and `model` as wrapped for DDP), its
    optimizer, schedule and gradient scaler, the update step, where and in which precision."""

    core: VQVAE
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    grad_scaler: torch.amp.GradScaler
    step: Callable[[torch.Tensor], None]
    device: torch.device
    dtype: torch.dtype | None
    tcfg: TrainConfig
    tick: Callable[[], None] | None  # the CPU thread governor, after every batch
    train_series: int  # windows x channels of the training split
    val_order: np.ndarray  # this process's validation series, the same every epoch
    limit: int | None  # series drawn per epoch under --max_steps_per_epoch


def fits(model: ModelConfig, batch_size: int, data: SeriesData, device: torch.device) -> None:
    """Refuse, before the model is built, a configuration and batch size whose training would
    not fit in `device`'s free memory (the estimate: `model.memory`); a batch never holds more
    series than the training split has."""
    series = data.n_windows("train") * data.n_channels
    check_fits(model, min(batch_size, series), str(device))


def setup(
    record: RunRecord,
    data: SeriesData,
    wrap: Callable[[torch.nn.Module], torch.nn.Module] | None,
    start: dict[str, torch.Tensor] | None = None,
) -> Run:
    """Seed, build the model on its device (from `start`'s weights, a fine-tuned run's), the
    optimizer, the cosine schedule and AMP."""
    tcfg = record.train
    device = pick_device(tcfg.device)
    tick = None
    if device.type == "cpu":
        cpu.keep_freed_memory()
        tick = cpu.ThreadGovernor(tcfg.threads).tick
    fits(record.model, tcfg.batch_size, data, device)  # the API's batch_size= too
    torch.manual_seed(tcfg.seed)
    core = VQVAE(record.model).to(device)
    if not tcfg.resume:  # a resumed run loads its weights and codebook
        begin(core, data, tcfg, start)
    optimizer = make_optimizer(core, tcfg, device)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer,
        T_max=tcfg.n_epochs,
        eta_min=min(tcfg.min_lr, tcfg.lr),  # never rises
    )
    dtype = amp_dtype(device, tcfg.amp)
    grad_scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    # --max_steps_per_epoch bounds training and validation alike: series drawn per epoch
    limit = (
        tcfg.max_steps_per_epoch * tcfg.batch_size * world_size()
        if tcfg.max_steps_per_epoch
        else None
    )
    n_val = data.n_windows("val") * data.n_channels
    # the same validation series every epoch, so epochs compare (a subset under the bound)
    val_order = shard(epoch_order(n_val, 0, 0, shuffle=False, limit=limit), even=False)
    return Run(
        core,
        wrap(core) if wrap else core,
        optimizer,
        scheduler,
        grad_scaler,
        make_step(core, optimizer, grad_scaler, tcfg.grad_clip),
        device,
        dtype,
        tcfg,
        tick,
        data.n_windows("train") * data.n_channels,
        val_order,
        limit,
    )


def data_record(data: SeriesData) -> DataRecord:
    """The data description a checkpoint keeps: spec (with the file resolved), scaler, columns,
    and the file's sha256: the data named by resolved path plus digest (data made in memory:
    by the digest of its values alone)."""
    spec = data.spec
    if spec.data_path is not None or spec.dset != CUSTOM:  # else data made in memory: no file
        path = str(resolve_path(spec.dset, spec.root_path, spec.data_path).resolve())
        spec = replace(spec, data_path=path)
    rule = asdict(split_rule(spec.dset))
    return DataRecord(spec, data.scaler, tuple(data.columns), data.n_vars, rule, data.sha256)


def losses(
    model: torch.nn.Module, x: torch.Tensor, keep: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """(recon, vq) in the specification's units for a batch [N, T], and the model output.

    `keep` [N, T] (`--missing interpolate`) is 0 where a value was filled: its error leaves the
    reconstruction sum, which stays a sum per series (the units of data without gaps).
    """
    out = model(x)
    n = x.shape[0]
    err = (out.recon.float() - out.target.float()).pow(2)
    recon = (err if keep is None else err * keep).sum() / n
    core = cast(VQVAE, getattr(model, "module", model))  # under DDP the VQVAE is model.module
    vq = out.vq_loss * core.cfg.n_patches  # per-series units
    return recon, vq, out


def make_optimizer(core: VQVAE, tcfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the parameters trained by gradient (an EMA codebook is not)."""
    return torch.optim.AdamW(
        [p for p in core.parameters() if p.requires_grad],
        lr=tcfg.lr,
        weight_decay=tcfg.weight_decay,
        fused=device.type in ("cpu", "cuda"),  # one kernel, not ~10 small ops per tensor
    )


def make_step(
    core: VQVAE,
    optimizer: torch.optim.Optimizer,
    grad_scaler: torch.amp.GradScaler,
    grad_clip: float,
) -> Callable[[torch.Tensor], None]:
    """The update applied to each training batch's loss: backward, clip, optimizer step."""
    params = [p for p in core.parameters() if p.requires_grad]

    def step(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        grad_scaler.scale(loss).backward()
        grad_scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
        grad_scaler.step(optimizer)
        grad_scaler.update()

    return step


def shard(order: np.ndarray, even: bool = True) -> np.ndarray:
    """This process's part of the epoch order.

    `even` (training) wraps around so every process gets the same number of batches: DDP's
    backward and the quantizer's updates are collectives that a process running short would
    hang. Validation makes no collective per batch, so its shards are exact, no series twice.
    """
    world = world_size()
    if world == 1:
        return order
    per = -(-len(order) // world)
    if even:
        order = np.resize(order, per * world)  # repeats from the start to fill
    return order[rank() :: world]
