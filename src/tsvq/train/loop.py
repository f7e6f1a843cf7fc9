"""The training loop: AdamW, cosine schedule, clipping, AMP, early stopping, history, resume.

Read top to bottom: `train` sets up (`setup`), continues a saved run (`resume`), opens the
outputs (`open_outputs`), then loops over epochs: one epoch of training and validation
(`run_epoch`), the record of it (`Progress.add`), the checkpoints (`save_epoch`).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tsvq.config import TrainConfig
from tsvq.data.windows import (
    SeriesData,
    count_batches,
    epoch_order,
    keep_batches,
    series_batches,
)
from tsvq.errors import TrainingDiverged, TrainingInterrupted, TsvqError
from tsvq.files import write_text
from tsvq.model.quantizer import perplexity_of
from tsvq.model.vqvae import VQVAE, ModelConfig
from tsvq.run import checkpoint
from tsvq.run.lock import take_folder
from tsvq.run.record import ResumeState, RunPaths, RunRecord
from tsvq.runtime.device import autocast
from tsvq.runtime.distributed import all_reduce_sum, is_main
from tsvq.runtime.progress import show_progress, tqdm
from tsvq.train.board import Board
from tsvq.train.compiled import Steps, shape_key
from tsvq.train.history import EpochStats, criterion, epoch_line, history_csv, history_row
from tsvq.train.resume import Progress, TrainResult, load_last, progress_of, restore, save_last
from tsvq.train.setup import Run, data_record, losses, make_optimizer, make_step, setup, shard

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


def train(
    data: SeriesData,
    model_cfg: ModelConfig,
    tcfg: TrainConfig,
    paths: RunPaths,
    args: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    start: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train a VQ-VAE on `data` and write the configs, best checkpoint, last state and history.

    `args` (the run's flags) are stored in every checkpoint beside the run record; `wrap` wraps
    the model for distributed training; `start`, a trained model's state, is where a fine-tuned
    run's weights and codebook begin (`tcfg.init == "pretrained"`). Ctrl-C raises
    `TrainingInterrupted`, which says which epoch's state is saved; a NaN or inf loss raises
    `TrainingDiverged`.
    """
    record = RunRecord(
        model_cfg, data_record(data), tcfg, dict(args or {}), 0, math.nan, math.nan, {}
    )
    progress = Progress()
    try:
        with contextlib.ExitStack() as hold:  # the run lock and the event files, once opened
            run = setup(record, data, wrap, start)
            if tcfg.resume:
                progress = resume(run, paths.last, record)
                if progress.best_epoch and not paths.best.exists():
                    raise TsvqError(
                        f"--resume: the best model of epoch {progress.best_epoch}, {paths.best}, "
                        f"is missing (moved or deleted?) beside its last state {paths.last}; "
                        "put it back to continue the run, or train afresh without --resume"
                    )
                log(f"Resuming from {paths.last} after epoch {progress.saved}")
            steps = compiled_steps(run, data, progress.next_epoch, log)
            # every check that can refuse the run is done: only now touch the output folder
            board = open_outputs(paths, record, hold, log)
            for epoch in range(progress.next_epoch, tcfg.n_epochs + 1):
                if progress.stopped(tcfg.patience):
                    break
                t0, lr = time.perf_counter(), run.optimizer.param_groups[0]["lr"]
                tr = run_training_epoch(run, data, epoch, steps)
                va = run_validation(run, data, steps)
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


def resume(run: Run, path: Path, record: RunRecord) -> Progress:
    """Load the last state of a run trained with the same settings into `run`."""
    last = load_last(path, record)
    state = last.resume
    assert state is not None  # load_last refuses a checkpoint without it
    run.core.load_state_dict({**run.core.state_dict(), **last.state})
    restore(run, state)
    return progress_of(state, last.epoch + 1)  # the file counts epochs from 0


# ---- outputs --------------------------------------------------------------------------------


def open_outputs(
    paths: RunPaths, record: RunRecord, hold: contextlib.ExitStack, log: Callable[[str], None]
) -> Board | None:
    """Take the run folder (process 0): refuse outputs that cannot be written, hold the run
    lock, remove a killed run's temporaries, set an earlier run's files aside (a new run, not
    a resumed one); the TensorBoard writer when --log_dir asks for one. The configs are written
    with the best model (`save_epoch`), so a folder never holds them without one."""
    if not is_main():
        return None
    take_folder(paths.all(), paths.directory, paths.name, record.train.resume, hold, log)
    if not record.train.log_dir:
        return None
    board = Board(record.train.log_dir, paths.name)
    hold.callback(board.close)
    return board


