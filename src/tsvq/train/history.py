"""The record of an epoch: the history's columns, its CSV, the specification's log line."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from tsvq.config import TrainConfig

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
