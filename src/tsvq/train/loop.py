"""The training loop: AdamW, cosine schedule, clipping, AMP, early stopping, history, resume.

Read top to bottom: `train` sets up (`setup`), continues a saved run (`resume`), opens the
outputs (`open_outputs`), then loops over epochs: one epoch of training and validation
(`run_epoch`), the record of it (`Progress.add`), the checkpoints (`save_epoch`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from tsvq.config import TrainConfig
from tsvq.data.registry import resolve_path, split_rule
from tsvq.data.windows import SeriesData, count_batches, epoch_order, series_batches
from tsvq.errors import TrainingDiverged, TrainingInterrupted, TsvqError
from tsvq.files import stale_temporaries, write_text
from tsvq.model.quantizer import perplexity_of
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run import checkpoint
from tsvq.run.checkpoint import DataRecord, ResumeState, RunPaths, RunRecord
from tsvq.run.lock import run_lock, set_aside
from tsvq.runtime import cpu
from tsvq.runtime.device import amp_dtype, autocast, pick_device
from tsvq.runtime.distributed import all_reduce_sum, is_main, rank, world_size
from tsvq.runtime.progress import show_progress, tqdm
from tsvq.train.board import Board

__all__ = [
    "RunPaths",
    "TrainConfig",
    "TrainResult",
    "train",
    "run_epoch",
    "losses",
    "make_optimizer",
    "make_step",
    "TrainingDiverged",
    "TrainingInterrupted",
]

HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "valid_loss",
    "train_vq_loss",
    "valid_vq_loss",
    "train_recon_loss",
    "valid_recon_loss",
    "train_perplexity",
    "valid_perplexity",
    "train_codes_used",
    "valid_codes_used",
    "lr",
    "seconds",
)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


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
    record = RunRecord(
        model_cfg, data_record(data), tcfg, dict(args or {}), 0, math.nan, math.nan, {}
    )
    progress = Progress()
    try:
        with contextlib.ExitStack() as hold:  # the run lock and the event files, once opened
            run = setup(record, data, wrap)
            if tcfg.resume:
                progress = resume(run, paths.last, record)
                log(f"Resuming from {paths.last} after epoch {progress.saved}")
            # every check that can refuse the run is done: only now touch the output folder
            board = open_outputs(paths, record, hold, log)
            for epoch in range(progress.next_epoch, tcfg.n_epochs + 1):
                if progress.stopped(tcfg.patience):
                    break
                t0, lr = time.perf_counter(), run.optimizer.param_groups[0]["lr"]
                tr, va = run_training_epoch(run, data, epoch), run_validation(run, data)
                if not all(math.isfinite(v) for v in (tr.loss, va.loss)):
                    raise TrainingDiverged(
                        epoch,
                        tr.loss,
                        va.loss,
                        paths.best,
                        paths.last,
                        progress.best_epoch,
                        progress.saved,
                        tcfg.lr,
                    )
                improved = progress.add(
                    history_row(epoch, tr, va, lr, t0),
                    va.recon if tcfg.select_by == "recon" else va.loss,
                )
                if board is not None:
                    board.epoch(progress.history[-1], {"train": tr.counts, "valid": va.counts})
                log(epoch_line(epoch, tcfg.n_epochs, tr, va))
                if is_main():
                    save_epoch(run, paths, record, progress, (tr, va), improved, log)
            if progress.stopped(tcfg.patience):
                log(
                    f"Early stopping: no better validation {criterion(tcfg)} for "
                    f"{tcfg.patience} epochs"
                )
            return progress.result(tcfg.patience)
    except KeyboardInterrupt:
        raise TrainingInterrupted(paths.last, progress.saved) from None


# ---- setup ----------------------------------------------------------------------------------


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


def setup(
    record: RunRecord, data: SeriesData, wrap: Callable[[torch.nn.Module], torch.nn.Module] | None
) -> Run:
    """Seed, build the model on its device, the optimizer, the cosine schedule and AMP."""
    tcfg = record.train
    device = pick_device(tcfg.device)
    tick = None
    if device.type == "cpu":
        cpu.keep_freed_memory()
        tick = cpu.ThreadGovernor(tcfg.threads).tick
    torch.manual_seed(tcfg.seed)
    core = VQVAE(record.model).to(device)
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
    val_order = _shard(epoch_order(n_val, 0, 0, shuffle=False, limit=limit), even=False)
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
    """The data description a checkpoint keeps: spec (with the file resolved), scaler, columns."""
    spec = data.spec
    path = str(resolve_path(spec.dset, spec.root_path, spec.data_path).resolve())
    spec = replace(spec, data_path=path)
    return DataRecord(
        spec, data.scaler, tuple(data.columns), data.n_vars, asdict(split_rule(spec.dset))
    )


def losses(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """(recon, vq) in the specification's units for a batch [N, T], and the model output."""
    out = model(x)
    n = x.shape[0]
    recon = (out.recon.float() - out.target.float()).pow(2).sum() / n
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


# ---- resume ---------------------------------------------------------------------------------


