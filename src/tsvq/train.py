"""The training loop: AdamW, cosine schedule, clipping, AMP, early stopping, history, resume."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint, cpu
from .board import Board
from .checkpoint import DataRecord, ResumeState, RunPaths, RunRecord
from .config import TrainConfig
from .data import SeriesData, count_batches, epoch_order, series_batches
from .distributed import all_reduce_sum, is_main, local_rank, rank, world_size
from .errors import TsvqError
from .files import stale_temporaries, write_text
from .model import VQVAE, ModelConfig
from .progress import show_progress, tqdm
from .runlock import run_lock, set_aside

__all__ = ["RunPaths", "TrainConfig", "TrainResult", "train", "run_epoch"]

HISTORY_COLUMNS = (
    "epoch", "train_loss", "valid_loss", "train_vq_loss", "valid_vq_loss",
    "train_recon_loss", "valid_recon_loss",
    "train_perplexity", "valid_perplexity", "train_codes_used", "valid_codes_used",
    "lr", "seconds",
)


@dataclass
class EpochStats:
    """Losses in the specification's units: sums per series, averaged over series."""

    loss: float
    vq: float
    recon: float
    perp: float  # mean of the batches' perplexities, as the original reported
    epoch_perplexity: float  # perplexity of the code usage over the whole epoch
    codes_used: int
    n_series: int
    counts: torch.Tensor | None = None  # [num_embeddings] uses of each code, on the CPU


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cuda":
        return torch.device(name)
    if not torch.cuda.is_available():
        raise TsvqError("device=cuda was asked for but no CUDA device is available")
    index, n_gpus = local_rank(), torch.cuda.device_count()  # one GPU per process (torchrun)
    if index >= n_gpus:
        raise TsvqError(f"process {index} on this machine has no GPU of its own: the machine "
                        f"has {n_gpus}; start at most {n_gpus} with torchrun --nproc_per_node")
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
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def losses(model: VQVAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """(recon, vq) in the specification's units for a batch [N, T], and the model output."""
    out = model(x)
    n = x.shape[0]
    recon = (out.recon.float() - out.target.float()).pow(2).sum() / n
    cfg = getattr(model, "module", model).cfg  # under DDP the VQVAE is model.module
    vq = out.vq_loss * cfg.n_patches  # per-series units
    return recon, vq, out


def make_optimizer(core: VQVAE, tcfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW over the parameters trained by gradient (an EMA codebook is not)."""
    return torch.optim.AdamW(
        [p for p in core.parameters() if p.requires_grad], lr=tcfg.lr,
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


def run_epoch(
    model: torch.nn.Module,
    core: VQVAE,
    batches: Iterator[torch.Tensor],
    n_batches: int,
    device: torch.device,
    dtype: torch.dtype | None,
    step: Callable[[torch.Tensor], None] | None = None,
    desc: str = "",
    tick: Callable[[], None] | None = None,
) -> EpochStats:
    """One pass over `batches`; trains when `step` (which applies a loss) is given.

    `tick` is called after every batch (the CPU thread governor).
    """
    k = core.cfg.num_embeddings
    # [loss*n, vq*n, recon*n, n, sum of batch perplexities, batches] on the device: no sync
    totals = torch.zeros(6, dtype=torch.float64, device=device)
    counts = torch.zeros(k, dtype=torch.float64, device=device)
    show = is_main() and show_progress()
    for x in tqdm(batches, total=n_batches, desc=desc, leave=False, disable=not show):
        x = x.to(device, non_blocking=True)
        with autocast(device, dtype):
            recon, vq, out = losses(model if step else core, x)
        loss = recon + vq
        if step is not None:
            step(loss)
        n = x.shape[0]
        totals += torch.stack([loss.detach() * n, vq.detach() * n, recon.detach() * n,
                               torch.tensor(float(n), device=device),
                               out.perplexity.detach(), torch.tensor(1.0, device=device)]
                              ).double()
        counts += out.counts.double()
        if tick is not None:
            tick()
    all_reduce_sum(totals)
    all_reduce_sum(counts)
    t = totals.tolist()
    n = max(t[3], 1.0)
    p = counts / counts.sum().clamp_min(1)
    return EpochStats(
        loss=t[0] / n, vq=t[1] / n, recon=t[2] / n, perp=t[4] / max(t[5], 1.0),
        epoch_perplexity=float(torch.exp(-(p * torch.log(p + 1e-10)).sum())),
        codes_used=int((counts > 0).sum()), n_series=int(t[3]), counts=counts.cpu(),
    )


def epoch_line(epoch: int, n_epochs: int, tr: EpochStats, va: EpochStats) -> str:
    """The specification's log line, to the letter."""
    return (
        f"Epoch {epoch:3d}/{n_epochs} | Train Loss: {tr.loss:.6f} (VQ: {tr.vq:.6f}, "
        f"Recon: {tr.recon:.6f}, Perp: {tr.perp:.2f}) | Valid Loss: {va.loss:.6f} "
        f"(VQ: {va.vq:.6f}, Recon: {va.recon:.6f}, Perp: {va.perp:.2f})"
    )


def history_csv(rows: list[dict[str, float]]) -> str:
    lines = [",".join(HISTORY_COLUMNS)]
    for row in rows:
        lines.append(",".join(_fmt(row[c]) for c in HISTORY_COLUMNS))
    return "\n".join(lines) + "\n"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _shard(order: np.ndarray, even: bool = True) -> np.ndarray:
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
    return order[rank()::world]


def train(
    data: SeriesData,
    model_cfg: ModelConfig,
    tcfg: TrainConfig,
    paths: RunPaths,
    args: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
) -> TrainResult:
    """Train a VQ-VAE on `data` and write the configs, best checkpoint, last state and history.

    `args` (the run's flags) are stored in every checkpoint beside the run record; `wrap` wraps
    the model for distributed training. Ctrl-C raises `TrainingInterrupted`, which says which
    epoch's state is saved; a NaN or inf loss raises `TrainingDiverged`.
    """
    saved: list[int] = []  # epochs whose last state is on disk
    record = RunRecord(model_cfg, data_record(data), tcfg, dict(args or {}), 0, math.nan,
                       math.nan, {})
    try:
        with contextlib.ExitStack() as hold:  # the run lock, once taken
            return _train(data, record, paths, log, wrap, saved, hold)
    except KeyboardInterrupt:
        raise TrainingInterrupted(paths.last, saved[-1] if saved else None) from None


def data_record(data: SeriesData) -> DataRecord:
    """The data description a checkpoint keeps: spec (with the file resolved), scaler, columns."""
    from .datasets import resolve_path, split_rule

    spec = data.spec
    path = str(resolve_path(spec.dset, spec.root_path, spec.data_path).resolve())
    spec = type(spec)(**{**asdict(spec), "data_path": path})
    return DataRecord(spec, data.scaler, tuple(data.columns), data.n_vars,
                      asdict(split_rule(spec.dset)))


def _train(
    data: SeriesData,
    record: RunRecord,
    paths: RunPaths,
    log: Callable[[str], None],
    wrap: Callable[[torch.nn.Module], torch.nn.Module] | None,
    saved: list[int],
    hold: contextlib.ExitStack,
) -> TrainResult:
    model_cfg, tcfg = record.model, record.train
    device = pick_device(tcfg.device)
    tick = None
    if device.type == "cpu":
        cpu.keep_freed_memory()
        tick = cpu.ThreadGovernor(tcfg.threads).tick
    torch.manual_seed(tcfg.seed)
    core = VQVAE(model_cfg).to(device)
    model = wrap(core) if wrap else core
    optimizer = make_optimizer(core, tcfg, device)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=tcfg.n_epochs, eta_min=min(tcfg.min_lr, tcfg.lr)  # never rises
    )
    dtype = amp_dtype(device, tcfg.amp)
    grad_scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    history: list[dict[str, float]] = []
    best_val, best_epoch, since_best, start_epoch = math.inf, 0, 0, 1

    if tcfg.resume:
        last = _load_resume(paths.last, record)
        state = last.resume
        core.load_state_dict(last.state)
        optimizer.load_state_dict(state.optimizer)
        scheduler.load_state_dict(state.scheduler)
        grad_scaler.load_state_dict(state.grad_scaler)
        torch.set_rng_state(state.rng_state)
        if device.type == "cuda" and state.cuda_rng_state is not None:
            torch.cuda.set_rng_state(state.cuda_rng_state, device)
        history = [dict(r) for r in state.history]
        best_val, best_epoch = float(state.best_val), int(state.best_epoch)
        since_best, start_epoch = int(state.since_best), last.epoch + 2  # epoch is 0-based
        saved.append(start_epoch - 1)
        log(f"Resuming from {paths.last} after epoch {start_epoch - 1}")
    # every check that can refuse the run is done: only now touch the output folder
    prepare_outputs(paths, hold)
    if is_main():
        if not tcfg.resume:  # a new run over an earlier one: keep the earlier files, and say so
            aside = set_aside(paths.all(), paths.directory, paths.name)
            if aside is not None:
                log(f"An earlier run's files were moved to {aside}; to continue that run "
                    "instead, move them back and add --resume")
        checkpoint.write_configs(paths, record)
    board = Board(tcfg.log_dir, paths.name) if tcfg.log_dir and is_main() else None

    step = make_step(core, optimizer, grad_scaler, tcfg.grad_clip)

    n_series = {s: data.n_windows(s) * data.n_channels for s in ("train", "val")}
    # --max_steps_per_epoch bounds training and validation alike: series drawn per epoch
    limit = (tcfg.max_steps_per_epoch * tcfg.batch_size * world_size()
             if tcfg.max_steps_per_epoch else None)
    best_loss = history[best_epoch - 1]["valid_loss"] if best_epoch else math.inf
    result = TrainResult(best_epoch, best_loss, start_epoch - 1, history)
    # a resumed run that had already stopped early stays stopped
    result.stopped_early = bool(best_epoch) and since_best >= tcfg.patience
    for epoch in range(start_epoch, tcfg.n_epochs + 1):
        if result.stopped_early:
            break
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        order = _shard(epoch_order(n_series["train"], tcfg.seed, epoch, limit=limit))
        n_train = count_batches(len(order), tcfg.batch_size, tcfg.max_steps_per_epoch)
        model.train()
        tr = run_epoch(model, core,
                       series_batches(data, "train", tcfg.batch_size, order, n_train),
                       n_train, device, dtype, step, desc=f"epoch {epoch}", tick=tick)
        scheduler.step()
        model.eval()
        # the same validation series every epoch, so epochs compare (a subset under the bound)
        val_order = _shard(epoch_order(n_series["val"], 0, 0, shuffle=False, limit=limit),
                           even=False)
        n_val = count_batches(len(val_order), tcfg.batch_size, None)
        with torch.inference_mode():
            va = run_epoch(model, core, series_batches(data, "val", tcfg.batch_size, val_order),
                           n_val, device, dtype, desc="valid", tick=tick)
        if not all(math.isfinite(v) for v in (tr.loss, va.loss)):
            raise TrainingDiverged(epoch, tr.loss, va.loss, paths, best_epoch,
                                   saved[-1] if saved else None, tcfg.lr)
        history.append({
            "epoch": epoch, "train_loss": tr.loss, "valid_loss": va.loss,
            "train_vq_loss": tr.vq, "valid_vq_loss": va.vq,
            "train_recon_loss": tr.recon, "valid_recon_loss": va.recon,
            "train_perplexity": tr.epoch_perplexity, "valid_perplexity": va.epoch_perplexity,
            "train_codes_used": tr.codes_used, "valid_codes_used": va.codes_used,
            "lr": lr, "seconds": round(time.perf_counter() - t0, 3),
        })
        if board is not None:
            board.epoch(history[-1], {"train": tr.counts, "valid": va.counts})
        log(epoch_line(epoch, tcfg.n_epochs, tr, va))
        score = va.recon if tcfg.select_by == "recon" else va.loss
        improved = score < best_val
        if improved:
            best_val, best_epoch, since_best = score, epoch, 0
        else:
            since_best += 1
        # the original counts epochs from 0 in its checkpoints
        now = RunRecord(record.model, record.data, tcfg, record.args, epoch - 1, tr.loss,
                        va.loss, {})
        if is_main():
            if improved:
                checkpoint.save_run(paths.best, now, core)
                log(f"  -> Best model saved (val_loss: {va.loss:.6f})")
            write_text(paths.history, history_csv(history))
            now.resume = ResumeState(
                optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                grad_scaler=grad_scaler.state_dict(), rng_state=torch.get_rng_state(),
                history=history, best_val=best_val, best_epoch=best_epoch,
                since_best=since_best,
                cuda_rng_state=torch.cuda.get_rng_state(device) if device.type == "cuda"
                else None,
            )
            checkpoint.save_run(paths.last, now, core)
            saved.append(epoch)
        result = TrainResult(best_epoch, history[best_epoch - 1]["valid_loss"], epoch, history,
                             stopped_early=since_best >= tcfg.patience)
    if board is not None:
        board.close()
    if result.stopped_early:
        log(f"Early stopping: no better validation {_criterion(tcfg)} for {tcfg.patience} "
            "epochs")
    return result


def _criterion(tcfg: TrainConfig) -> str:
    return "reconstruction loss" if tcfg.select_by == "recon" else "loss"


class TrainingDiverged(TsvqError):
    """A NaN or inf loss: training stops, the last good checkpoint stays as it was."""

    exit_status = 1  # the run failed; not a usage error

    def __init__(self, epoch: int, train_loss: float, val_loss: float, paths: RunPaths,
                 best_epoch: int, saved_epoch: int | None, lr: float) -> None:
        kept = (f"the best model (epoch {best_epoch}) stays in {paths.best}" if best_epoch
                else "no model had been saved")
        if saved_epoch is not None:
            kept += f", the state after epoch {saved_epoch} in {paths.last}"
        super().__init__(
            f"loss became NaN or inf in epoch {epoch} (train {train_loss:.6g}, valid "
            f"{val_loss:.6g}); training stopped; {kept}; try a lower --lr (was {lr:g}) or "
            "check the data for extreme values"
        )


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; says which epoch's state `--resume` would continue from."""

    def __init__(self, last: Path, saved_epoch: int | None) -> None:
        if saved_epoch is None:
            note = "no epoch had finished, nothing to resume from"
        else:
            note = (f"the state after epoch {saved_epoch} is saved in {last}; "
                    "continue with the same flags and --resume")
        super().__init__(f"training stopped; {note}")


# Settings that shape the trajectory: a resumed run must use the same ones to continue it.
RESUME_TRAIN_KEYS = ("n_epochs", "batch_size", "lr", "weight_decay", "grad_clip", "min_lr",
                     "select_by", "seed", "max_steps_per_epoch", "amp")
RESUME_DATA_KEYS = ("dset", "context_points", "features", "target", "channel", "columns",
                    "split_rule")


def _load_resume(path: Path, record: RunRecord) -> RunRecord:
    if not path.exists():
        raise TsvqError(f"--resume: no last-state checkpoint at {path}; train without --resume")
    last = checkpoint.load_run(path)
    if last.resume is None:
        raise TsvqError(f"--resume: {path} is not a last-state checkpoint")
    then_data, now_data = last.data.to_dict(), record.data.to_dict()
    differ = _differences(last.model.to_dict(), record.model.to_dict(),
                          [f.name for f in fields(ModelConfig)])
    differ += _differences(then_data, now_data, RESUME_DATA_KEYS)
    differ += _differences(asdict(last.train), asdict(record.train), RESUME_TRAIN_KEYS)
    scaler_then, scaler_now = then_data["scaler"], now_data["scaler"]
    if scaler_then and scaler_now and scaler_then != scaler_now:
        differ.append(f"scaler={scaler_then['kind']!r}, now {scaler_now['kind']!r}"
                      if scaler_then["kind"] != scaler_now["kind"]
                      else "the data file's training rows (the fitted scaler differs)")
    if differ:
        raise TsvqError(
            f"--resume: {path} was trained with other settings: {'; '.join(differ)}; resume "
            "with the same flags, or train afresh without --resume"
        )
    return last


def _differences(saved: dict[str, Any], now: dict[str, Any], keys: Any) -> list[str]:
    return [f"{k}={saved[k]!r}, now {now.get(k)!r}" for k in keys
            if k in saved and saved[k] != now.get(k)]


def prepare_outputs(paths: RunPaths, hold: contextlib.ExitStack) -> None:
    """Refuse outputs that cannot be written, take the run lock (held by `hold`), then
    remove the temporaries a killed run left (never a live run's: it would hold the lock)."""
    if not is_main():
        return
    for p in paths.all():
        if p.is_dir():
            raise TsvqError(f"--save_path: {p} is a directory; tsvq writes a file there")
    hold.enter_context(run_lock(paths.directory, paths.name))
    for p in paths.all():
        for stale in stale_temporaries(p):
            stale.unlink(missing_ok=True)