# ---- one epoch ------------------------------------------------------------------------------


def compiled_steps(
    run: Run, data: SeriesData, first_epoch: int, log: Callable[[str], None]
) -> Steps:
    """The losses of each batch as --compile says, for the epochs from `first_epoch` on."""
    tcfg = run.tcfg
    epochs = max(tcfg.n_epochs - first_epoch + 1, 0)
    per_epoch = (
        train_batches(run, first_epoch)[1],
        count_batches(len(run.val_order), tcfg.batch_size, None),
    )
    return Steps(
        run.model,
        run.core,
        tcfg.compile,
        tcfg.batch_size,
        (per_epoch[0] * epochs, per_epoch[1] * epochs),
        shape_key(run.core, tcfg.batch_size, run.dtype),
        log,
    )


def train_batches(run: Run, epoch: int) -> tuple[np.ndarray, int]:
    """This process's order of the training series in `epoch`, and its number of batches."""
    tcfg = run.tcfg
    order = shard(epoch_order(run.train_series, tcfg.seed, epoch, limit=run.limit))
    return order, count_batches(len(order), tcfg.batch_size, tcfg.max_steps_per_epoch)


def run_training_epoch(
    run: Run, data: SeriesData, epoch: int, steps: Steps | None = None
) -> EpochStats:
    """One epoch of updates over a fresh order of the training series, then the schedule."""
    tcfg = run.tcfg
    order, n = train_batches(run, epoch)
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
        forward=steps,
        keeps=keep_batches(data, "train", tcfg.batch_size, order, n),
    )
    run.scheduler.step()
    return stats


def run_validation(run: Run, data: SeriesData, steps: Steps | None = None) -> EpochStats:
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
            forward=steps,
            keeps=keep_batches(data, "val", batch_size, run.val_order),
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
    forward: Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor, Any]] | None = None,
    keeps: Iterator[torch.Tensor | None] | None = None,
) -> EpochStats:
    """One pass over `batches`; trains when `step` (which applies a loss) is given. `keeps`,
    beside the batches, says which values of each the loss keeps (`keep_batches`; None: all).

    `tick` is called after every batch (the CPU thread governor); `forward(x, training)`
    computes the losses when given (`Steps`: eager or compiled) for a batch without a gap mask,
    else `losses` eagerly.
    """
    k = core.cfg.num_embeddings
    # [loss*n, vq*n, recon*n, n, sum of batch perplexities, batches] on the device: no sync
    totals = torch.zeros(6, dtype=torch.float64, device=device)
    counts = torch.zeros(k, dtype=torch.float64, device=device)
    show = is_main() and show_progress()
    pairs = zip(batches, keeps if keeps is not None else itertools.repeat(None))  # noqa: B905
    for x, keep in tqdm(pairs, total=n_batches, desc=desc, leave=False, disable=not show):
        x = x.to(device, non_blocking=True)
        if keep is not None:
            keep = keep.to(device, non_blocking=True)
        with autocast(device, dtype):
            if forward is not None and keep is None:  # compiled or eager, without a gap mask
                recon, vq, out = forward(x, step is not None)
            else:
                recon, vq, out = losses(model if step else core, x, keep)
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
    """The best checkpoint (then `_config.json` and `_run.json`) when the epoch improved, the
    history, and the last state."""
    tr, va = stats
    epoch = len(progress.history)
    # the original counts epochs from 0 in its checkpoints
    now = RunRecord(
        record.model, record.data, record.train, record.args, epoch - 1, tr.loss, va.loss, {}
    )
    if improved:
        checkpoint.save_run(paths.best, now, run.core)
        checkpoint.write_configs(paths, record)  # after the model: never configs without one
        # the specification's line to the letter; under --select_by recon (the default) the
        # figure that chose the model follows it: the total can be worse than an earlier epoch's
        chosen = (
            f", chosen by valid recon: {va.recon:.6f}" if record.train.select_by == "recon" else ""
        )
        log(f"  -> Best model saved (val_loss: {va.loss:.6f}){chosen}")
    write_text(paths.history, history_csv(progress.history))

    def write(state: ResumeState) -> None:
        checkpoint.save_run(paths.last, replace(now, resume=state), run.core)

    save_last(run, progress, write)
