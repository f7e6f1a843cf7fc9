"""TensorBoard logging (`tsvq train --log_dir DIR`): per-epoch scalars and code-usage histograms.

Optional: the `tensorboard` package (`pip install 'tsvq[tensorboard]'`). Without it, asking for
`--log_dir` is refused in one line before any work is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tsvq.errors import TsvqError

INSTALL = "pip install 'tsvq[tensorboard]'"


def require() -> None:
    """Refuse `--log_dir` up front when the tensorboard package is missing."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise TsvqError(
            f"--log_dir writes TensorBoard event files and needs the tensorboard package, which "
            f"is not installed: {INSTALL}"
        ) from None


class Board:
    """One run's event files: `{log_dir}/{run_name}/events.out.tfevents.*`; step = epoch."""

    def __init__(self, log_dir: str | Path, run_name: str) -> None:
        require()
        from torch.utils.tensorboard import SummaryWriter

        self.path = Path(log_dir) / run_name
        self.writer = SummaryWriter(log_dir=str(self.path))

    def epoch(self, row: dict[str, Any], counts: dict[str, torch.Tensor | None]) -> None:
        """Scalars of one history row (`train_loss` -> `loss/train`) and, for each split, the
        histogram of how often each code was used (code index weighted by its count)."""
        step = int(row["epoch"])
        for key, value in row.items():
            if key == "epoch":
                continue
            split, _, name = key.partition("_")
            tag = f"{name}/{split}" if split in ("train", "valid") else f"train/{key}"
            self.writer.add_scalar(tag, float(value), step)
        for split, c in counts.items():
            if c is None or float(c.sum()) <= 0:
                continue
            k = c.numel()
            self.writer.add_histogram_raw(
                f"code_usage/{split}",
                min=0,
                max=k - 1,
                num=int(c.sum()),
                sum=float((torch.arange(k, dtype=torch.float64) * c).sum()),
                sum_squares=float((torch.arange(k, dtype=torch.float64) ** 2 * c).sum()),
                bucket_limits=[i + 0.5 for i in range(k)],
                bucket_counts=c.tolist(),
                global_step=step,
            )
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
