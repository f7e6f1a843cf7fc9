"""Where a run stands, and `--resume`: the last state of a run trained with the same settings.

The tokenizer's loop (`train.loop`) and the forecaster's (`forecast.fit`) keep their last state
the same way: `last_state` takes it, `save_last` writes it as one step with the record of it,
`restore` puts it back into a run."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import torch

from tsvq.errors import TsvqError
from tsvq.model.vqvae import ModelConfig
from tsvq.run import checkpoint
from tsvq.run.record import ResumeState, RunRecord
from tsvq.runtime.signals import deferred


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


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


def progress_of(state: ResumeState, epochs: int) -> Progress:
    """Where a run stood at its last state `state`, `epochs` epochs in."""
    return Progress(
        history=[dict(r) for r in state.history],
        best_score=float(state.best_val),
        best_epoch=int(state.best_epoch),
        since_best=int(state.since_best),
        saved=epochs,
    )


class Optimised(Protocol):
    """What a run's last state holds besides the weights (both loops' `Run` have it)."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    grad_scaler: torch.amp.GradScaler
    device: torch.device


def last_state(run: Optimised, progress: Progress) -> ResumeState:
    """The optimizer, schedule, gradient scaler, random state and progress of `run` now."""
    cuda = run.device.type == "cuda"
    return ResumeState(
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


def save_last(run: Optimised, progress: Progress, write: Callable[[ResumeState], None]) -> None:
    """Write the last state (`write` puts it in its file) and record that it is on disk, as one
    step: a signal between the two would leave a file the interrupted line denies."""
    state = last_state(run, progress)
    with deferred():
        write(state)
        progress.saved = len(progress.history)


def restore(run: Optimised, state: ResumeState) -> None:
    """Put a last state's optimizer, schedule, gradient scaler and random state into `run`
    (the weights are the caller's: each loop loads its own model)."""
    run.optimizer.load_state_dict(state.optimizer)
    run.scheduler.load_state_dict(state.scheduler)
    run.grad_scaler.load_state_dict(state.grad_scaler)
    torch.set_rng_state(state.rng_state)
    if run.device.type == "cuda" and state.cuda_rng_state is not None:
        torch.cuda.set_rng_state(state.cuda_rng_state, run.device)


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
    "init_fingerprint",  # a fine-tuned run continues from the same tokenizer's start
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


def load_last(path: Path, record: RunRecord) -> RunRecord:
    """The last state at `path`, refused unless it continues `record`'s run: the same model,
    data and trajectory settings (each difference named)."""
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
    if len(last.resume.history) != last.epoch + 1:
        raise TsvqError(
            f"--resume: {path} is damaged: its history holds {len(last.resume.history)} "
            f"epoch(s), its epoch field says {last.epoch + 1}"
        )
    return last


def _differences(saved: dict[str, Any], now: dict[str, Any], keys: Any) -> list[str]:
    return [
        f"{k}={saved[k]!r}, now {now.get(k)!r}"
        for k in keys
        if k in saved and saved[k] != now.get(k)
    ]
