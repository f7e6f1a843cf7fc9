"""Training a forecaster, with the tokenizer loop's habits: AdamW, AMP (bf16 on a CPU that has
it), clipping, early stopping on the validation MSE, a progress bar where a person watches,
atomic files, `--resume` that continues bit for bit, and torchrun.

Read top to bottom: `fit` cuts the splits, builds the run (`setup`), continues a saved one
(`resume`), takes the output folder, encodes the contexts with the frozen tokenizer (once),
then loops: an epoch of training, the validation, the record of it and the checkpoints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from tsvq.data.windows import SeriesData, count_batches
from tsvq.errors import TrainingDiverged, TrainingInterrupted, TsvqError
from tsvq.files import write_text
from tsvq.forecast.config import TRAJECTORY, FitConfig, ForecastConfig
from tsvq.forecast.epoch import Run, train_epoch, validate
from tsvq.forecast.inputs import Split, check_tokenizer, fingerprint, prepare
from tsvq.forecast.model import Forecaster
from tsvq.forecast.record import (
    ForecastPaths,
    ForecastRecord,
    TokenizerRef,
    load_record,
    save_record,
)
from tsvq.run.lock import take_folder
from tsvq.run.record import ResumeState
from tsvq.runtime import cpu
from tsvq.runtime.device import amp_dtype, pick_device
from tsvq.runtime.distributed import is_distributed, is_main, world_size, wrap_ddp
from tsvq.tokens.tokenizer import Tokenizer
from tsvq.train.resume import Progress, progress_of, restore, save_last
from tsvq.train.setup import data_record

# the data description a resumed run must share (paths may move; the scaler says if rows did)
RESUME_DATA = (
    "dset",
    "context_points",
    "features",
    "target",
    "channel",
    "columns",
    "scaler",
    "split_rule",
)
HISTORY = ("epoch", "train_loss", "valid_loss", "valid_mse", "valid_mae", "lr", "seconds")


def model_config(
    tok: Tokenizer | None, context_points: int, horizon: int, **shape: Any
) -> ForecastConfig:
    """The forecaster for `tok`'s codes; without a tokenizer, for patches (`token_len` in
    `shape`)."""
    if tok is None:
        return ForecastConfig(context_points, horizon, inputs="patches", **shape)
    check_tokenizer(tok)
    c = tok.cfg
    shape = {"group": c.patch_size // c.compression_factor, **shape}  # a position per patch
    return ForecastConfig(
        context_points,
        horizon,
        c.compression_factor,
        code_dim=c.embedding_dim,
        vocab_size=c.num_embeddings,
        **shape,
    )


@dataclass
class FitResult:
    best_epoch: int  # 1-based; 0 when no epoch ran
    best_mse: float  # validation MSE of the best epoch, scaled units
    history: list[dict[str, float]]
    stopped_early: bool


def fit(
    tok: Tokenizer | None,
    data: SeriesData,
    cfg: ForecastConfig,
    fcfg: FitConfig,
    paths: ForecastPaths,
    *,
    source: str = "",
    args: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    prepared: dict[str, Split] | None = None,
) -> FitResult:
    """Train a forecaster of `data` on `tok`'s codes (or on patches, `cfg.inputs`); write the
    best checkpoint, the last state and the history.

    `source` names where `tok` was loaded from (recorded with its fingerprint); `prepared`
    gives the train and val splits made by `prepare` already (a benchmark reuses them over
    seeds). Ctrl-C raises `TrainingInterrupted`; a NaN or inf loss `TrainingDiverged`.
    """
    ref = None
    if cfg.inputs == "codes":
        if tok is None:
            raise TsvqError("a forecaster on codes needs the tokenizer that makes them")
        ref = TokenizerRef(fingerprint(tok), source or "(in memory)")
    record = ForecastRecord(cfg, data_record(data), fcfg, ref, dict(args or {}), 0, 0.0, 0.0, {})
    splits = prepared or prepare(None, data, cfg.horizon, ("train", "val"))
    run = setup(record, tok, splits["train"].n_series)
    progress = resume(run, paths, record) if fcfg.resume else Progress()
    if progress.saved:
        log(f"Resuming from {paths.last} after epoch {progress.saved}")
    try:
        with contextlib.ExitStack() as hold:
            # every check that can refuse the run is done: take the folder (so a second run on
            # these files is refused now, not after minutes of encoding), then encode
            open_outputs(paths, fcfg, hold, log)
            if ref is not None and any(s.codes is None for s in splits.values()):
                t0 = time.perf_counter()
                splits = prepare(tok, data, cfg.horizon, ("train", "val"))  # frozen: once
                n = sum(s.n_series for s in splits.values())
                log(f"Encoded {n} contexts (train and val) in {time.perf_counter() - t0:.0f} s")
            for epoch in range(progress.next_epoch, fcfg.n_epochs + 1):
                if progress.stopped(fcfg.patience):
                    break
                t0, lr = time.perf_counter(), run.optimizer.param_groups[0]["lr"]
                train_loss = train_epoch(run, splits["train"], epoch)
                va = validate(run, splits["val"])
                if not all(math.isfinite(v) for v in (train_loss, va["loss"])):
                    raise TrainingDiverged(
                        epoch,
                        train_loss,
                        va["loss"],
                        paths.best,
                        paths.last,
                        progress.best_epoch,
                        progress.saved,
                        fcfg.lr,
                    )
                row = {"epoch": epoch, "train_loss": train_loss, "valid_loss": va["loss"]}
                row |= {"valid_mse": va["mse"], "valid_mae": va["mae"], "lr": lr}
                improved = progress.add(
                    row | {"seconds": round(time.perf_counter() - t0, 3)}, va["mse"]
                )
                log(
                    f"Epoch {epoch:3d}/{fcfg.n_epochs} | Train Loss: {train_loss:.6f} | Valid "
                    f"Loss: {va['loss']:.6f} (MSE: {va['mse']:.6f}, MAE: {va['mae']:.6f})"
                )
                if is_main():
                    save_epoch(run, paths, record, progress, train_loss, improved, log)
            if progress.stopped(fcfg.patience):
                log(f"Early stopping: no better validation MSE for {fcfg.patience} epochs")
    except KeyboardInterrupt:
        raise TrainingInterrupted(paths.last, progress.saved) from None
    h, b = progress.history, progress.best_epoch
    return FitResult(
        b, h[b - 1]["valid_mse"] if b else math.inf, h, progress.stopped(fcfg.patience)
    )


# ---- setup and resume -----------------------------------------------------------------------


def setup(record: ForecastRecord, tok: Tokenizer | None, n_train: int) -> Run:
    """Seed, build the forecaster on its device, AdamW, a one-cycle schedule per step, AMP."""
    fcfg, cfg = record.fit, record.model
    device = pick_device(fcfg.device)
    tick = None
    if device.type == "cpu":
        cpu.keep_freed_memory()
        tick = cpu.ThreadGovernor(fcfg.threads).tick
    torch.manual_seed(fcfg.seed)
    codebook = tok.codebook if tok is not None and cfg.inputs == "codes" else None
    core = Forecaster(cfg, codebook).to(device)
    optimizer = torch.optim.AdamW(
        core.parameters(),
        lr=fcfg.lr,
        weight_decay=fcfg.weight_decay,
        fused=device.type in ("cpu", "cuda"),  # one kernel, not ~10 small ops per tensor
    )
    limit = (
        fcfg.max_steps_per_epoch * fcfg.batch_size * world_size()
        if fcfg.max_steps_per_epoch
        else None
    )
    per_process = -(-min(n_train, limit or n_train) // world_size())
    steps = count_batches(per_process, fcfg.batch_size, fcfg.max_steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=fcfg.lr, total_steps=fcfg.n_epochs * steps, pct_start=0.2
    )
    dtype = amp_dtype(device, fcfg.amp)
    grad_scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    model = wrap_ddp(core) if is_distributed() else core
    return Run(core, model, optimizer, scheduler, grad_scaler, device, dtype, fcfg, tick, limit)


def resume(run: Run, paths: ForecastPaths, record: ForecastRecord) -> Progress:
    """Load the last state of a run made with the same settings into `run`."""
    if not paths.last.exists():
        raise TsvqError(
            f"--resume: no last-state checkpoint at {paths.last}; train without --resume"
        )
    last = load_record(paths.last)
    state = last.resume
    if state is None or len(state.history) != last.epoch + 1:
        raise TsvqError(f"--resume: {paths.last} is not a whole last-state checkpoint")
    then, now = last.data.to_dict(), record.data.to_dict()
    differ = [f"{k}={then[k]!r}, now {now[k]!r}" for k in RESUME_DATA if then[k] != now[k]]
    a, b = last.fit.to_dict(), record.fit.to_dict()
    differ += [f"{k}={a[k]!r}, now {b[k]!r}" for k in TRAJECTORY if a[k] != b[k]]
    a, b = last.model.to_dict(), record.model.to_dict()
    differ += [f"{k}={a[k]!r}, now {b[k]!r}" for k in a if a[k] != b[k]]
    fp = [r.tokenizer.fingerprint if r.tokenizer else None for r in (last, record)]
    if fp[0] != fp[1]:
        differ.append(f"the tokenizer of fingerprint {fp[0]}, now {fp[1]}")
    if differ:
        raise TsvqError(
            f"--resume: {paths.last} was trained with other settings: {'; '.join(differ)}; "
            "resume with the same flags, or train afresh without --resume"
        )
    run.core.load_state_dict(last.state)
    restore(run, state)
    return progress_of(state, last.epoch + 1)  # the file counts epochs from 0


# ---- outputs --------------------------------------------------------------------------------


def open_outputs(
    paths: ForecastPaths, fcfg: FitConfig, hold: contextlib.ExitStack, log: Callable[[str], None]
) -> None:
    """Take the run folder (process 0): the run lock, a killed run's temporaries removed, an
    earlier run's files set aside (a new run, not a resumed one)."""
    if not is_main():
        return
    take_folder(paths.all(), paths.directory, paths.name, fcfg.resume, hold, log)


def save_epoch(
    run: Run,
    paths: ForecastPaths,
    record: ForecastRecord,
    progress: Progress,
    train_loss: float,
    improved: bool,
    log: Callable[[str], None],
) -> None:
    """The best checkpoint when the epoch improved, the history, and the last state."""
    epoch = len(progress.history)
    val = progress.history[-1]["valid_loss"]
    now = replace(record, epoch=epoch - 1, train_loss=train_loss, val_loss=val)
    if improved:
        save_record(paths.best, now, run.core)
        log(f"  -> Best model saved (val_mse: {progress.history[-1]['valid_mse']:.6f})")
    write_text(paths.history, history_csv(progress.history))

    def write(state: ResumeState) -> None:
        save_record(paths.last, replace(now, resume=state), run.core)

    save_last(run, progress, write)


def history_csv(rows: list[dict[str, float]]) -> str:
    """`_history.csv`: one row per epoch, every float as its repr (it reads back exactly)."""
    lines = [",".join(HISTORY)]
    for row in rows:
        lines.append(
            ",".join(repr(row[k]) if isinstance(row[k], float) else str(row[k]) for k in HISTORY)
        )
    return "\n".join(lines) + "\n"