@dataclass
class Progress:
    """Where a run stands: its history, the best epoch so far, and what is on disk."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float = math.inf  # the validation figure --select_by names, of the best epoch
    best_epoch: int = 0  # 1-based; 0 before any
    since_best: int = 0
    saved: int | None = None  # the last epoch whose state `--resume` can continue from

    @property
    def next_epoch(self) -> int:
        return len(self.history) + 1

    def stopped(self, patience: int) -> bool:
        """Early stopping: `patience` epochs without a better score (a resumed run that had
        already stopped stays stopped)."""
        return bool(self.best_epoch) and self.since_best >= patience

    def add(self, row: dict[str, float], score: float) -> bool:
        """Record an epoch; True when its score is the best so far."""
        self.history.append(row)
        if score < self.best_score:
            self.best_score, self.best_epoch, self.since_best = score, int(row["epoch"]), 0
            return True
        self.since_best += 1
        return False

    def result(self, patience: int) -> TrainResult:
        best = self.history[self.best_epoch - 1]["valid_loss"] if self.best_epoch else math.inf
        return TrainResult(
            self.best_epoch,
            best,
            len(self.history),
            self.history,
            stopped_early=self.stopped(patience),
        )


def resume(run: Run, path: Path, record: RunRecord) -> Progress:
    """Load the last state of a run trained with the same settings into `run`."""
    last = _load_resume(path, record)
    state = last.resume
    assert state is not None  # _load_resume refuses a file without a resume state
    if len(state.history) != last.epoch + 1:
        raise TsvqError(
            f"--resume: {path} is damaged: its history holds {len(state.history)} "
            f"epoch(s), its epoch field says {last.epoch + 1}"
        )
    run.core.load_state_dict(last.state)
    run.optimizer.load_state_dict(state.optimizer)
    run.scheduler.load_state_dict(state.scheduler)
    run.grad_scaler.load_state_dict(state.grad_scaler)
    torch.set_rng_state(state.rng_state)
    if run.device.type == "cuda" and state.cuda_rng_state is not None:
        torch.cuda.set_rng_state(state.cuda_rng_state, run.device)
    return Progress(
        history=[dict(r) for r in state.history],
        best_score=float(state.best_val),
        best_epoch=int(state.best_epoch),
        since_best=int(state.since_best),
        saved=last.epoch + 1,
    )  # the checkpoint counts epochs from 0


# Settings that shape the trajectory: a resumed run must use the same ones to continue it.
RESUME_TRAIN_KEYS = (
    "n_epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "grad_clip",
    "min_lr",
    "select_by",
    "seed",
    "max_steps_per_epoch",
    "amp",
)
RESUME_DATA_KEYS = (
    "dset",
    "context_points",
    "features",
    "target",
    "channel",
    "columns",
    "split_rule",
)


def _load_resume(path: Path, record: RunRecord) -> RunRecord:
    if not path.exists():
        raise TsvqError(f"--resume: no last-state checkpoint at {path}; train without --resume")
    last = checkpoint.load_run(path)
    if last.resume is None:
        raise TsvqError(f"--resume: {path} is not a last-state checkpoint")
    then_data, now_data = last.data.to_dict(), record.data.to_dict()
    differ = _differences(
        last.model.to_dict(), record.model.to_dict(), [f.name for f in fields(ModelConfig)]
    )
    differ += _differences(then_data, now_data, RESUME_DATA_KEYS)
    differ += _differences(asdict(last.train), asdict(record.train), RESUME_TRAIN_KEYS)
    scaler_then, scaler_now = then_data["scaler"], now_data["scaler"]
    if scaler_then and scaler_now and scaler_then != scaler_now:
        differ.append(
            f"scaler={scaler_then['kind']!r}, now {scaler_now['kind']!r}"
            if scaler_then["kind"] != scaler_now["kind"]
            else "the data file's training rows (the fitted scaler differs)"
        )
    if differ:
        raise TsvqError(
            f"--resume: {path} was trained with other settings: {'; '.join(differ)}; resume "
            "with the same flags, or train afresh without --resume"
        )
    return last


def _differences(saved: dict[str, Any], now: dict[str, Any], keys: Any) -> list[str]:
    return [
        f"{k}={saved[k]!r}, now {now.get(k)!r}"
        for k in keys
        if k in saved and saved[k] != now.get(k)
    ]


# ---- outputs --------------------------------------------------------------------------------


def open_outputs(
    paths: RunPaths, record: RunRecord, hold: contextlib.ExitStack, log: Callable[[str], None]
) -> Board | None:
    """Take the run folder (process 0): refuse outputs that cannot be written, hold the run
    lock, remove a killed run's temporaries, set an earlier run's files aside (a new run, not
    a resumed one), write the configs; the TensorBoard writer when --log_dir asks for one."""
    if not is_main():
        return None
    for p in paths.all():
        if p.is_dir():
            raise TsvqError(f"--save_path: {p} is a directory; tsvq writes a file there")
    hold.enter_context(run_lock(paths.directory, paths.name))
    for p in paths.all():  # never a live run's: it would hold the lock
        for stale in stale_temporaries(p):
            stale.unlink(missing_ok=True)
    if not record.train.resume:  # a new run over an earlier one: keep the earlier files
        aside = set_aside(paths.all(), paths.directory, paths.name)
        if aside is not None:
            log(
                f"An earlier run's files were moved to {aside}; to continue that run "
                "instead, move them back and add --resume"
            )
    checkpoint.write_configs(paths, record)
    if not record.train.log_dir:
        return None
    board = Board(record.train.log_dir, paths.name)
    hold.callback(board.close)
    return board


# ---- one epoch ------------------------------------------------------------------------------


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


def run_training_epoch(run: Run, data: SeriesData, epoch: int) -> EpochStats:
    """One epoch of updates over a fresh order of the training series, then the schedule."""
    tcfg = run.tcfg
    order = _shard(epoch_order(run.train_series, tcfg.seed, epoch, limit=run.limit))
    n = count_batches(len(order), tcfg.batch_size, tcfg.max_steps_per_epoch)
    run.model.train()
    stats = run_epoch(
        run.model,
        run.core,
        series_batches(data, "train", tcfg.batch_size, order, n),
        n,
        run.device,
        run.dtype,
        run.step,
        desc=f"epoch {epoch}",
        tick=run.tick,
    )
    run.scheduler.step()
    return stats


def run_validation(run: Run, data: SeriesData) -> EpochStats:
    """The validation losses over the same series every epoch."""
    batch_size = run.tcfg.batch_size
    n = count_batches(len(run.val_order), batch_size, None)
    run.model.eval()
    with torch.inference_mode():
        return run_epoch(
            run.model,
            run.core,
            series_batches(data, "val", batch_size, run.val_order),
            n,
            run.device,
            run.dtype,
            desc="valid",
            tick=run.tick,
        )


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
        totals += torch.stack(
            [
                loss.detach() * n,
                vq.detach() * n,
                recon.detach() * n,
                torch.tensor(float(n), device=device),
                out.perplexity.detach(),
                torch.tensor(1.0, device=device),
            ]
        ).double()
        counts += out.counts.double()
        if tick is not None:
            tick()
    all_reduce_sum(totals)
    all_reduce_sum(counts)
    t = totals.tolist()
    n = max(t[3], 1.0)
    return EpochStats(
        loss=t[0] / n,
        vq=t[1] / n,
        recon=t[2] / n,
        perp=t[4] / max(t[5], 1.0),
        epoch_perplexity=float(perplexity_of(counts)),
        codes_used=int((counts > 0).sum()),
        n_series=int(t[3]),
        counts=counts.cpu(),
    )


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
    return order[rank() :: world]


# ---- the record of an epoch -----------------------------------------------------------------


def history_row(
    epoch: int, tr: EpochStats, va: EpochStats, lr: float, t0: float
) -> dict[str, float]:
    """One row of `_history.csv` (HISTORY_COLUMNS)."""
    return {
        "epoch": epoch,
        "train_loss": tr.loss,
        "valid_loss": va.loss,
        "train_vq_loss": tr.vq,
        "valid_vq_loss": va.vq,
        "train_recon_loss": tr.recon,
        "valid_recon_loss": va.recon,
        "train_perplexity": tr.epoch_perplexity,
        "valid_perplexity": va.epoch_perplexity,
        "train_codes_used": tr.codes_used,
        "valid_codes_used": va.codes_used,
        "lr": lr,
        "seconds": round(time.perf_counter() - t0, 3),
    }


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


def criterion(tcfg: TrainConfig) -> str:
    """The validation figure that picks the best model, in words."""
    return "reconstruction loss" if tcfg.select_by == "recon" else "loss"


# ---- save -----------------------------------------------------------------------------------


def save_epoch(
    run: Run,
    paths: RunPaths,
    record: RunRecord,
    progress: Progress,
    stats: tuple[EpochStats, EpochStats],
    improved: bool,
    log: Callable[[str], None],
) -> None:
    """The best checkpoint when the epoch improved, the history, and the last state."""
    tr, va = stats
    epoch = len(progress.history)
    # the original counts epochs from 0 in its checkpoints
    now = RunRecord(
        record.model, record.data, record.train, record.args, epoch - 1, tr.loss, va.loss, {}
    )
    if improved:
        checkpoint.save_run(paths.best, now, run.core)
        log(f"  -> Best model saved (val_loss: {va.loss:.6f})")
    write_text(paths.history, history_csv(progress.history))
    cuda = run.device.type == "cuda"
    now.resume = ResumeState(
        optimizer=run.optimizer.state_dict(),
        scheduler=run.scheduler.state_dict(),
        grad_scaler=run.grad_scaler.state_dict(),
        rng_state=torch.get_rng_state(),
        history=progress.history,
        best_val=progress.best_score,
        best_epoch=progress.best_epoch,
        since_best=progress.since_best,
        cuda_rng_state=torch.cuda.get_rng_state(run.device) if cuda else None,
    )
    checkpoint.save_run(paths.last, now, run.core)
    progress.saved = epoch
